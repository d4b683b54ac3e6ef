// Permissive FFT backend: LibTorch's pocketfft. Kept to the API common to LibTorch 1.13 and 2.x.
#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "fft/fft.hpp"

namespace annamosaic {

struct Fft2d::Impl {};

Fft2d::Fft2d(std::size_t width, std::size_t height) : width_(width), height_(height), impl_(new Impl) {
  if (width == 0 || height == 0) throw std::invalid_argument("Fft2d: empty size");
}
Fft2d::~Fft2d() = default;

void Fft2d::forward(ImageView<const float> in, Complexf* out) const {
  if (in.width() != width_ || in.height() != height_) throw std::invalid_argument("Fft2d::forward: size mismatch");
  torch::NoGradGuard no_grad;
  auto t = torch::from_blob(const_cast<float*>(in.data()), {(long)height_, (long)width_}, {(long)in.stride(), 1},
                            torch::kFloat32);
  auto s = torch::fft::rfft2(t).contiguous();
  std::memcpy(static_cast<void*>(out), s.data_ptr(), spectrum_size() * sizeof(Complexf));
}

void Fft2d::inverse(const Complexf* in, ImageView<float> out) const {
  if (out.width() != width_ || out.height() != height_) throw std::invalid_argument("Fft2d::inverse: size mismatch");
  torch::NoGradGuard no_grad;
  auto s = torch::from_blob(const_cast<Complexf*>(in), {(long)height_, (long)spectrum_width()}, torch::kComplexFloat);
  auto r = torch::fft::irfft2(s, c10::IntArrayRef{(long)height_, (long)width_}).contiguous();
  const float* p = r.data_ptr<float>();
  for (std::size_t y = 0; y < height_; ++y) std::memcpy(out.row(y), p + y * width_, width_ * sizeof(float));
}

const char* fft_backend_name() { return "torch"; }

}  // namespace annamosaic
