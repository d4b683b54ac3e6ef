#include "pyramid/ims_reader.hpp"

#include <sys/stat.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "core/numeric.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "pyramid/chunk_codec.hpp"
#include "pyramid/hdf5_util.hpp"

namespace annamosaic {

struct ImsReader::State {
  ImsInfo info;
  h5::Hid file;
  std::vector<h5::Hid> data;  // [level * channels + channel]
  // Per data set: chunks stored as this project's writer stores them (uint16 LE, chunk depth 1,
  // "shuffle, deflate"), which read_into decodes itself, in parallel and outside the HDF5 lock.
  std::vector<char> raw_chunks;
  std::vector<std::array<hsize_t, 3>> chunk_dims;
};

namespace {

herr_t list_link(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

std::vector<std::string> members(hid_t g) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_link, &names) < 0) names.clear();
  return names;
}

// Parses "<prefix><number>" (e.g. "ResolutionLevel 3"); -1 otherwise.
long numbered(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return -1;
  long v = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

bool parse_size(const std::string& s, std::size_t& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno || !end || *end != '\0') return false;
  out = static_cast<std::size_t>(v);
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  while (end && *end == ' ') ++end;
  return end && *end == '\0';
}

std::string filter_text(hid_t ds) {
  h5::Hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl.ok()) return "?";
  const int n = H5Pget_nfilters(dcpl.get());
  if (n <= 0) return "none";
  std::string out;
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, cd[8];
    std::size_t ncd = 8;
    char name[64] = {0};
    const H5Z_filter_t f = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, sizeof name, name, nullptr);
    if (!out.empty()) out += ", ";
    if (f == H5Z_FILTER_SHUFFLE) out += "shuffle";
    else if (f == H5Z_FILTER_DEFLATE) out += "deflate(" + (ncd ? std::to_string(cd[0]) : std::string("?")) + ")";
    else out += std::string(name[0] ? name : "filter") + " " + std::to_string(f);
  }
  return out;
}

std::string type_text(hid_t ds) {
  h5::Hid t(H5Dget_type(ds), H5Tclose);
  if (!t.ok()) return "?";
  if (H5Tget_class(t.get()) == H5T_INTEGER)
    return std::string(H5Tget_sign(t.get()) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(8 * H5Tget_size(t.get()));
  if (H5Tget_class(t.get()) == H5T_FLOAT) return "float" + std::to_string(8 * H5Tget_size(t.get()));
  return "other";
}

}  // namespace

ImsReader::ImsReader(std::string path) : path_(std::move(path)) {}
ImsReader::~ImsReader() {
  if (s_) {
    h5::Lock lock;
    s_.reset();
  }
}
ImsReader::ImsReader(ImsReader&&) noexcept = default;
ImsReader& ImsReader::operator=(ImsReader&&) noexcept = default;

const ImsInfo& ImsReader::info() const {
  if (!s_) throw std::logic_error(path_ + ": ImsReader used before open()");
  return s_->info;
}

void ImsReader::open() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    const int e = errno;
    require_regular_file(path_, "mosaic");  // a link to nothing: where it points
    throw IoError(path_, std::string("cannot open: ") + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) throw IoError(path_, "is a folder; give the mosaic file in it (a run writes OUT/mosaic.ims)");
  require_regular_file(path_, "mosaic");
  if (st.st_size == 0) throw InputError(path_, "empty file (0 bytes), not a mosaic (a copy cut short, or a run's file it never wrote?)");
  h5::Lock lock;
  auto s = std::make_unique<State>();
  auto bad = [&](const std::string& what) { return InputError(path_, what); };
  // Say what the file is when it is another kind (HDF5's own report is a page of internals).
  const htri_t is_hdf5 = H5Fis_hdf5(path_.c_str());
  if (is_hdf5 < 0) throw IoError(path_, "cannot read: " + h5::error_text());
  if (is_hdf5 == 0) {
    char magic[4] = {0};
    if (std::FILE* f = std::fopen(path_.c_str(), "rb")) {
      (void)!std::fread(magic, 1, 4, f);
      std::fclose(f);
    }
    const bool tiff = (magic[0] == 'I' && magic[1] == 'I') || (magic[0] == 'M' && magic[1] == 'M');
    throw bad(tiff ? "is a TIFF, not an Imaris (.ims) mosaic (inspect and export read the .ims a run writes)"
                   : "not an HDF5 file, so not an Imaris (.ims) mosaic (damaged, or another kind of file)");
  }
  s->file = h5::Hid(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!s->file.ok()) throw bad("cannot open as HDF5: " + h5::error_text());
  ImsInfo& info = s->info;
  info.path = path_;
  if (H5Lexists(s->file.get(), "DataSet", H5P_DEFAULT) <= 0) throw bad("no /DataSet group: not an Imaris file");

  // Channel metadata.
  h5::Hid dsi;
  if (H5Lexists(s->file.get(), "DataSetInfo", H5P_DEFAULT) > 0)
    dsi = h5::Hid(H5Gopen2(s->file.get(), "DataSetInfo", H5P_DEFAULT), H5Gclose);

  // Levels: ResolutionLevel 0..L-1, TimePoint 0, Channel 0..C-1.
  h5::Hid dataset(H5Gopen2(s->file.get(), "DataSet", H5P_DEFAULT), H5Gclose);
  if (!dataset.ok()) throw bad("cannot open /DataSet: " + h5::error_text());
  std::size_t nlevels = 0;
  for (const auto& m : members(dataset.get()))
    if (long r = numbered(m, "ResolutionLevel "); r >= 0) nlevels = std::max(nlevels, std::size_t(r) + 1);
  if (nlevels == 0) throw bad("/DataSet has no 'ResolutionLevel N' group");
  std::size_t nchannels = 0;
  {
    h5::Hid tp(H5Gopen2(dataset.get(), "ResolutionLevel 0/TimePoint 0", H5P_DEFAULT), H5Gclose);
    if (!tp.ok()) throw bad("no /DataSet/ResolutionLevel 0/TimePoint 0: " + h5::error_text());
    for (const auto& m : members(tp.get()))
      if (long c = numbered(m, "Channel "); c >= 0) nchannels = std::max(nchannels, std::size_t(c) + 1);
  }
  if (nchannels == 0) throw bad("ResolutionLevel 0/TimePoint 0 has no 'Channel N' group");
  info.channels.resize(nchannels);
  for (std::size_t r = 0; r < nlevels; ++r) {
    ImsLevelInfo lv;
    for (std::size_t c = 0; c < nchannels; ++c) {
      const std::string where = "ResolutionLevel " + std::to_string(r) + "/TimePoint 0/Channel " + std::to_string(c);
      h5::Hid g(H5Gopen2(dataset.get(), where.c_str(), H5P_DEFAULT), H5Gclose);
      if (!g.ok()) throw bad("missing /DataSet/" + where);
      h5::Hid ds(H5Dopen2(g.get(), "Data", H5P_DEFAULT), H5Dclose);
      if (!ds.ok()) throw bad("missing /DataSet/" + where + "/Data");
      h5::Hid space(H5Dget_space(ds.get()), H5Sclose);
      hsize_t dims[3] = {0, 0, 0};
      if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 3 ||
          H5Sget_simple_extent_dims(space.get(), dims, nullptr) < 0)
        throw bad("/DataSet/" + where + "/Data is not three-dimensional (z, y, x)");
      std::string sx, sy;
      std::size_t w = 0, h = 0;
      if (!h5::read_text_attr(g.get(), "ImageSizeX", sx) || !parse_size(sx, w) ||
          !h5::read_text_attr(g.get(), "ImageSizeY", sy) || !parse_size(sy, h))
        throw bad("/DataSet/" + where + ": missing or malformed ImageSizeX/ImageSizeY");
      if (w > dims[2] || h > dims[1] || w == 0 || h == 0)
        throw bad("/DataSet/" + where + ": ImageSize " + sx + " x " + sy + " does not fit the data set " +
                  std::to_string(dims[2]) + " x " + std::to_string(dims[1]));
      if (c == 0) {
        lv.width = w, lv.height = h, lv.stored_width = dims[2], lv.stored_height = dims[1];
        h5::Hid dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
        hsize_t chunk[3] = {0, 0, 0};
        if (dcpl.ok() && H5Pget_layout(dcpl.get()) == H5D_CHUNKED && H5Pget_chunk(dcpl.get(), 3, chunk) == 3)
          lv.chunk_width = chunk[2], lv.chunk_height = chunk[1];
        if (r == 0) {
          info.filters = filter_text(ds.get());
          info.data_type = type_text(ds.get());
        }
      } else if (w != lv.width || h != lv.height) {
        throw bad("/DataSet/" + where + ": size differs from channel 0");
      }
      std::string v;
      std::size_t hv = 0;
      ImsChannelInfo& ch = info.channels[c];
      ch.hist_min.push_back(h5::read_text_attr(g.get(), "HistogramMin", v) && parse_size(v, hv) ? std::uint16_t(hv) : 0);
      ch.hist_max.push_back(h5::read_text_attr(g.get(), "HistogramMax", v) && parse_size(v, hv) ? std::uint16_t(hv) : 0);
      std::array<hsize_t, 3> chunk{0, 0, 0};
      // decode_ims_chunk takes depth-1 uint16 chunks, shuffled and deflated.
      s->raw_chunks.push_back(h5::shuffle_deflate_chunked(ds.get(), H5T_STD_U16LE, 3, chunk.data()) && chunk[0] == 1 ? 1 : 0);
      s->chunk_dims.push_back(chunk);
      s->data.push_back(std::move(ds));
    }
    info.levels.push_back(lv);
  }

  if (dsi.ok()) {
    for (const auto& gname : members(dsi.get())) {
      h5::Hid g(H5Gopen2(dsi.get(), gname.c_str(), H5P_DEFAULT), H5Gclose);
      if (!g.ok()) continue;
      std::vector<std::pair<std::string, std::string>> attrs;
      for (const auto& a : h5::attr_names(g.get())) {
        std::string v;
        if (h5::read_text_attr(g.get(), a, v)) attrs.emplace_back(a, v);
      }
      auto get = [&](const char* k) {
        for (const auto& [name, value] : attrs)
          if (name == k) return value;
        return std::string();
      };
      if (gname == "Image") {
        info.unit = get("Unit");
        info.name = get("Name");
        info.description = get("Description");
        info.recording_date = get("RecordingDate");
        double mn[3], mx[3];
        std::size_t size[3] = {info.levels[0].width, info.levels[0].height, 1};
        std::size_t z = 1;
        if (parse_size(get("Z"), z)) size[2] = z;
        bool ok = true;
        for (int k = 0; k < 3; ++k)
          ok = ok && parse_double(get(("ExtMin" + std::to_string(k)).c_str()), mn[k]) &&
               parse_double(get(("ExtMax" + std::to_string(k)).c_str()), mx[k]);
        if (ok) {  // 9 digits: the extents' difference leaves noise in the last bits
          info.pixel_um_x = round_significant((mx[0] - mn[0]) / double(size[0]), 9);
          info.pixel_um_y = round_significant((mx[1] - mn[1]) / double(size[1]), 9);
          info.pixel_um_z = round_significant((mx[2] - mn[2]) / double(size[2]), 9);
          info.origin_um_x = mn[0], info.origin_um_y = mn[1];
        }
      } else if (long c = numbered(gname, "Channel "); c >= 0 && std::size_t(c) < nchannels) {
        ImsChannelInfo& ch = info.channels[std::size_t(c)];
        ch.name = get("Name");
        ch.description = get("Description");
        ch.color = get("Color");
        ch.color_range = get("ColorRange");
        double sc = 1;
        if (parse_double(get("QuantisationScale"), sc) && sc > 0) ch.scale = sc;
      } else if (gname != "TimeInfo") {
        info.info_groups.emplace_back(gname, std::move(attrs));
      }
    }
  }
  for (std::size_t c = 0; c < nchannels; ++c)
    if (info.channels[c].name.empty()) info.channels[c].name = "channel " + std::to_string(c);
  s_ = std::move(s);
}

void ImsReader::read_into(std::size_t level, std::size_t channel, std::size_t x0, std::size_t y0,
                          ImageView<std::uint16_t> dst) const {
  const ImsInfo& in = info();
  if (level >= in.levels.size() || channel >= in.channels.size())
    throw InputError(path_, "no level " + std::to_string(level) + " / channel " + std::to_string(channel));
  const ImsLevelInfo& L = in.levels[level];
  if (x0 + dst.width() > L.width || y0 + dst.height() > L.height)
    throw InputError(path_, "region outside level " + std::to_string(level) + " (" + std::to_string(L.width) + " x " +
                                std::to_string(L.height) + ")");
  if (dst.empty()) return;
  const std::size_t k = level * in.channels.size() + channel;
  if (s_->raw_chunks[k] && read_chunks_into(k, x0, y0, dst)) return;
  h5::Lock lock;
  hid_t ds = s_->data[k].get();
  h5::Hid fspace(H5Dget_space(ds), H5Sclose);
  const hsize_t start[3] = {0, y0, x0}, count[3] = {1, dst.height(), dst.width()};
  if (!fspace.ok() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0)
    throw InputError(path_, "cannot select a region: " + h5::error_text());
  // Memory space of the destination's full stride, so strided views are filled in place.
  const hsize_t mdims[3] = {1, dst.height(), dst.stride()};
  h5::Hid mspace(H5Screate_simple(3, mdims, nullptr), H5Sclose);
  const hsize_t mstart[3] = {0, 0, 0};
  if (!mspace.ok() || H5Sselect_hyperslab(mspace.get(), H5S_SELECT_SET, mstart, nullptr, count, nullptr) < 0)
    throw InputError(path_, "cannot select memory: " + h5::error_text());
  if (H5Dread(ds, H5T_NATIVE_UINT16, mspace.get(), fspace.get(), H5P_DEFAULT, dst.data()) < 0)
    throw InputError(path_, "cannot read level " + std::to_string(level) + " channel " + std::to_string(channel) + ": " +
                                h5::error_text());
}

bool ImsReader::read_chunks_into(std::size_t k, std::size_t x0, std::size_t y0, ImageView<std::uint16_t> dst) const {
  const hsize_t ch = s_->chunk_dims[k][1], cw = s_->chunk_dims[k][2];
  const std::size_t cy0 = y0 / ch, cy1 = (y0 + dst.height() - 1) / ch, cx0 = x0 / cw, cx1 = (x0 + dst.width() - 1) / cw;
  const std::size_t ncx = cx1 - cx0 + 1, n = (cy1 - cy0 + 1) * ncx;
  std::vector<std::vector<std::uint8_t>> bytes(n);
  {
    h5::Lock lock;
    hid_t ds = s_->data[k].get();
    for (std::size_t i = 0; i < n; ++i) {
      const hsize_t offset[3] = {0, (cy0 + i / ncx) * ch, (cx0 + i % ncx) * cw};
      hsize_t size = 0;
      if (H5Dget_chunk_storage_size(ds, offset, &size) < 0) return false;
      if (size == 0) continue;  // never written: the fill value, 0
      bytes[i].resize(size);
      std::uint32_t mask = 0;
      if (H5Dread_chunk(ds, H5P_DEFAULT, offset, &mask, bytes[i].data()) < 0 || mask != 0) return false;
    }
  }
  std::atomic<bool> failed{false};
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
    const std::size_t cx = (cx0 + i % ncx) * cw, cy = (cy0 + i / ncx) * ch;
    // The part of the region in this chunk, in level and in chunk coordinates.
    const std::size_t gx0 = std::max(cx, x0), gy0 = std::max(cy, y0);
    const std::size_t gx1 = std::min<std::size_t>(cx + cw, x0 + dst.width()), gy1 = std::min<std::size_t>(cy + ch, y0 + dst.height());
    const ImageView<std::uint16_t> out = dst.region(gx0 - x0, gy0 - y0, gx1 - gx0, gy1 - gy0);
    if (bytes[i].empty()) {
      for (std::size_t y = 0; y < out.height(); ++y) std::fill_n(out.row(y), out.width(), std::uint16_t{0});
      return;
    }
    try {
      const ImageU16 c = decode_ims_chunk(bytes[i].data(), bytes[i].size(), cw, ch);
      for (std::size_t y = 0; y < out.height(); ++y) std::copy_n(c.view().row(gy0 - cy + y) + (gx0 - cx), out.width(), out.row(y));
    } catch (const std::exception&) {
      failed = true;
    }
  });
  // A chunk that does not decode here goes through HDF5, which names the problem.
  return !failed;
}

ImageU16 ImsReader::read(std::size_t level, std::size_t channel, std::size_t x0, std::size_t y0, std::size_t w,
                         std::size_t h) const {
  ImageU16 out(w, h);
  read_into(level, channel, x0, y0, out.view());
  return out;
}

std::vector<std::uint64_t> ImsReader::histogram(std::size_t level, std::size_t channel, bool bins1024) const {
  const ImsInfo& in = info();
  if (level >= in.levels.size() || channel >= in.channels.size()) return {};
  h5::Lock lock;
  const std::string p = "/DataSet/ResolutionLevel " + std::to_string(level) + "/TimePoint 0/Channel " +
                        std::to_string(channel) + (bins1024 ? "/Histogram1024" : "/Histogram");
  if (H5Lexists(s_->file.get(), p.c_str(), H5P_DEFAULT) <= 0) return {};
  h5::Hid ds(H5Dopen2(s_->file.get(), p.c_str(), H5P_DEFAULT), H5Dclose);
  h5::Hid space(ds.ok() ? H5Dget_space(ds.get()) : H5I_INVALID_HID, H5Sclose);
  if (!space.ok()) return {};
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n <= 0) return {};
  std::vector<std::uint64_t> out(static_cast<std::size_t>(n));
  if (H5Dread(ds.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw InputError(path_, "cannot read " + p + ": " + h5::error_text());
  return out;
}

std::pair<double, double> level_factors(const ImsInfo& info, std::size_t level) {
  const ImsLevelInfo& l0 = info.levels.at(0);
  const ImsLevelInfo& l = info.levels.at(level);
  if (level < 63 && l.width == (l0.width >> level) && l.height == (l0.height >> level)) {
    const double f = std::ldexp(1.0, static_cast<int>(level));
    return {f, f};
  }
  return {std::max(1.0, std::round(double(l0.width) / double(std::max<std::size_t>(l.width, 1)))),
          std::max(1.0, std::round(double(l0.height) / double(std::max<std::size_t>(l.height, 1))))};
}

}  // namespace annamosaic
