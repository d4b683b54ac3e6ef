#include "batch/qc_links.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace annamosaic {
namespace {

using Colour = std::array<std::uint8_t, 3>;

struct TileBox {
  double x = 0, y = 0, w = 0, h = 0;  // layout pixels
  int id = 0, component = -1;
  bool by_stage = false;
};

enum LinkKind { kUsed, kUsedFar, kDropped, kRejected, kNoMatch, kNotTried, kKinds };

LinkKind kind_of(const nlohmann::json& e, double large_residual_px) {
  const bool used = e.value("used", false), accepted = e.value("accepted", false), valid = e.value("valid", false);
  const double residual = e.contains("residual_px") && e["residual_px"].is_number() ? e["residual_px"].get<double>() : 0;
  if (used) return residual > large_residual_px ? kUsedFar : kUsed;
  if (accepted) return kDropped;
  if (valid) return kRejected;
  // Not registered at all (a failed FoV's pair, or positions leaving no overlap): no verdict.
  if (e.value("skipped", false) ||
      (e.contains("rejected") && e["rejected"].is_string() && e["rejected"].get<std::string>().rfind("not registered", 0) == 0))
    return kNotTried;
  return kNoMatch;
}

}  // namespace

RgbCanvas links_picture(const nlohmann::json& layout, double large_residual_px, int max_side_px) {
  std::map<int, TileBox> tiles;
  std::map<int, std::size_t> members;
  if (layout.contains("tiles") && layout["tiles"].is_array())
    for (const auto& t : layout["tiles"]) {
      if (!t.contains("id") || !t.contains("x_px") || !t.contains("y_px") || !t.contains("width_px") || !t.contains("height_px"))
        continue;
      TileBox b;
      b.id = t["id"].get<int>();
      b.x = t["x_px"].get<double>(), b.y = t["y_px"].get<double>();
      b.w = t["width_px"].get<double>(), b.h = t["height_px"].get<double>();
      b.component = t.value("component", -1);
      b.by_stage = t.value("placed_by", std::string("registration")) != "registration";
      tiles[b.id] = b;
      ++members[b.component];
    }
  if (tiles.empty()) return {};
  int main_group = -1;
  for (const auto& [g, n] : members)
    if (main_group < 0 || n > members[main_group]) main_group = g;
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const auto& [id, b] : tiles) x0 = std::min(x0, b.x), y0 = std::min(y0, b.y), x1 = std::max(x1, b.x + b.w), y1 = std::max(y1, b.y + b.h);
  const double f = max_side_px / std::max({x1 - x0, y1 - y0, 1.0});
  const int pic_w = static_cast<int>(std::ceil((x1 - x0) * f)) + 1, pic_h = static_cast<int>(std::ceil((y1 - y0) * f)) + 1;
  double side = INFINITY;  // the smallest tile's side in the picture
  for (const auto& [id, b] : tiles) side = std::min({side, b.w * f, b.h * f});

  // The legend's lines (scale 2, as the heat maps'), each with its swatch.
  const Colour ink{0, 0, 0}, white{255, 255, 255}, outline{110, 110, 110};
  const Colour link_colour[kKinds] = {{0, 160, 0}, {255, 140, 0}, {200, 0, 200}, {220, 0, 0}, {140, 140, 140}, {255, 255, 255}};
  const Colour main_fill{228, 228, 228}, group_fill{255, 228, 180}, stage_fill{255, 200, 200};
  std::size_t count[kKinds] = {};
  std::vector<std::pair<const nlohmann::json*, LinkKind>> links;
  if (layout.contains("edges") && layout["edges"].is_array())
    for (const auto& e : layout["edges"]) {
      if (!tiles.count(e.value("a", -1)) || !tiles.count(e.value("b", -1))) continue;
      const LinkKind k = kind_of(e, large_residual_px);
      ++count[k];
      links.emplace_back(&e, k);
    }
  std::size_t by_stage = 0, detached = 0;
  for (const auto& [id, b] : tiles) {
    if (b.by_stage) ++by_stage;
    else if (b.component != main_group && members[b.component] > 1) ++detached;
  }
  const std::string link_text[kKinds] = {
      fmt::format("used in the layout ({})", count[kUsed]),
      fmt::format("used, but off the layout by > {:g} px ({})", large_residual_px, count[kUsedFar]),
      fmt::format("matched, dropped by the solver as an outlier ({})", count[kDropped]),
      fmt::format("matched, rejected: weak, ambiguous, implausible or thin ({})", count[kRejected]),
      fmt::format("no match: too little structure in the overlap ({})", count[kNoMatch]),
      fmt::format("no line: not tried, a failed fov ({})", count[kNotTried])};
  struct Key {
    std::string text;
    bool line;
    Colour colour;
    bool dashed;
  };
  std::vector<Key> keys;
  for (int k = 0; k < kKinds; ++k)
    if (k <= kUsedFar || count[k] > 0) keys.push_back({link_text[k], k != kNotTried, link_colour[k], k == kNoMatch});
  keys.push_back({fmt::format("tile placed with the main group ({})", tiles.size() - by_stage - detached), false, main_fill, false});
  if (detached) keys.push_back({fmt::format("tile of a group registered to no tile of the main one ({})", detached), false, group_fill, false});
  if (by_stage) keys.push_back({fmt::format("tile placed by the stage alone ({})", by_stage), false, stage_fill, false});
  const int scale = 2, line = (kGlyphHeightPx + kGlyphDescentPx + 3) * scale, margin = 4 * scale, swatch = 8 * scale;
  const std::string title = "links between neighbouring tiles (layout.json says why for each)";
  const bool ncc_labels = side >= 120;
  const std::string numbers = ncc_labels ? "numbers: fov id in a tile, ncc of the match on a link" : "numbers: fov id in a tile";
  int legend_w = std::max(text_width_px(title, scale), text_width_px(numbers, scale));
  for (const Key& k : keys) legend_w = std::max(legend_w, swatch + margin + text_width_px(k.text, scale));
  legend_w += 2 * margin;
  const int W = std::max(pic_w + 2 * margin, legend_w);
  const int H = margin + pic_h + margin + line * static_cast<int>(keys.size() + 2) + margin;
  RgbCanvas canvas(W, H, 255);
  const auto px = [&](double x) { return margin + (x - x0) * f; };
  const auto py = [&](double y) { return margin + (y - y0) * f; };

  for (const auto& [id, b] : tiles) {
    const Colour fill = b.by_stage ? stage_fill : b.component != main_group && members[b.component] > 1 ? group_fill : main_fill;
    const int x = static_cast<int>(std::lround(px(b.x))), y = static_cast<int>(std::lround(py(b.y)));
    const int w = static_cast<int>(std::lround(b.w * f)), h = static_cast<int>(std::lround(b.h * f));
    canvas.fill_rect(x, y, w, h, fill);
  }
  for (const auto& [id, b] : tiles) {  // outlines over every fill: each tile's edge shows in overlaps
    const double x = px(b.x), y = py(b.y), w = b.w * f - 1, h = b.h * f - 1;
    draw_line(canvas, x, y, x + w, y, outline), draw_line(canvas, x, y + h, x + w, y + h, outline);
    draw_line(canvas, x, y, x, y + h, outline), draw_line(canvas, x + w, y, x + w, y + h, outline);
  }
  const int thick = std::clamp(static_cast<int>(side / 25), 2, 8);
  const auto centre = [&](const TileBox& b) { return std::pair<double, double>{px(b.x + b.w / 2), py(b.y + b.h / 2)}; };
  for (const auto& [e, k] : links) {
    if (k == kNotTried) continue;
    const auto [ax, ay] = centre(tiles[(*e)["a"].get<int>()]);
    const auto [bx, by] = centre(tiles[(*e)["b"].get<int>()]);
    draw_line(canvas, ax, ay, bx, by, link_colour[k], thick, k == kNoMatch ? 3 * thick : 0);
  }
  // Ids and NCCs over the lines, on a white ground to stay legible.
  const int id_scale = side >= 100 ? 2 : 1;
  for (const auto& [id, b] : tiles) {
    const std::string t = std::to_string(id);
    if (text_width_px(t, id_scale) + 8 > side || kGlyphHeightPx * id_scale + 8 > side) continue;
    const int x = static_cast<int>(std::lround(px(b.x))) + 4, y = static_cast<int>(std::lround(py(b.y))) + 4;
    canvas.fill_rect(x - 1, y - 1, text_width_px(t, id_scale) + 2, kGlyphHeightPx * id_scale + 2, white);
    draw_text(canvas, x, y, t, ink, id_scale);
  }
  if (ncc_labels)
    for (const auto& [e, k] : links) {
      if (!e->contains("ncc") || !(*e)["ncc"].is_number()) continue;
      const auto [ax, ay] = centre(tiles[(*e)["a"].get<int>()]);
      const auto [bx, by] = centre(tiles[(*e)["b"].get<int>()]);
      const std::string t = fmt::format("{:.2f}", (*e)["ncc"].get<double>());
      // Beside the line's middle: below a horizontal one, right of a vertical one.
      const bool across = std::abs(bx - ax) >= std::abs(by - ay);
      const int x = static_cast<int>(std::lround((ax + bx) / 2)) + (across ? -text_width_px(t, 2) / 2 : thick + 4);
      const int y = static_cast<int>(std::lround((ay + by) / 2)) + (across ? thick + 4 : -kGlyphHeightPx);
      canvas.fill_rect(x - 2, y - 2, text_width_px(t, 2) + 4, kGlyphHeightPx * 2 + 4, white);
      draw_text(canvas, x, y, t, ink, 2);
    }

  int y = margin + pic_h + margin;
  draw_text(canvas, margin, y, title, ink, scale);
  for (const Key& k : keys) {
    y += line;
    if (k.line) {
      draw_line(canvas, margin, y + kGlyphHeightPx * scale / 2.0, margin + swatch - 1, y + kGlyphHeightPx * scale / 2.0, k.colour,
                2 * scale, k.dashed ? 2 * scale : 0);
    } else if (k.colour != white) {
      canvas.fill_rect(margin, y, swatch, kGlyphHeightPx * scale, outline);
      canvas.fill_rect(margin + 1, y + 1, swatch - 2, kGlyphHeightPx * scale - 2, k.colour);
    }
    draw_text(canvas, margin + swatch + margin, y, k.text, ink, scale);
  }
  y += line;
  draw_text(canvas, margin, y, numbers, ink, scale);
  return canvas;
}

}  // namespace annamosaic
