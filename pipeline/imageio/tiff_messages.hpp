#pragma once
// libtiff handles whose errors and warnings go to a per-handle sink (TIFFOpenExt handlers, no
// global hooks): concurrent readers and writers never mix or print their messages. Used by the
// TIFF reader/writer here and by the mosaic writers (BigTIFF sink, OME-TIFF export).
//
//   TiffMessages msg;                                    // must outlive the handle
//   TIFF* t = open_tiff_collecting(path, "w8", msg);     // nullptr: see msg.errors
#include <tiffio.h>

#include <cstddef>
#include <string>

namespace annamosaic {

struct TiffMessages {
  std::string errors, warnings;  // "module: text; module: text", each capped at 2,000 characters
  std::size_t error_count = 0;   // keeps counting after the text is capped
};

// TIFFOpenExt with handlers that append to `messages`. nullptr when libtiff cannot open the file
// (or the options cannot be allocated); messages.errors then says why when libtiff said.
TIFF* open_tiff_collecting(const std::string& path, const char* mode, TiffMessages& messages);

}  // namespace annamosaic
