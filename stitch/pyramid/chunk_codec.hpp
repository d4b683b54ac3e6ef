#pragma once
// Pure chunk/tile codecs producing exactly the bytes that HDF5's and libtiff's own filters
// would store, so that chunks compressed on any thread or rank can be written raw
// (H5Dwrite_chunk, TIFFWriteRawTile) and are decoded by every standard reader.
//
// IMS chunk (HDF5 filter pipeline "shuffle, then deflate", dataset type H5T_STD_U16LE):
//   1. the chunk is always full size (chunk_height x chunk_width); pixels outside `src` are 0;
//   2. shuffle (H5Z_FILTER_SHUFFLE, element size 2): the low bytes of all elements, then the
//      high bytes (HDF5 shuffles the file-order, i.e. little-endian, bytes);
//   3. deflate (H5Z_FILTER_DEFLATE): one zlib stream (RFC 1950 header + adler32), as compress2().
//   The dataset creation property list must declare H5Pset_shuffle then H5Pset_deflate, and the
//   chunk is written with filter mask 0 (both filters applied).
//
// TIFF tile (Compression = 8 "Adobe deflate", Predictor = 2 "horizontal differencing", uint16,
// little-endian file): each tile row is replaced by its differences (modulo 2^16, the first
// sample kept), then zlib-compressed. Tiles are always full size, padded with 0.
//
// Deflate encoder: the output is a standard zlib stream whichever encoder wrote it (every inflate
// decodes it). libdeflate (the default) compresses whole buffers. Measured 2026-12-03 at level 1
// (stitch/pyramid/README.md): real mosaic uint16 chunks 1.1-2.5x zlib Z_RLE's speed at -56% to
// +1% of its size; FoV float32 chunks 1.6-2.4x zlib's default strategy (the earlier setting)
// except the near-empty sparse image (0.65x), 0.9-1.1x Z_RLE's there; on the synthetic
// benchmark mosaic Z_RLE is faster (6.1 vs 7.2 s). Decoding uses libdeflate (1.8-10x zlib's
// inflate speed on the same chunks).
//
// Thread-safe: each thread keeps its own (de)compressor state and scratch buffers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

enum class DeflateEncoder { Libdeflate, ZlibRle, Zlib };

// "libdeflate", "zlib-rle", "zlib" (names used by options and file metadata); parse throws
// std::invalid_argument naming the accepted values.
const char* deflate_encoder_name(DeflateEncoder e);
DeflateEncoder parse_deflate_encoder(const std::string& name);

// `src` must fit the chunk (std::invalid_argument otherwise); deflate_level in 1..9.
std::vector<std::uint8_t> encode_ims_chunk(ImageView<const std::uint16_t> src, std::size_t chunk_width,
                                           std::size_t chunk_height, int deflate_level,
                                           DeflateEncoder encoder = DeflateEncoder::Libdeflate);
// Inverse of encode_ims_chunk (tests, diagnostics): std::runtime_error on corrupt data.
ImageU16 decode_ims_chunk(const std::uint8_t* data, std::size_t size, std::size_t chunk_width,
                          std::size_t chunk_height);

// float32 chunk (dataset type H5T_IEEE_F32LE, "shuffle, then deflate"): the same rules with
// element size 4 (byte 0 of every element, then byte 1, 2, 3); pixels outside `src` are 0. Used
// for the per-FoV result files, whose chunks are compressed on all cores outside the HDF5 lock.
std::vector<std::uint8_t> encode_f32_chunk(ImageView<const float> src, std::size_t chunk_width, std::size_t chunk_height,
                                           int deflate_level, DeflateEncoder encoder = DeflateEncoder::Libdeflate);
ImageF decode_f32_chunk(const std::uint8_t* data, std::size_t size, std::size_t chunk_width, std::size_t chunk_height);
// The same, writing only the chunk's top-left dst.width() x dst.height() pixels into `dst` (an
// edge chunk's padding is skipped): no per-chunk image is allocated.
void decode_f32_chunk_into(const std::uint8_t* data, std::size_t size, std::size_t chunk_width, std::size_t chunk_height,
                           ImageView<float> dst);

std::vector<std::uint8_t> encode_tiff_tile(ImageView<const std::uint16_t> src, std::size_t tile_size,
                                           int deflate_level, DeflateEncoder encoder = DeflateEncoder::Libdeflate);
ImageU16 decode_tiff_tile(const std::uint8_t* data, std::size_t size, std::size_t tile_size);

}  // namespace annamosaic
