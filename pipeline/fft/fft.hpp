#pragma once
// The one FFT interface of annamosaic: 2D real-to-complex transforms of a fixed size.
// Backend chosen at configure time (ANNAMOSAIC_FFT_BACKEND): FFTW single precision (GPL-2+,
// fastest here) or LibTorch's pocketfft (BSD, for a permissive binary). Plans are created once
// per object (under a global lock: FFTW's planner is not thread-safe); forward()/inverse() may
// then be called concurrently from many threads on the same object.
#include <complex>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

using Complexf = std::complex<float>;

class Fft2d {
 public:
  Fft2d(std::size_t width, std::size_t height);
  ~Fft2d();
  Fft2d(const Fft2d&) = delete;
  Fft2d& operator=(const Fft2d&) = delete;

  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  // Half spectrum: height rows of width/2+1 complex values.
  std::size_t spectrum_width() const { return width_ / 2 + 1; }
  std::size_t spectrum_size() const { return spectrum_width() * height_; }

  // Unnormalised forward transform of `in` (width x height) into `out` (spectrum_size()).
  void forward(ImageView<const float> in, Complexf* out) const;
  // Inverse transform, normalised by 1/(width*height), so inverse(forward(x)) == x.
  void inverse(const Complexf* in, ImageView<float> out) const;

 private:
  struct Impl;
  std::size_t width_, height_;
  std::unique_ptr<Impl> impl_;
};

const char* fft_backend_name();

}  // namespace annamosaic
