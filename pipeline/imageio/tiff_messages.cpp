#include "imageio/tiff_messages.hpp"

#include <cstdarg>
#include <cstdio>
#include <memory>

#include "core/input_file.hpp"

namespace annamosaic {
namespace {

// Bounded so a badly corrupt file with thousands of warnings cannot grow the message unboundedly.
constexpr std::size_t kMaxMessageChars = 2000;

void append_message(std::string& out, const char* module, const char* fmt, va_list ap) noexcept {
  try {
    if (out.size() >= kMaxMessageChars) return;
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    if (!out.empty()) out += "; ";
    if (module && *module) out.append(module).append(": ");
    out += buf;
  } catch (...) {
    // Never let an exception cross the C library.
  }
}

int on_tiff_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* messages = static_cast<TiffMessages*>(user);
  ++messages->error_count;
  append_message(messages->errors, module, fmt, ap);
  return 1;  // handled: keep libtiff from also calling the global (stderr) handler
}

int on_tiff_warning(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  append_message(static_cast<TiffMessages*>(user)->warnings, module, fmt, ap);
  return 1;
}

}  // namespace

TIFF* open_tiff_collecting(const std::string& path, const char* mode, TiffMessages& messages) {
  if (mode[0] == 'r') require_regular_file(path, "TIFF");
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> opts(TIFFOpenOptionsAlloc(), &TIFFOpenOptionsFree);
  if (!opts) {
    messages.errors = "cannot allocate TIFFOpenOptions";
    return nullptr;
  }
  TIFFOpenOptionsSetErrorHandlerExtR(opts.get(), &on_tiff_error, &messages);
  TIFFOpenOptionsSetWarningHandlerExtR(opts.get(), &on_tiff_warning, &messages);
  return TIFFOpenExt(path.c_str(), mode, opts.get());
}

}  // namespace annamosaic
