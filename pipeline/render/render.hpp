#pragma once
// Rendering a localization table into a super-resolution image: a 2D histogram of counts.
// Pixel (ix, iy) covers x in [x0 + ix*pixel_nm, x0 + (ix+1)*pixel_nm), likewise y; row y of the
// image is y. Localizations outside the field or the frame window are counted, never wrapped or
// clamped. Counts are integers, so the result is identical for any thread count.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/image.hpp"
#include "loc/frame_window.hpp"
#include "loc/loc_table.hpp"

namespace annamosaic {

// A rectangle in nm; its size in pixels is ceil(size_nm / pixel_nm).
struct Field {
  double x0_nm = 0, y0_nm = 0, width_nm = 0, height_nm = 0;
};

// An image's place in the table's coordinates, as written into its TIFF description:
// "field-nm = X0,Y0,WIDTH,HEIGHT (...)" (exact: --field-nm with it renders the same grid), with
// a note when WIDTH or HEIGHT is not a whole number of pixels (the last column or row is then
// partly outside the field). field_in_description reads it back from such a description.
std::string field_description(const Field& f, double pixel_nm);
std::optional<Field> field_in_description(const std::string& description);

// The bounding box of the table's localizations, origin snapped down to the pixel grid.
Field bounding_field(const TableStats& stats, double pixel_nm);
std::size_t field_width_px(const Field& f, double pixel_nm);
std::size_t field_height_px(const Field& f, double pixel_nm);

// A widefield's camera field (its origin is the table's) that leaves more than half of the
// table's localizations outside: not this table's widefield, or another camera pixel size. The
// reason, naming both files, or "" when it fits. (Fewer outside, as for a cut-out with margins,
// callers say how many the field drops: localizations_outside.)
std::size_t localizations_outside(const LocTable& table, const Field& field);
std::string widefield_field_mismatch(const LocTable& table, const Field& camera_field, double camera_pixel_nm,
                                     const std::string& table_name);

struct RenderOptions {
  double pixel_nm = 20.0;
  FrameWindow window;        // default: all frames
  std::size_t threads = 0;   // 0: the calling TBB arena
};

struct RenderStats {
  std::uint64_t in_image = 0;       // binned
  std::uint64_t outside_field = 0;  // in the frame window but outside the field (or NaN)
  std::uint64_t outside_window = 0; // frame not in the window
};

// Counts per pixel (uint32: a pixel never overflows at realistic densities; saturates otherwise).
ImageU32 render_counts(const LocTable& table, const Field& field, const RenderOptions& opt,
                       RenderStats* stats = nullptr);
// The same as float32.
ImageF render(const LocTable& table, const Field& field, const RenderOptions& opt, RenderStats* stats = nullptr);

// uint16 with saturation; returns the number of pixels that saturated.
std::size_t counts_to_u16(const ImageU32& counts, ImageU16& out);

}  // namespace annamosaic
