// Writes TIFFs with known content for check_tiff_tifffile.py, an independent reader (tifffile):
//   float32.tif  48 x 32 float32, value(x, y) = x + 100 y + 0.25 - 1000 (x == 3 && y == 5),
//                deflate without predictor (the default), pixel 20 nm
//   float32_pred3.tif  the same image with the opt-in floating-point predictor (3) (tifffile
//                decodes it only with the imagecodecs package, which Debian 12 does not ship)
//   uint16.tif   48 x 32 uint16,  value(x, y) = (x * 1237 + y * 4099) % 65536,
//                deflate + horizontal predictor, pixel 20 nm
//   stack.tif    3 pages of 16 x 8 float32, page p = p + x, uncompressed BigTIFF, pixel 20 nm
// Usage: tiff_write_fixture OUTPUT_FOLDER
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>

#include "core/image.hpp"
#include "imageio/tiff_io.hpp"

using namespace annamosaic;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tiff_write_fixture OUTPUT_FOLDER\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    TiffWriteOptions opt;
    opt.pixel_nm = 20;

    ImageF f(48, 32);
    ImageU16 u(48, 32);
    for (std::size_t y = 0; y < 32; ++y)
      for (std::size_t x = 0; x < 48; ++x) {
        f(x, y) = float(x) + 100.f * float(y) + 0.25f - (x == 3 && y == 5 ? 1000.f : 0.f);
        u(x, y) = static_cast<std::uint16_t>((x * 1237 + y * 4099) % 65536);
      }
    write_tiff((dir / "float32.tif").string(), f.view(), opt);
    TiffWriteOptions pred3 = opt;
    pred3.float_predictor = true;
    write_tiff((dir / "float32_pred3.tif").string(), f.view(), pred3);
    TiffWriteOptions u16 = opt;
    u16.pixel = TiffPixel::UInt16;
    write_tiff((dir / "uint16.tif").string(), u.view(), u16);

    ImageF pages[3] = {ImageF(16, 8), ImageF(16, 8), ImageF(16, 8)};
    for (std::size_t p = 0; p < 3; ++p)
      for (std::size_t y = 0; y < 8; ++y)
        for (std::size_t x = 0; x < 16; ++x) pages[p](x, y) = float(p + x);
    TiffWriteOptions stack = opt;
    stack.deflate = false;
    stack.bigtiff = true;
    write_tiff_stack((dir / "stack.tif").string(), {pages[0].view(), pages[1].view(), pages[2].view()},
                     stack);
  } catch (const std::exception& e) {
    std::cerr << "tiff_write_fixture: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
