#include <fftw3.h>

#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

#include "fft/fft.hpp"

namespace annamosaic {
namespace {
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}
// fftwf_malloc'ed buffer (16-byte aligned for FFTW's SIMD paths), freed on scope exit.
template <class T>
struct FftwBuffer {
  T* p;
  explicit FftwBuffer(std::size_t n) : p(static_cast<T*>(fftwf_malloc(sizeof(T) * (n ? n : 1)))) {
    if (!p) throw std::bad_alloc();
  }
  ~FftwBuffer() { fftwf_free(p); }
};
}  // namespace

struct Fft2d::Impl {
  fftwf_plan fwd = nullptr, inv = nullptr;
};

Fft2d::Fft2d(std::size_t width, std::size_t height) : width_(width), height_(height), impl_(new Impl) {
  if (width == 0 || height == 0) throw std::invalid_argument("Fft2d: empty size");
  FftwBuffer<float> r(width * height);
  FftwBuffer<fftwf_complex> c(spectrum_size());
  std::lock_guard<std::mutex> lock(planner_mutex());
  // ESTIMATE: planning cost is negligible and plans are deterministic (same result every run).
  impl_->fwd = fftwf_plan_dft_r2c_2d(static_cast<int>(height), static_cast<int>(width), r.p, c.p, FFTW_ESTIMATE);
  impl_->inv = fftwf_plan_dft_c2r_2d(static_cast<int>(height), static_cast<int>(width), c.p, r.p, FFTW_ESTIMATE);
  if (!impl_->fwd || !impl_->inv) throw std::runtime_error("Fft2d: FFTW could not create a plan");
}

Fft2d::~Fft2d() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  if (impl_->fwd) fftwf_destroy_plan(impl_->fwd);
  if (impl_->inv) fftwf_destroy_plan(impl_->inv);
}

void Fft2d::forward(ImageView<const float> in, Complexf* out) const {
  if (in.width() != width_ || in.height() != height_) throw std::invalid_argument("Fft2d::forward: size mismatch");
  // New-array execution is thread-safe; copy into aligned scratch so any view works.
  FftwBuffer<float> r(width_ * height_);
  FftwBuffer<fftwf_complex> c(spectrum_size());
  for (std::size_t y = 0; y < height_; ++y) std::memcpy(r.p + y * width_, in.row(y), width_ * sizeof(float));
  fftwf_execute_dft_r2c(impl_->fwd, r.p, c.p);
  std::memcpy(static_cast<void*>(out), c.p, spectrum_size() * sizeof(fftwf_complex));
}

void Fft2d::inverse(const Complexf* in, ImageView<float> out) const {
  if (out.width() != width_ || out.height() != height_) throw std::invalid_argument("Fft2d::inverse: size mismatch");
  FftwBuffer<float> r(width_ * height_);
  FftwBuffer<fftwf_complex> c(spectrum_size());  // c2r destroys its input: work on a copy
  std::memcpy(c.p, static_cast<const void*>(in), spectrum_size() * sizeof(fftwf_complex));
  fftwf_execute_dft_c2r(impl_->inv, c.p, r.p);
  const float scale = 1.0f / static_cast<float>(width_ * height_);
  for (std::size_t y = 0; y < height_; ++y) {
    float* o = out.row(y);
    const float* s = r.p + y * width_;
    for (std::size_t x = 0; x < width_; ++x) o[x] = s[x] * scale;
  }
}

const char* fft_backend_name() { return "fftw"; }

}  // namespace annamosaic
