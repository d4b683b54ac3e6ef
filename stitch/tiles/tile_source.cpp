#include "tiles/tile_source.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <utility>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/input_file.hpp"
#include "register/widefield_registration.hpp"

namespace annamosaic {

std::vector<ImageF> TileSource::load_channels(std::size_t index, const std::vector<std::size_t>& channels) const {
  std::vector<ImageF> out;
  for (std::size_t c : channels) out.push_back(load(index, c));
  return out;
}

std::size_t channel_index(const TileSource& source, const std::string& name, const std::string& option) {
  std::string all;
  for (std::size_t c = 0; c < source.channels(); ++c) {
    if (source.channel_name(c) == name) return c;
    all += (all.empty() ? "" : ", ") + source.channel_name(c);
  }
  throw InputError(option, "channel '" + name + "': no such channel (channels: " + all + ")");
}

MemoryTileSource::MemoryTileSource(std::vector<std::string> channel_names, double pixel_nm)
    : names_(std::move(channel_names)), pixel_nm_(pixel_nm) {
  if (names_.empty()) throw std::invalid_argument("MemoryTileSource: no channels");
  if (!(pixel_nm > 0)) throw std::invalid_argument("MemoryTileSource: pixel_nm must be > 0");
}

void MemoryTileSource::add(TileInfo info, std::vector<ImageF> images) {
  if (images.size() != names_.size()) throw std::invalid_argument("MemoryTileSource::add: one image per channel");
  for (const ImageF& im : images)
    if (im.width() != images[0].width() || im.height() != images[0].height() || im.empty())
      throw std::invalid_argument("MemoryTileSource::add: channel images must be non-empty and of one size");
  info.width_px = images[0].width();
  info.height_px = images[0].height();
  tiles_.push_back({info, std::move(images)});
}

TileChannelSpec parse_channel_spec(const std::string& spec) {
  const std::size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw InputError("--channel", "'" + spec + "': expected NAME=PATTERN or NAME=PATTERN@PAGES");
  TileChannelSpec c;
  c.name = spec.substr(0, eq);
  c.pattern = spec.substr(eq + 1);
  if (const std::size_t at = c.pattern.rfind('@'); at != std::string::npos) {
    c.pages = c.pattern.substr(at + 1);
    c.pattern = c.pattern.substr(0, at);
    try {
      parse_page_range(c.pages);  // validates now, with the spec in the message
    } catch (const InputError& e) {
      throw InputError("--channel", "'" + spec + "': " + e.what());
    }
  }
  if (c.pattern.empty()) throw InputError("--channel", "'" + spec + "': empty file pattern");
  return c;
}

std::string expand_tile_pattern(const std::string& pattern, const TileInfo& t) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const std::size_t close = pattern.find('}', i);
    if (close == std::string::npos) throw InputError("pattern '" + pattern + "'", "unmatched '{'");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    const std::size_t colon = field.find(':');
    // {row+1}: file names that count from 1 (many microscopes' do); the grid counts from 0.
    const std::string name = field.substr(0, colon);
    const std::size_t plus = name.find('+');
    const std::string key = name.substr(0, plus);
    int offset = 0;
    if (plus != std::string::npos) {
      const std::string n = name.substr(plus + 1);
      const auto r = std::from_chars(n.data(), n.data() + n.size(), offset);
      if (n.empty() || r.ec != std::errc() || r.ptr != n.data() + n.size() || offset < 0)
        throw InputError("pattern '" + pattern + "'", "bad offset in {" + field + "} (e.g. {row+1})");
    }
    if (key == "file") {  // a name, as the positions file gives it (no offset, no format)
      if (plus != std::string::npos || colon != std::string::npos)
        throw InputError("pattern '" + pattern + "'", "{file} takes no offset or format");
      if (t.file.empty())
        throw InputError("pattern '" + pattern + "'", "{file} needs a positions file that names each tile's file (a Fiji "
                                                      "TileConfiguration.txt)");
      out += t.file;
      i = close;
      continue;
    }
    int value;
    if (key == "id") value = t.id;
    else if (key == "row") value = t.row;
    else if (key == "col") value = t.col;
    else
      throw InputError("pattern '" + pattern + "'", "unknown field {" + field + "} (use {id}, {row}, {col}, each with an offset "
                                                    "added if the names count from there: {row+1}, {id+12:03d}; or {file} "
                                                    "where a Fiji TileConfiguration.txt names each tile's file)");
    value += offset;
    if (colon == std::string::npos) {
      out += key == "id" ? fmt::format("{:04d}", value) : std::to_string(value);
    } else {
      std::string text;
      try {
        text = fmt::format(fmt::runtime("{:" + field.substr(colon + 1) + "}"), value);
      } catch (const fmt::format_error& e) {
        throw InputError("pattern '" + pattern + "'", "bad format in {" + field + "}: " + e.what());
      }
      // No file system takes a name this long (255 bytes): a typo in the width, said as such.
      if (text.size() > 255)
        throw InputError("pattern '" + pattern + "'", fmt::format("{{{}}} makes {} characters: a width typo? (e.g. {{id:04d}})",
                                                                  field, text.size()));
      out += text;
    }
    i = close;
  }
  return out;
}

namespace {

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\"");
  const auto e = s.find_last_not_of(" \t\r\"");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    f.push_back(trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) return f;
    start = comma + 1;
  }
}

// The rest of a Fiji TileConfiguration after its "dim = N" line (`line_no` its line).
std::vector<TileInfo> read_tile_configuration(const std::string& path, std::istream& in, std::int64_t line_no,
                                              const std::string& dim_line, bool* in_px) {
  const std::string dim = trim(dim_line.substr(dim_line.find('=') == std::string::npos ? 3 : dim_line.find('=') + 1));
  if (dim != "2" && dim != "3")
    throw InputError(path, "'" + dim_line + "': a TileConfiguration says 'dim = 2' (or 3 with z = 0)", line_no);
  std::vector<TileInfo> tiles;
  std::set<std::string> files;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    // FILE; ; (x, y[, z])  -- the middle field (a series number) is left empty by Fiji.
    const std::size_t semi = t.find(';'), open = t.find('(', semi == std::string::npos ? 0 : semi),
                      close = t.rfind(')');
    if (semi == std::string::npos || open == std::string::npos || close == std::string::npos || close < open)
      throw InputError(path, "'" + t + "' is not 'FILE; ; (x, y)'", line_no);
    TileInfo tile;
    tile.file = trim(t.substr(0, semi));
    if (tile.file.empty()) throw InputError(path, "no file name before the ';'", line_no);
    if (!files.insert(tile.file).second) throw InputError(path, "the file " + tile.file + " is listed twice", line_no);
    std::vector<double> xyz;
    std::stringstream coords(t.substr(open + 1, close - open - 1));
    for (std::string c; std::getline(coords, c, ',');) {
      const std::string v = trim(c);
      char* end = nullptr;
      errno = 0;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d))
        throw InputError(path, fmt::format("'{}' is not a finite number", v), line_no);
      xyz.push_back(d);
    }
    if (xyz.size() != (dim == "2" ? 2u : 3u))
      throw InputError(path, fmt::format("{} coordinates for dim = {}", xyz.size(), dim), line_no);
    if (xyz.size() == 3 && xyz[2] != 0)
      throw InputError(path, "z = " + fmt::format("{:g}", xyz[2]) + ": tiles in 3-D are not stitched (a 2-D mosaic)", line_no);
    tile.id = static_cast<int>(tiles.size());
    tile.row = tile.col = -1;
    tile.x_um = xyz[0], tile.y_um = xyz[1];  // pixels, for the caller to scale
    tiles.push_back(tile);
  }
  if (tiles.empty()) throw InputError(path, "no tiles listed");
  *in_px = true;
  return tiles;
}
}  // namespace

std::vector<TileInfo> read_positions_csv(const std::string& path, bool* in_px) {
  require_regular_file(path, "positions");
  std::ifstream in(path);
  if (!in) throw IoError(path, "cannot open the positions file");
  std::string line;
  std::int64_t n = 0;
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, line)) {
    ++n;
    if (n == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 BOM (Excel's CSV)
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    header = split(line);
  }
  if (header.empty()) throw InputError(path, "empty positions file (expected a header id,row,col,x_um,y_um)");
  if (header.size() == 1 && header[0].rfind("dim", 0) == 0) {  // "dim = 2", then "file; ; (x, y)" lines
    if (!in_px)
      throw InputError(path, "a Fiji TileConfiguration (positions in tile pixels) is for `annamosaic stitch`; a campaign's "
                             "positions are stage micrometres (id,row,col,x_um,y_um)",
                       n);
    return read_tile_configuration(path, in, n, header[0], in_px);
  }
  // A name the reader uses given twice: which column holds it is a guess (probe102: the last x_um
  // won, every tile at x = 99 um, exit 0). Other columns (notes) may repeat.
  static const std::set<std::string> used = {"id", "row", "col", "x_um", "y_um", "x_px", "y_px"};
  for (std::size_t i = 0; i < header.size(); ++i)
    for (std::size_t j = i + 1; j < header.size(); ++j)
      if (used.count(trim(header[i])) && trim(header[i]) == trim(header[j]))
        throw InputError(path, fmt::format("column '{}' appears twice in the header (columns {} and {}): keep one", trim(header[i]),
                                           i + 1, j + 1),
                         n);
  const auto has = [&](const char* name) { return std::find(header.begin(), header.end(), name) != header.end(); };
  // Pixels (x_px,y_px) where the caller can scale them; both units at once is ambiguous.
  const bool px = !has("x_um") && !has("y_um") && has("x_px") && has("y_px");
  if ((has("x_um") || has("y_um")) && (has("x_px") || has("y_px")))
    throw InputError(path, "the header gives positions both in um (x_um/y_um) and in pixels (x_px/y_px): keep one pair", n);
  if (px && !in_px)
    throw InputError(path, "positions in pixels (x_px,y_px) are for `annamosaic stitch`; a campaign's positions are stage "
                           "micrometres (x_um,y_um): camera or rendered pixels would be ambiguous here. Write x_um = x_px x "
                           "the pixel's size in um (camera pixels: camera-pixel-nm / 1000), and y_um alike",
                     n);
  if (in_px) *in_px = px;
  const char* required[] = {"id", "row", "col", px ? "x_px" : "x_um", px ? "y_px" : "y_um"};
  int col_of[5];
  for (int k = 0; k < 5; ++k) {
    col_of[k] = -1;
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == required[k]) col_of[k] = static_cast<int>(i);
    if (col_of[k] < 0) {
      std::string seen;
      for (const auto& h : header) seen += (seen.empty() ? "'" : "', '") + h;
      const bool other_delimiter = header.size() == 1 && header[0].find_first_of("\t;") != std::string::npos;
      throw InputError(path, std::string("missing column '") + required[k] + "' in the header (comma-separated " +
                                 "id,row,col,x_um,y_um in any order" + (in_px ? ", or x_px,y_px in tile pixels" : "") +
                                 "; found " + seen + "')" +
                                 (other_delimiter ? ": separate the columns with commas, not tabs or semicolons" : ""),
                       n);
    }
  }
  std::vector<TileInfo> tiles;
  std::map<int, std::size_t> line_of_id;                            // the first line with each id
  std::map<std::pair<int, int>, std::pair<int, std::size_t>> cells;  // each cell's tile id and line
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const auto f = split(line);
    if (f.size() != header.size())
      throw InputError(path, fmt::format("{} fields, the header has {}", f.size(), header.size()), n);
    double v[5];
    for (int k = 0; k < 5; ++k) {
      const std::string& s = f[static_cast<std::size_t>(col_of[k])];
      char* end = nullptr;
      errno = 0;
      v[k] = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v[k]))
        throw InputError(path, fmt::format("'{}' is not a finite number", s), n, col_of[k] + 1, required[k]);
      if (k < 3 && v[k] != std::floor(v[k]))
        throw InputError(path, fmt::format("'{}' is not an integer", s), n, col_of[k] + 1, required[k]);
      if (k < 3 && std::abs(v[k]) > 1e9)
        throw InputError(path, fmt::format("'{}' is out of range (ids, rows and cols are at most 1e9)", s), n, col_of[k] + 1,
                         required[k]);
    }
    TileInfo t;
    t.id = static_cast<int>(v[0]), t.row = static_cast<int>(v[1]), t.col = static_cast<int>(v[2]);
    t.x_um = v[3], t.y_um = v[4];
    // Both lines named: the first is as likely the typo (probe98: only the second was).
    if (const auto [it, fresh] = line_of_id.emplace(t.id, n); !fresh)
      throw InputError(path, fmt::format("duplicate id {} (also on line {})", t.id, it->second), n);
    if (const auto [it, fresh] = cells.emplace(std::make_pair(t.row, t.col), std::make_pair(t.id, n)); !fresh)
      throw InputError(path,
                       fmt::format("tile {} is in grid cell row {} col {}, where tile {} (line {}) is: a row or col mistyped?",
                                   t.id, t.row, t.col, it->second.first, it->second.second),
                       n);
    tiles.push_back(t);
  }
  if (tiles.empty()) throw InputError(path, "no tiles listed");
  return tiles;
}

namespace {
// Grid rows and columns for tiles placed by position alone (a TileConfiguration): neighbours are
// found through grid cells. Sorted by y, a tile starts a new row when it lies more than half a tile
// below the row's first; columns likewise in x. Rows (cols) are numbered by their distance in
// shortest steps, so that an empty one between two keeps its number (counted, the tiles on either
// side of a missing column were paired as neighbours, 1,350 px apart for 750 px tiles, and said to
// hold "too little structure"; a user's probe). Two tiles in one cell: not a grid, refused.
void assign_grid_cells(std::vector<TileInfo>& tiles, const std::string& path, double pixel_nm) {
  const double um_per_px = pixel_nm / 1000.0;  // positions are um by now, sizes px
  std::vector<std::size_t> order(tiles.size());
  const auto cells = [&](auto position, auto size, auto set) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return position(tiles[a]) < position(tiles[b]); });
    int k = -1;
    double start = 0;
    std::vector<double> starts;  // of each row (col), in order
    std::vector<int> cluster(tiles.size());
    for (const std::size_t i : order) {
      if (k < 0 || position(tiles[i]) - start > 0.5 * size(tiles[i])) ++k, start = position(tiles[i]), starts.push_back(start);
      cluster[i] = k;
    }
    std::vector<int> number(starts.size());
    std::iota(number.begin(), number.end(), 0);
    if (starts.size() >= 3) {
      // The shortest step is the grid's: an empty row or column only makes steps longer.
      double step = starts[1] - starts[0];
      for (std::size_t c = 2; c < starts.size(); ++c) step = std::min(step, starts[c] - starts[c - 1]);
      if (step > 0)
        for (std::size_t c = 1; c < starts.size(); ++c)
          number[c] = std::max(number[c - 1] + 1, number[c - 1] + static_cast<int>(std::lround((starts[c] - starts[c - 1]) / step)));
    }
    for (std::size_t i = 0; i < tiles.size(); ++i) set(tiles[i], number[static_cast<std::size_t>(cluster[i])]);
  };
  cells([](const TileInfo& t) { return t.y_um; }, [&](const TileInfo& t) { return static_cast<double>(t.height_px) * um_per_px; },
        [](TileInfo& t, int k) { t.row = k; });
  cells([](const TileInfo& t) { return t.x_um; }, [&](const TileInfo& t) { return static_cast<double>(t.width_px) * um_per_px; },
        [](TileInfo& t, int k) { t.col = k; });
  std::map<std::pair<int, int>, std::string> seen;
  for (const TileInfo& t : tiles)
    if (const auto [it, fresh] = seen.insert({{t.row, t.col}, t.file}); !fresh)
      throw InputError(path, fmt::format("{} and {} fall in one grid cell (row {} col {}): tiles closer than half a tile "
                                         "in x and y are not a grid of tiles",
                                         it->second, t.file, t.row, t.col));
}
}  // namespace

std::unique_ptr<TiffTileSource> TiffTileSource::open(const std::string& root, const std::string& positions_csv,
                                                     const std::vector<TileChannelSpec>& channels, double pixel_nm,
                                                     bool skip_missing) {
  if (channels.empty()) throw InputError("--tiles", "no tile channel given");
  std::unique_ptr<TiffTileSource> s(new TiffTileSource);
  s->root_ = root;
  s->specs_ = channels;
  s->tiles_ = read_positions_csv(positions_csv, &s->positions_in_px_);
  {  // Tiles without a file: all named at once (a failed FoV, a renamed folder), not the first alone.
    std::vector<TileInfo> present;
    std::vector<std::string> missing_files;
    for (std::size_t i = 0; i < s->tiles_.size(); ++i) {
      bool ok = true;
      for (std::size_t c = 0; c < channels.size(); ++c)
        if (std::error_code ec; !std::filesystem::exists(s->path(i, c), ec)) {
          if (missing_files.size() < 3) missing_files.push_back(s->path(i, c));
          ok = false;
        }
      if (ok) present.push_back(s->tiles_[i]);
      else s->missing_ids_.push_back(s->tiles_[i].id);
    }
    const auto& m = s->missing_ids_;
    if (!m.empty()) {
      const std::string list = fmt::format("ids {}{}; {}{}", fmt::join(m.begin(), m.begin() + std::min<std::size_t>(10, m.size()), ", "),
                                           m.size() > 10 ? ", ..." : "", fmt::join(missing_files, ", "),
                                           m.size() > missing_files.size() ? ", ..." : "");
      // "--tiles fov/{id}/wf.tif@3-5": pages are chosen in a --channel spec, not in --tiles.
      const bool pages_in_pattern = std::any_of(channels.begin(), channels.end(), [](const TileChannelSpec& c) {
        return c.pages.empty() && c.pattern.find('@') != std::string::npos;
      });
      if (present.empty())
        throw IoError(missing_files.front(), fmt::format("none of the {} tiles listed in {} has its file ({}): are the "
                                                            "patterns relative to the folder given?{}",
                                                            s->tiles_.size(), positions_csv, list,
                                                            pages_in_pattern ? " (pages are chosen with --channel "
                                                                               "NAME=PATTERN@PAGES, not in --tiles)"
                                                                             : ""));
      if (!skip_missing)
        throw IoError(missing_files.front(), fmt::format("{} of the {} tiles listed in {} have no file ({}). To stitch the "
                                                            "others with holes where these go: --skip-missing, or remove their "
                                                            "rows from {}",
                                                            m.size(), s->tiles_.size(), positions_csv, list, positions_csv));
      spdlog::warn("{} of the {} tiles have no file and are left out, the mosaic empty where they go ({})", m.size(),
                   s->tiles_.size(), list);
      s->tiles_ = std::move(present);
    }
  }
  std::set<std::string> names;
  for (const auto& c : channels) {
    if (!names.insert(c.name).second) throw InputError("--channel", "channel name '" + c.name + "' given twice");
    s->pages_.push_back(c.pages.empty() ? PageRange{1, 1} : parse_page_range(c.pages));
  }
  s->channel_pixel_nm_.assign(channels.size(), 0.0);
  // Per channel: the first tile's pixel type and tagged pixel size, and the tiles unlike it. One
  // scale maps a channel to the mosaic's uint16: a float tile of 0..1 among uint16 ones comes out
  // black; a tile tagged at another pixel size is not resampled.
  const auto type_name = [](const TiffInfo& i) {
    return fmt::format("{}{}", i.sample_format == 3 ? "float" : i.sample_format == 2 ? "int" : "uint", i.bits_per_sample);
  };
  std::vector<std::string> first_type(channels.size());
  std::vector<std::vector<std::string>> other_type(channels.size()), other_tag(channels.size());
  std::vector<std::vector<std::string>> stacks(channels.size());  // tiles of several pages read as their first
  for (std::size_t i = 0; i < s->tiles_.size(); ++i) {
    TileInfo& t = s->tiles_[i];
    for (std::size_t c = 0; c < channels.size(); ++c) {
      const std::string p = s->path(i, c);
      const TiffInfo info = read_tiff_info(p);
      if (i == 0) first_type[c] = type_name(info);
      else if (type_name(info) != first_type[c]) other_type[c].push_back(p + " (" + type_name(info) + ")");
      if (i > 0 && info.pixel_nm > 0 && s->channel_pixel_nm_[c] > 0 &&
          std::abs(info.pixel_nm - s->channel_pixel_nm_[c]) > 1e-3 * s->channel_pixel_nm_[c])
        other_tag[c].push_back(fmt::format("{} ({:g} nm)", p, info.pixel_nm));
      const PageRange& pr = s->pages_[c];
      if (channels[c].pages.empty() && info.pages > 1) stacks[c].push_back(fmt::format("{} ({} pages)", p, info.pages));
      if (pr.first > info.pages || (pr.last != 0 && pr.last > info.pages))
        throw InputError(p, fmt::format("channel '{}' wants pages {} but the file has {}", channels[c].name, channels[c].pages,
                                         info.pages));
      if (i == 0) s->channel_pixel_nm_[c] = info.pixel_nm;
      if (c == 0) {
        if (info.width == 0 || info.height == 0) throw InputError(p, "empty image");
        t.width_px = info.width, t.height_px = info.height;
        if (i == 0) {
          if (pixel_nm <= 0) pixel_nm = info.pixel_nm;
          if (!(pixel_nm > 0))
            throw InputError(p, "no pixel size in the TIFF resolution tags: give the pixel size (--pixel-nm)");
          if (info.pixel_nm > 0 && std::abs(info.pixel_nm - pixel_nm) > 1e-3 * pixel_nm)
            spdlog::warn("{}: resolution tags say {} nm per pixel, using {} nm", p, info.pixel_nm, pixel_nm);
          s->pixel_nm_ = pixel_nm;
          if (s->positions_in_px_)  // x_px,y_px: this pixel size makes them um
            for (TileInfo& u : s->tiles_) u.x_um *= pixel_nm / 1000.0, u.y_um *= pixel_nm / 1000.0;
        }
      } else if ((info.width != t.width_px || info.height != t.height_px) && !(info.pixel_nm > 0)) {
        throw InputError(p, fmt::format("{} x {} px differs from channel '{}' ({} x {}) and the file has no pixel size to "
                                        "resample it",
                                        info.width, info.height, channels[0].name, t.width_px, t.height_px));
      }
    }
  }
  if (!s->tiles_.empty() && s->tiles_.front().row < 0) {
    assign_grid_cells(s->tiles_, positions_csv, s->pixel_nm_);
    s->cells_from_positions_ = true;
  }
  for (std::size_t c = 0; c < channels.size(); ++c) {
    if (!other_type[c].empty())
      throw InputError(s->path(0, c), fmt::format("channel '{}': {} tile(s) of another pixel type than this one's {} ({}{}): "
                                                  "one scale maps the channel to the mosaic, so their values would be wrong "
                                                  "(a float tile of 0..1 among uint16 ones comes out black); convert them to one type",
                                                  channels[c].name, other_type[c].size(), first_type[c], other_type[c].front(),
                                                  other_type[c].size() > 1 ? ", ..." : ""));
    // A z-stack or time series given as a plain pattern: its first page alone is stitched.
    if (!stacks[c].empty())
      spdlog::warn("channel '{}': {} tile(s) have several pages ({}{}); their first page alone is used. For a z-stack or "
                   "time series, --channel {}=PATTERN@A-B (in place of --tiles for the tiles) averages pages A to B (1-based)",
                   channels[c].name, stacks[c].size(), stacks[c].front(), stacks[c].size() > 1 ? ", ..." : "",
                   channels[c].name);
    if (!other_tag[c].empty())
      spdlog::warn("channel '{}': {} tile(s) tagged at another pixel size than {} ({:g} nm): {}{}; every tile is placed and "
                   "fused at {:g} nm",
                   channels[c].name, other_tag[c].size(), s->path(0, c), s->channel_pixel_nm_[c], other_tag[c].front(),
                   other_tag[c].size() > 1 ? ", ..." : "", s->pixel_nm_);
  }
  return s;
}

std::string TiffTileSource::path(std::size_t i, std::size_t c) const {
  const std::string rel = expand_tile_pattern(specs_[c].pattern, tiles_[i]);
  if (root_.empty() || (!rel.empty() && rel[0] == '/')) return rel;
  return root_ + "/" + rel;
}

ImageF TiffTileSource::load(std::size_t i, std::size_t c) const {
  const std::string p = path(i, c);
  ImageF img = specs_[c].pages.empty() ? read_tiff(p, 0) : read_tiff_mean(p, pages_[c]);
  const TileInfo& t = tiles_[i];
  if (img.width() == t.width_px && img.height() == t.height_px) return img;
  if (c == 0) throw InputError(p, fmt::format("{} x {} px, but it was {} x {} when the source was opened", img.width(),
                                              img.height(), t.width_px, t.height_px));
  double src_nm = channel_pixel_nm_[c];
  if (!(src_nm > 0)) src_nm = read_tiff_info(p).pixel_nm;
  if (!(src_nm > 0)) throw InputError(p, "size differs from the tile grid and the file has no pixel size to resample it");
  return widefield_on_sr_grid(img.view(), WidefieldRegistration{}, t.width_px, t.height_px, pixel_nm_, src_nm);
}

}  // namespace annamosaic
