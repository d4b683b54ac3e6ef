#pragma once
// qc/links.png: the stitching's verdict on every overlap, drawn where the layout put the tiles,
// so that a user sees at a glance which parts of the mosaic rest on registered overlaps and
// which on the stage alone (layout.json holds the same, as 2 x rows x cols lines of numbers).
#include <vector>

#include <nlohmann/json.hpp>

#include "imgproc/text_rgb.hpp"

namespace annamosaic {

// The picture of `layout` (layout.json's tiles and edges): each tile a square at its solved place
// (shaded by how it was placed: with the main group, with a detached group, by the stage alone;
// the `failed` FoVs' crossed out), its id at its centre where it fits; each neighbour pair a line
// between the tiles' centres, coloured by what became of it (used; used but off the layout by
// more than `large_residual_px`; dropped by the solver; matched but rejected; no match, dashed;
// not tried, none), its NCC beside it where the tiles are large enough; a legend below. At most
// `max_side_px` on the tiles' long side. An empty canvas when the layout has no tiles.
RgbCanvas links_picture(const nlohmann::json& layout, double large_residual_px, const std::vector<int>& failed = {},
                        int max_side_px = 1024);

}  // namespace annamosaic
