#include "batch/qc_links.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace annamosaic {
namespace {

using Colour = std::array<std::uint8_t, 3>;

struct TileBox {
  double x = 0, y = 0, w = 0, h = 0;  // layout pixels
  int id = 0, component = -1;
  bool by_stage = false, failed = false;
};

bool number(const nlohmann::json& j, const char* key) { return j.contains(key) && j[key].is_number(); }

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

RgbCanvas links_picture(const nlohmann::json& layout, double large_residual_px, const std::vector<int>& failed,
                        int max_side_px) {
  std::map<int, TileBox> tiles;
  std::map<int, std::size_t> members;
  if (layout.contains("tiles") && layout["tiles"].is_array())
    for (const auto& t : layout["tiles"]) {
      // (a tile without a number where one belongs, a NaN written as null: left out, not thrown)
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !number(t, "x_px") || !number(t, "y_px") ||
          !number(t, "width_px") || !number(t, "height_px"))
        continue;
      TileBox b;
      b.id = t["id"].get<int>();
      b.x = t["x_px"].get<double>(), b.y = t["y_px"].get<double>();
      b.w = t["width_px"].get<double>(), b.h = t["height_px"].get<double>();
      b.component = t.contains("component") && t["component"].is_number_integer() ? t["component"].get<int>() : -1;
      b.by_stage = t.value("placed_by", std::string("registration")) != "registration";
      b.failed = std::find(failed.begin(), failed.end(), b.id) != failed.end();
      tiles[b.id] = b;
      if (!b.failed) ++members[b.component];
    }
  if (tiles.empty()) return {};
  std::optional<int> main_group;  // the largest group of the tiles that took part
  for (const auto& [g, n] : members)
    if (!main_group || n > members[*main_group]) main_group = g;
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const auto& [id, b] : tiles) x0 = std::min(x0, b.x), y0 = std::min(y0, b.y), x1 = std::max(x1, b.x + b.w), y1 = std::max(y1, b.y + b.h);
  const double f = max_side_px / std::max({x1 - x0, y1 - y0, 1.0});
  const int pic_w = static_cast<int>(std::ceil((x1 - x0) * f)) + 1, pic_h = static_cast<int>(std::ceil((y1 - y0) * f)) + 1;
  double side = INFINITY;  // the smallest tile's side in the picture
  for (const auto& [id, b] : tiles) side = std::min({side, b.w * f, b.h * f});

  // The legend's lines (scale 2, as the heat maps'), each with its swatch.
  const Colour ink{0, 0, 0}, white{255, 255, 255}, outline{110, 110, 110};
  const Colour link_colour[kKinds] = {{0, 160, 0}, {255, 140, 0}, {200, 0, 200}, {220, 0, 0}, {140, 140, 140}, {255, 255, 255}};
  const Colour main_fill{228, 228, 228}, group_fill{255, 228, 180}, stage_fill{255, 200, 200}, red{220, 0, 0};
  std::size_t count[kKinds] = {};
  std::vector<std::pair<const nlohmann::json*, LinkKind>> links;
  if (layout.contains("edges") && layout["edges"].is_array())
    for (const auto& e : layout["edges"]) {
      if (!tiles.count(e.value("a", -1)) || !tiles.count(e.value("b", -1))) continue;
      const LinkKind k = kind_of(e, large_residual_px);
      ++count[k];
      links.emplace_back(&e, k);
    }
  // How a tile was placed: failed ones took no part (probe91: drawn as placed by the stage).
  enum Placement { kMain, kDetached, kStage, kFailed };
  const auto placement = [&](const TileBox& b) {
    return b.failed ? kFailed : b.by_stage ? kStage : b.component != main_group && members[b.component] > 1 ? kDetached : kMain;
  };
  std::size_t placed[4] = {};
  for (const auto& [id, b] : tiles) ++placed[placement(b)];
  const std::string link_text[kKinds] = {
      fmt::format("used in the layout ({})", count[kUsed]),
      fmt::format("used, but off the layout by > {:g} px ({})", large_residual_px, count[kUsedFar]),
      fmt::format("matched, dropped by the solver as an outlier ({})", count[kDropped]),
      fmt::format("matched, rejected: weak, ambiguous, implausible or thin ({})", count[kRejected]),
      fmt::format("no match: too little structure in the overlap ({})", count[kNoMatch]),
      fmt::format("no line: not tried, a failed fov or no overlap at these positions ({})", count[kNotTried])};
  struct Key {
    std::string text;
    bool line;
    Colour colour;
    bool dashed;
  };
  std::vector<Key> keys;
  for (int k = 0; k < kKinds; ++k)
    if (k <= kUsedFar || count[k] > 0) keys.push_back({link_text[k], k != kNotTried, link_colour[k], k == kNoMatch});
  keys.push_back({fmt::format("tile placed with the main group ({})", placed[kMain]), false, main_fill, false});
  if (placed[kDetached])
    keys.push_back({fmt::format("tile of a group registered to no tile of the main one ({})", placed[kDetached]), false,
                    group_fill, false});
  if (placed[kStage]) keys.push_back({fmt::format("tile placed by the stage alone ({})", placed[kStage]), false, stage_fill, false});
  if (placed[kFailed]) keys.push_back({fmt::format("failed fov, crossed out: not registered ({})", placed[kFailed]), false, white, false});
  const int scale = 2, line = (kGlyphHeightPx + kGlyphDescentPx + 3) * scale, margin = 4 * scale, swatch = 8 * scale;
  const std::string title = "links between neighbouring tiles (layout.json says why for each)";
  const bool ncc_labels = side >= 120;
  const std::string numbers = ncc_labels ? "numbers: fov id at a tile centre, ncc of the match beside a link"
                                         : "numbers: fov id at a tile centre";
  int legend_w = std::max(text_width_px(title, scale), text_width_px(numbers, scale));
  for (const Key& k : keys) legend_w = std::max(legend_w, swatch + margin + text_width_px(k.text, scale));
  legend_w += 2 * margin;
  const int W = std::max(pic_w + 2 * margin, legend_w);
  const int H = margin + pic_h + margin + line * static_cast<int>(keys.size() + 2) + margin;
  RgbCanvas canvas(W, H, 255);
  const auto px = [&](double x) { return margin + (x - x0) * f; };
  const auto py = [&](double y) { return margin + (y - y0) * f; };

  const Colour fills[4] = {main_fill, group_fill, stage_fill, white};
  for (const auto& [id, b] : tiles) {
    const int x = static_cast<int>(std::lround(px(b.x))), y = static_cast<int>(std::lround(py(b.y)));
    const int w = static_cast<int>(std::lround(b.w * f)), h = static_cast<int>(std::lround(b.h * f));
    canvas.fill_rect(x, y, w, h, fills[placement(b)]);
  }
  for (const auto& [id, b] : tiles) {  // outlines over every fill: each tile's edge shows in overlaps
    const double x = px(b.x), y = py(b.y), w = b.w * f - 1, h = b.h * f - 1;
    draw_line(canvas, x, y, x + w, y, outline), draw_line(canvas, x, y + h, x + w, y + h, outline);
    draw_line(canvas, x, y, x, y + h, outline), draw_line(canvas, x + w, y, x + w, y + h, outline);
  }
  const int thick = std::clamp(static_cast<int>(side / 25), 2, 8);
  for (const auto& [id, b] : tiles)  // a failed tile crossed out, as in the heat maps
    if (b.failed) {
      const double x = px(b.x), y = py(b.y), w = b.w * f - 1, h = b.h * f - 1;
      draw_line(canvas, x + thick, y + thick, x + w - thick, y + h - thick, red, thick);
      draw_line(canvas, x + w - thick, y + thick, x + thick, y + h - thick, red, thick);
    }
  const auto centre = [&](const TileBox& b) { return std::pair<double, double>{px(b.x + b.w / 2), py(b.y + b.h / 2)}; };
  for (const auto& [e, k] : links) {
    if (k == kNotTried) continue;
    const auto [ax, ay] = centre(tiles[(*e)["a"].get<int>()]);
    const auto [bx, by] = centre(tiles[(*e)["b"].get<int>()]);
    draw_line(canvas, ax, ay, bx, by, link_colour[k], thick, k == kNoMatch ? 3 * thick : 0);
  }
  // Ids at the tiles' centres, where the links meet (at a tile's corner they ran into the NCCs
  // beside the links: probe91 read "0.90" and "12" as "0.9012"), and NCCs, on white to stay legible.
  const int id_scale = side >= 100 ? 2 : 1;
  for (const auto& [id, b] : tiles) {
    const std::string t = std::to_string(id);
    const int tw = text_width_px(t, id_scale), th = kGlyphHeightPx * id_scale;
    if (tw + 8 > side || th + 8 > side) continue;
    const auto [cx, cy] = centre(b);
    const int x = static_cast<int>(std::lround(cx)) - tw / 2, y = static_cast<int>(std::lround(cy)) - th / 2;
    canvas.fill_rect(x - 2, y - 2, tw + 4, th + 4, ink);
    canvas.fill_rect(x - 1, y - 1, tw + 2, th + 2, white);
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
