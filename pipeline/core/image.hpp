#pragma once
// The one image type of annamosaic: owning, row-major (y, x), 64-byte aligned rows start at
// data(); pixels are contiguous (stride == width) in an owning Image, while an ImageView may
// carry a larger stride (a region of a bigger image). Coordinates are (x, y) in pixels,
// x along a row. Copying an Image is explicit (clone()), moving is cheap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace annamosaic {

template <class T>
class ImageView {
 public:
  ImageView() = default;
  ImageView(T* data, std::size_t width, std::size_t height, std::size_t stride)
      : data_(data), width_(width), height_(height), stride_(stride) {}

  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  std::size_t stride() const { return stride_; }  // elements between row starts
  bool empty() const { return width_ == 0 || height_ == 0; }
  T* data() const { return data_; }
  T* row(std::size_t y) const { return data_ + y * stride_; }
  T& operator()(std::size_t x, std::size_t y) const { return data_[y * stride_ + x]; }

  // A sub-region [x0, x0+w) x [y0, y0+h); throws if it does not fit.
  ImageView region(std::size_t x0, std::size_t y0, std::size_t w, std::size_t h) const {
    if (x0 + w > width_ || y0 + h > height_)
      throw std::out_of_range("ImageView::region outside the image");
    return ImageView(data_ + y0 * stride_ + x0, w, h, stride_);
  }
  operator ImageView<const T>() const { return ImageView<const T>(data_, width_, height_, stride_); }

 private:
  T* data_ = nullptr;
  std::size_t width_ = 0, height_ = 0, stride_ = 0;
};

template <class T>
class Image {
 public:
  static constexpr std::size_t kAlignment = 64;

  Image() = default;
  // Zero-initialised width x height image.
  Image(std::size_t width, std::size_t height) : width_(width), height_(height) {
    if (width != 0 && height > SIZE_MAX / sizeof(T) / width)
      throw std::length_error("Image size overflows");
    const std::size_t bytes = width * height * sizeof(T);
    if (bytes) {
      const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
      void* p = std::aligned_alloc(kAlignment, rounded);
      if (!p) throw std::bad_alloc();
      std::fill_n(static_cast<T*>(p), width * height, T{});
      data_.reset(static_cast<T*>(p));
    }
  }

  Image(Image&&) noexcept = default;
  Image& operator=(Image&&) noexcept = default;
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  Image clone() const {
    Image out(width_, height_);
    std::copy_n(data(), size(), out.data());
    return out;
  }

  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  std::size_t size() const { return width_ * height_; }
  bool empty() const { return size() == 0; }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T* row(std::size_t y) { return data() + y * width_; }
  const T* row(std::size_t y) const { return data() + y * width_; }
  T& operator()(std::size_t x, std::size_t y) { return data_.get()[y * width_ + x]; }
  const T& operator()(std::size_t x, std::size_t y) const { return data_.get()[y * width_ + x]; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  ImageView<T> view() { return ImageView<T>(data(), width_, height_, width_); }
  ImageView<const T> view() const { return ImageView<const T>(data(), width_, height_, width_); }

 private:
  struct FreeDeleter {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, FreeDeleter> data_;
  std::size_t width_ = 0, height_ = 0;
};

using ImageF = Image<float>;
using ImageU16 = Image<std::uint16_t>;
using ImageU32 = Image<std::uint32_t>;

// Copies a view into a new owning image (dense rows).
template <class T>
Image<std::remove_const_t<T>> to_image(ImageView<T> v) {
  Image<std::remove_const_t<T>> out(v.width(), v.height());
  for (std::size_t y = 0; y < v.height(); ++y) std::copy_n(v.row(y), v.width(), out.row(y));
  return out;
}

}  // namespace annamosaic
