#include "pyramid/chunk_codec.hpp"

#include <libdeflate.h>
#include <zlib.h>

#include <cstring>
#include <stdexcept>
#include <string>

// Memory byte order is taken as the files' (little-endian) byte order throughout.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "chunk codecs assume a little-endian host");

namespace annamosaic {
namespace {

void check_level(int level) {
  if (level < 1 || level > 9) throw std::invalid_argument("deflate level must be 1..9, not " + std::to_string(level));
}

// zlib: one deflate state per thread, reset per chunk (deflateInit allocates ~270 KB, which would
// otherwise be paid for every chunk).
class ZlibDeflater {
 public:
  ~ZlibDeflater() {
    if (level_ >= 0) deflateEnd(&z_);
  }
  std::vector<std::uint8_t> compress(const std::uint8_t* in, std::size_t n, int level, int zs) {
    if (level != level_ || zs != strategy_) {
      if (level_ >= 0) deflateEnd(&z_);
      level_ = -1;
      std::memset(&z_, 0, sizeof z_);
      // zlib wrapper (windowBits 15), as HDF5's deflate filter and TIFF's Adobe deflate expect.
      if (deflateInit2(&z_, level, Z_DEFLATED, 15, 8, zs) != Z_OK) throw std::runtime_error("zlib deflateInit failed");
      level_ = level;
      strategy_ = zs;
    } else if (deflateReset(&z_) != Z_OK) {
      throw std::runtime_error("zlib deflateReset failed");
    }
    out_.resize(deflateBound(&z_, static_cast<uLong>(n)));
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = static_cast<uInt>(n);
    z_.next_out = out_.data();
    z_.avail_out = static_cast<uInt>(out_.size());
    // deflateBound guarantees one Z_FINISH call completes.
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) throw std::runtime_error(std::string("zlib deflate failed: ") + (z_.msg ? z_.msg : "?"));
    return std::vector<std::uint8_t>(out_.data(), out_.data() + z_.total_out);
  }

 private:
  z_stream z_{};
  int level_ = -1, strategy_ = Z_DEFAULT_STRATEGY;
  std::vector<std::uint8_t> out_;
};

// libdeflate: one compressor per level per thread (allocation is ~1 MB at low levels).
class Libdeflater {
 public:
  ~Libdeflater() {
    for (auto* c : by_level_)
      if (c) libdeflate_free_compressor(c);
  }
  std::vector<std::uint8_t> compress(const std::uint8_t* in, std::size_t n, int level) {
    libdeflate_compressor*& c = by_level_[level];
    if (!c) c = libdeflate_alloc_compressor(level);
    if (!c) throw std::runtime_error("libdeflate: cannot allocate a level-" + std::to_string(level) + " compressor");
    out_.resize(libdeflate_zlib_compress_bound(c, n));
    const std::size_t got = libdeflate_zlib_compress(c, in, n, out_.data(), out_.size());
    if (got == 0) throw std::runtime_error("libdeflate: compression failed");  // cannot happen with the bound
    return std::vector<std::uint8_t>(out_.data(), out_.data() + got);
  }

 private:
  libdeflate_compressor* by_level_[10] = {};
  std::vector<std::uint8_t> out_;
};

std::vector<std::uint8_t> compress(const std::uint8_t* in, std::size_t n, int level, DeflateEncoder encoder) {
  check_level(level);
  switch (encoder) {
    case DeflateEncoder::Libdeflate: {
      thread_local Libdeflater d;
      return d.compress(in, n, level);
    }
    case DeflateEncoder::ZlibRle:
    case DeflateEncoder::Zlib: {
      thread_local ZlibDeflater d;
      return d.compress(in, n, level, encoder == DeflateEncoder::ZlibRle ? Z_RLE : Z_DEFAULT_STRATEGY);
    }
  }
  throw std::invalid_argument("unknown deflate encoder");
}

std::vector<std::uint8_t>& thread_scratch() {
  thread_local std::vector<std::uint8_t> s;
  return s;
}

// Inflates a zlib stream that must decode to exactly n bytes (std::runtime_error otherwise).
void inflate_exact(const std::uint8_t* data, std::size_t size, std::uint8_t* out, std::size_t n) {
  struct Decompressor {
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    ~Decompressor() {
      if (d) libdeflate_free_decompressor(d);
    }
  };
  thread_local Decompressor dec;
  if (!dec.d) throw std::runtime_error("libdeflate: cannot allocate a decompressor");
  std::size_t got = 0;
  switch (libdeflate_zlib_decompress(dec.d, data, size, out, n, &got)) {
    case LIBDEFLATE_SUCCESS:
      if (got != n) throw std::runtime_error("inflated " + std::to_string(got) + " bytes, expected " + std::to_string(n));
      return;
    case LIBDEFLATE_INSUFFICIENT_SPACE:
      throw std::runtime_error("inflated more than the expected " + std::to_string(n) + " bytes");
    default:
      throw std::runtime_error("corrupt deflate stream (" + std::to_string(size) + " bytes)");
  }
}

}  // namespace

const char* deflate_encoder_name(DeflateEncoder e) {
  switch (e) {
    case DeflateEncoder::Libdeflate: return "libdeflate";
    case DeflateEncoder::ZlibRle: return "zlib-rle";
    case DeflateEncoder::Zlib: return "zlib";
  }
  return "?";
}

DeflateEncoder parse_deflate_encoder(const std::string& name) {
  for (DeflateEncoder e : {DeflateEncoder::Libdeflate, DeflateEncoder::ZlibRle, DeflateEncoder::Zlib})
    if (name == deflate_encoder_name(e)) return e;
  throw std::invalid_argument("deflate encoder must be libdeflate, zlib-rle or zlib, not '" + name + "'");
}

namespace {
template <class T>
void check_fits(ImageView<const T> src, std::size_t w, std::size_t h, const char* what) {
  if (src.width() > w || src.height() > h)
    throw std::invalid_argument(std::string(what) + ": region " + std::to_string(src.width()) + " x " +
                                std::to_string(src.height()) + " larger than " + std::to_string(w) + " x " +
                                std::to_string(h));
}

}  // namespace

std::vector<std::uint8_t> encode_ims_chunk(ImageView<const std::uint16_t> src, std::size_t cw, std::size_t ch,
                                           int level, DeflateEncoder encoder) {
  check_fits(src, cw, ch, "encode_ims_chunk");
  const std::size_t n = cw * ch;
  auto& buf = thread_scratch();
  buf.resize(2 * n);
  std::uint8_t* lo = buf.data();
  std::uint8_t* hi = buf.data() + n;
  // Copy, pad and shuffle in one pass over the source.
  for (std::size_t y = 0; y < ch; ++y) {
    std::uint8_t* l = lo + y * cw;
    std::uint8_t* h = hi + y * cw;
    std::size_t x = 0;
    if (y < src.height()) {
      const std::uint16_t* p = src.row(y);
      for (; x < src.width(); ++x) {
        l[x] = static_cast<std::uint8_t>(p[x] & 0xFF);
        h[x] = static_cast<std::uint8_t>(p[x] >> 8);
      }
    }
    std::memset(l + x, 0, cw - x);
    std::memset(h + x, 0, cw - x);
  }
  return compress(buf.data(), buf.size(), level, encoder);
}

std::vector<std::uint8_t> encode_f32_chunk(ImageView<const float> src, std::size_t cw, std::size_t ch, int level,
                                           DeflateEncoder encoder) {
  static_assert(sizeof(float) == 4, "IEEE single precision expected");
  check_fits(src, cw, ch, "encode_f32_chunk");
  const std::size_t n = cw * ch;
  auto& buf = thread_scratch();
  buf.assign(4 * n, 0);  // padding pixels are 0.0f (all bytes zero)
  // Shuffle (little-endian host = file byte order): plane b holds byte b of every element.
  // One plane at a time over 32-bit words, so the loops vectorise.
  for (std::size_t y = 0; y < src.height(); ++y) {
    const float* p = src.row(y);
    const std::size_t base = y * cw, w = src.width();
    for (unsigned b = 0; b < 4; ++b) {
      std::uint8_t* plane = buf.data() + b * n + base;
      for (std::size_t x = 0; x < w; ++x) {
        std::uint32_t u;
        std::memcpy(&u, p + x, 4);
        plane[x] = static_cast<std::uint8_t>(u >> (8 * b));
      }
    }
  }
  return compress(buf.data(), buf.size(), level, encoder);
}

void decode_f32_chunk_into(const std::uint8_t* data, std::size_t size, std::size_t cw, std::size_t ch,
                           ImageView<float> dst) {
  if (dst.width() > cw || dst.height() > ch)
    throw std::invalid_argument("decode_f32_chunk_into: destination larger than the chunk");
  const std::size_t n = cw * ch;
  auto& raw = thread_scratch();
  raw.resize(4 * n);
  inflate_exact(data, size, raw.data(), raw.size());
  const std::uint8_t *b0 = raw.data(), *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
  for (std::size_t y = 0; y < dst.height(); ++y) {
    float* o = dst.row(y);
    const std::size_t base = y * cw;
    for (std::size_t x = 0; x < dst.width(); ++x) {
      const std::uint32_t u = static_cast<std::uint32_t>(b0[base + x]) | static_cast<std::uint32_t>(b1[base + x]) << 8 |
                              static_cast<std::uint32_t>(b2[base + x]) << 16 | static_cast<std::uint32_t>(b3[base + x]) << 24;
      std::memcpy(o + x, &u, 4);
    }
  }
}

ImageF decode_f32_chunk(const std::uint8_t* data, std::size_t size, std::size_t cw, std::size_t ch) {
  ImageF out(cw, ch);
  decode_f32_chunk_into(data, size, cw, ch, out.view());
  return out;
}

ImageU16 decode_ims_chunk(const std::uint8_t* data, std::size_t size, std::size_t cw, std::size_t ch) {
  const std::size_t n = cw * ch;
  std::vector<std::uint8_t> raw(2 * n);
  inflate_exact(data, size, raw.data(), raw.size());
  ImageU16 out(cw, ch);
  std::uint16_t* o = out.data();
  for (std::size_t i = 0; i < n; ++i) o[i] = static_cast<std::uint16_t>(raw[i] | (raw[n + i] << 8));
  return out;
}

std::vector<std::uint8_t> encode_tiff_tile(ImageView<const std::uint16_t> src, std::size_t tile, int level,
                                           DeflateEncoder encoder) {
  check_fits(src, tile, tile, "encode_tiff_tile");
  auto& buf = thread_scratch();
  buf.resize(2 * tile * tile);
  for (std::size_t y = 0; y < tile; ++y) {
    std::uint8_t* row = buf.data() + 2 * y * tile;
    std::uint16_t prev = 0;
    std::size_t x = 0;
    if (y < src.height()) {
      const std::uint16_t* p = src.row(y);
      for (; x < src.width(); ++x) {
        const std::uint16_t d = static_cast<std::uint16_t>(p[x] - prev);  // predictor 2, modulo 2^16
        prev = p[x];
        row[2 * x] = static_cast<std::uint8_t>(d & 0xFF);  // little-endian file order
        row[2 * x + 1] = static_cast<std::uint8_t>(d >> 8);
      }
    }
    if (x < tile) {
      // Padding is 0, so its first difference is -prev and the rest are 0.
      const std::uint16_t d = static_cast<std::uint16_t>(0 - prev);
      row[2 * x] = static_cast<std::uint8_t>(d & 0xFF);
      row[2 * x + 1] = static_cast<std::uint8_t>(d >> 8);
      std::memset(row + 2 * (x + 1), 0, 2 * (tile - x - 1));
    }
  }
  return compress(buf.data(), buf.size(), level, encoder);
}

ImageU16 decode_tiff_tile(const std::uint8_t* data, std::size_t size, std::size_t tile) {
  std::vector<std::uint8_t> raw(2 * tile * tile);
  inflate_exact(data, size, raw.data(), raw.size());
  ImageU16 out(tile, tile);
  for (std::size_t y = 0; y < tile; ++y) {
    std::uint16_t acc = 0;
    for (std::size_t x = 0; x < tile; ++x) {
      const std::size_t i = 2 * (y * tile + x);
      acc = static_cast<std::uint16_t>(acc + (raw[i] | (raw[i + 1] << 8)));
      out(x, y) = acc;
    }
  }
  return out;
}

}  // namespace annamosaic
