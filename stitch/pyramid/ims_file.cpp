#include "pyramid/ims_file.hpp"

#include <fmt/format.h>

#include <cstdio>

#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "pyramid/metadata_text.hpp"

namespace annamosaic {
namespace {

std::string level_group(std::size_t r) { return "/DataSet/ResolutionLevel " + std::to_string(r); }
std::string channel_group(std::size_t r, std::size_t c) {
  return level_group(r) + "/TimePoint 0/Channel " + std::to_string(c);
}

// "r g b" with three decimals, as Imaris writes colours.
std::string imaris_color(const std::string& rgb) {
  double v[3] = {1, 1, 1};
  if (std::sscanf(rgb.c_str(), "%lf %lf %lf", &v[0], &v[1], &v[2]) != 3)
    throw std::invalid_argument("channel colour '" + rgb + "' is not \"r g b\"");
  return fmt::format("{:.3f} {:.3f} {:.3f}", v[0], v[1], v[2]);
}

}  // namespace

void ImsFile::fail(const std::string& what) const {
  throw IoError(final_, what + ": " + h5::error_text() + low_space_note(final_));
}

ImsFile::~ImsFile() { abandon(); }

void ImsFile::abandon() noexcept {
  h5::Lock lock;
  file_.detach_from_disk();  // before anything closes: a data set's close writes too
  data_.clear();
  groups_.clear();
  file_.abandon();
}

void ImsFile::create(const std::vector<LevelSize>& levels, std::size_t channels, int deflate_level) {
  h5::Lock lock;
  channels_ = channels;
  h5::Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok()) fail("H5Pcreate");
  // Serial driver on purpose (H5Dwrite_chunk is unsafe through MPI-IO in 1.10). 1.8-compatible
  // objects, as ImarisWriter writes them: every viewer's HDF5 reads them.
  if (H5Pset_fapl_sec2(fapl.get()) < 0) fail("H5Pset_fapl_sec2");
  if (H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) fail("H5Pset_libver_bounds");
  file_ = h5::NewFile::create(temp_, H5P_DEFAULT, fapl.get());
  if (!file_.ok()) throw IoError(final_, "cannot create the temporary file " + temp_ + ": " + file_.error() + low_space_note(final_));

  for (const char* g : {"/DataSet", "/DataSetInfo"}) {
    h5::Hid grp(H5Gcreate2(file_.get(), g, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!grp.ok()) fail(std::string("cannot create group ") + g);
  }
  data_.clear();
  groups_.clear();
  for (std::size_t r = 0; r < levels.size(); ++r) {
    h5::Hid lg(H5Gcreate2(file_.get(), level_group(r).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!lg.ok()) fail("cannot create " + level_group(r));
    h5::Hid tg(H5Gcreate2(lg.get(), "TimePoint 0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!tg.ok()) fail("cannot create " + level_group(r) + "/TimePoint 0");
    const hsize_t dims[3] = {1, levels[r].padded_height(), levels[r].padded_width()};
    const hsize_t chunk[3] = {1, kChunkHeight, kChunkWidth};
    h5::Hid space(H5Screate_simple(3, dims, nullptr), H5Sclose);
    h5::Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (!space.ok() || !dcpl.ok()) fail("cannot create a dataspace");
    // Filter order matters: the chunks are encoded as shuffle, then deflate (chunk_codec.hpp).
    if (H5Pset_chunk(dcpl.get(), 3, chunk) < 0 || H5Pset_shuffle(dcpl.get()) < 0 ||
        H5Pset_deflate(dcpl.get(), static_cast<unsigned>(deflate_level)) < 0 ||
        H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0 || H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_INCR) < 0)
      fail("cannot set the chunking/filters");
    for (std::size_t c = 0; c < channels; ++c) {
      const std::string name = "Channel " + std::to_string(c);
      h5::Hid cg(H5Gcreate2(tg.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      if (!cg.ok()) fail("cannot create " + channel_group(r, c));
      h5::Hid ds(H5Dcreate2(cg.get(), "Data", H5T_STD_U16LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                 H5Dclose);
      if (!ds.ok()) fail("cannot create " + channel_group(r, c) + "/Data");
      data_.push_back(std::move(ds));
      groups_.push_back(std::move(cg));
    }
  }
}

void ImsFile::write_chunk(std::size_t level, std::size_t channel, std::size_t cy, std::size_t cx,
                          const std::vector<std::uint8_t>& bytes) {
  h5::Lock lock;
  const hsize_t offset[3] = {0, cy * kChunkHeight, cx * kChunkWidth};
  if (H5Dwrite_chunk(data_.at(level * channels_ + channel).get(), H5P_DEFAULT, 0, offset, bytes.size(), bytes.data()) < 0)
    fail(fmt::format("cannot write chunk (level {}, channel {}, y {}, x {})", level, channel, cy, cx));
}

std::vector<std::uint16_t> ImsFile::read_level(std::size_t level, std::size_t channel, std::size_t w, std::size_t h) {
  h5::Lock lock;
  hid_t ds = data_.at(level * channels_ + channel).get();
  h5::Hid fspace(H5Dget_space(ds), H5Sclose);
  const hsize_t start[3] = {0, 0, 0}, count[3] = {1, h, w};
  if (!fspace.ok() || H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0)
    fail("cannot select level " + std::to_string(level));
  h5::Hid mspace(H5Screate_simple(3, count, nullptr), H5Sclose);
  std::vector<std::uint16_t> out(w * h);
  if (!mspace.ok() || H5Dread(ds, H5T_NATIVE_UINT16, mspace.get(), fspace.get(), H5P_DEFAULT, out.data()) < 0)
    fail("cannot read back level " + std::to_string(level));
  return out;
}

void ImsFile::write_metadata(const ImsMetadata& m) {
  h5::Lock lock;
  const MosaicInfo& info = *m.info;
  const auto& levels = *m.levels;
  const std::size_t nc = info.channels.size();
  auto text = [&](hid_t obj, const std::string& where, const std::string& name, const std::string& value) {
    if (!h5::write_text_attr(obj, name, value)) fail("cannot write attribute " + where + "@" + name);
  };

  h5::Hid root(H5Gopen2(file_.get(), "/", H5P_DEFAULT), H5Gclose);
  if (!root.ok()) fail("cannot open /");
  text(root.get(), "/", "ImarisDataSet", "ImarisDataSet");
  text(root.get(), "/", "ImarisVersion", "5.5.0");
  text(root.get(), "/", "DataSetDirectoryName", "DataSet");
  text(root.get(), "/", "DataSetInfoDirectoryName", "DataSetInfo");
  text(root.get(), "/", "ThumbnailDirectoryName", "Thumbnail");
  if (!h5::write_u32_attr(root.get(), "NumberOfDataSets", 1)) fail("cannot write /@NumberOfDataSets");

  for (std::size_t r = 0; r < levels.size(); ++r) {
    for (std::size_t c = 0; c < nc; ++c) {
      const hid_t g = groups_.at(r * nc + c).get();
      const std::string where = channel_group(r, c);
      text(g, where, "ImageSizeX", std::to_string(levels[r].width));
      text(g, where, "ImageSizeY", std::to_string(levels[r].height));
      text(g, where, "ImageSizeZ", "1");
      text(g, where, "ImageBlockSizeX", std::to_string(kChunkWidth));
      text(g, where, "ImageBlockSizeY", std::to_string(kChunkHeight));
      text(g, where, "ImageBlockSizeZ", "1");
      const FullHistogram& full = m.histograms->at(r * nc + c);
      for (std::size_t bins : {std::size_t{256}, std::size_t{1024}}) {
        const BinnedHistogram h = rebin_histogram(full, bins);
        const std::string suffix = bins == 256 ? "" : "1024";
        text(g, where, "HistogramMin" + suffix, std::to_string(h.min));
        text(g, where, "HistogramMax" + suffix, std::to_string(h.max));
        const hsize_t n = bins;
        h5::Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
        h5::Hid ds(H5Dcreate2(g, ("Histogram" + suffix).c_str(), H5T_STD_U64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT),
                   H5Dclose);
        if (!space.ok() || !ds.ok() ||
            H5Dwrite(ds.get(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, h.counts.data()) < 0)
          fail("cannot write " + where + "/Histogram" + suffix);
      }
    }
  }

  h5::Hid dsi(H5Gopen2(file_.get(), "/DataSetInfo", H5P_DEFAULT), H5Gclose);
  if (!dsi.ok()) fail("cannot open /DataSetInfo");
  auto group = [&](const std::string& name) {
    h5::Hid g = h5::open_or_create_group(dsi.get(), name);
    if (!g.ok()) fail("cannot create /DataSetInfo/" + name);
    return g;
  };
  const double px_um = info.pixel_nm / 1000.0;
  {
    h5::Hid g = group("Image");
    const std::string w = "/DataSetInfo/Image";
    text(g.get(), w, "X", std::to_string(info.width_px));
    text(g.get(), w, "Y", std::to_string(info.height_px));
    text(g.get(), w, "Z", "1");
    text(g.get(), w, "Unit", "um");
    // Edges of the bounding box in stage coordinates: readers take (ExtMax - ExtMin) / size as
    // the pixel size and ExtMin as the position.
    text(g.get(), w, "ExtMin0", format_number(info.origin_x_um));
    text(g.get(), w, "ExtMin1", format_number(info.origin_y_um));
    text(g.get(), w, "ExtMin2", "0");
    text(g.get(), w, "ExtMax0", format_number(info.origin_x_um + double(info.width_px) * px_um));
    text(g.get(), w, "ExtMax1", format_number(info.origin_y_um + double(info.height_px) * px_um));
    text(g.get(), w, "ExtMax2", format_number(px_um));  // one voxel thick: ExtMax2 > ExtMin2
    text(g.get(), w, "Name", info.name.empty() ? "(name not specified)" : info.name);
    text(g.get(), w, "Description", m.description.empty() ? "(description not specified)" : m.description);
    text(g.get(), w, "RecordingDate", m.recording_date);
    text(g.get(), w, "ResampleDimensionX", "true");
    text(g.get(), w, "ResampleDimensionY", "true");
    text(g.get(), w, "ResampleDimensionZ", "true");
  }
  for (std::size_t c = 0; c < nc; ++c) {
    const ChannelInfo& ch = info.channels[c];
    h5::Hid g = group("Channel " + std::to_string(c));
    const std::string w = "/DataSetInfo/Channel " + std::to_string(c);
    const FullHistogram& full = m.histograms->at(c);  // level 0
    const auto [lo, hi] = display_range(full);
    text(g.get(), w, "Name", ch.name.empty() ? "channel " + std::to_string(c) : ch.name);
    text(g.get(), w, "Description", ch.description.empty() ? (ch.name.empty() ? "(description not specified)" : ch.name)
                                                           : ch.description);
    text(g.get(), w, "Color", imaris_color(ch.color));
    text(g.get(), w, "ColorMode", "BaseColor");
    text(g.get(), w, "ColorOpacity", "1.000");
    text(g.get(), w, "ColorRange", fmt::format("{:.3f} {:.3f}", double(lo), double(hi)));
    text(g.get(), w, "GammaCorrection", "1.000");
    text(g.get(), w, "QuantisationScale", format_number(ch.scale));
    text(g.get(), w, "QuantisationRule", "stored uint16 = round(value * QuantisationScale), saturated to 0..65535; "
                                         "value = stored / QuantisationScale");
  }
  {
    h5::Hid g = group("TimeInfo");
    text(g.get(), "/DataSetInfo/TimeInfo", "DatasetTimePoints", "1");
    text(g.get(), "/DataSetInfo/TimeInfo", "FileTimePoints", "1");
    text(g.get(), "/DataSetInfo/TimeInfo", "TimePoint1", m.recording_date);
  }
  {
    h5::Hid g = group("ImarisDataSet");
    text(g.get(), "/DataSetInfo/ImarisDataSet", "Creator", "annamosaic");
    text(g.get(), "/DataSetInfo/ImarisDataSet", "Version", annamosaic_version());
    text(g.get(), "/DataSetInfo/ImarisDataSet", "NumberOfImages", "1");
  }
  {
    h5::Hid g = group("Log");
    text(g.get(), "/DataSetInfo/Log", "Entries", "0");
  }
  {
    h5::Hid g = group("Annamosaic");
    for (const auto& [k, v] : m.annamosaic_attrs) text(g.get(), "/DataSetInfo/Annamosaic", k, v);
  }
  if (!m.thumbnail_rgba.empty()) {
    h5::Hid g(H5Gcreate2(file_.get(), "/Thumbnail", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    const hsize_t dims[2] = {m.thumbnail_size, 4 * m.thumbnail_size};  // RGBA interleaved rows, as Imaris
    h5::Hid space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    if (!g.ok() || !space.ok()) fail("cannot create /Thumbnail");
    h5::Hid ds(H5Dcreate2(g.get(), "Data", H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!ds.ok() || H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.thumbnail_rgba.data()) < 0)
      fail("cannot write /Thumbnail/Data");
  }
}

void ImsFile::close() {
  h5::Lock lock;
  bool ok = true;
  std::string what;
  for (auto& d : data_)
    if (ok && !d.close()) ok = false, what = "cannot close a data set";
  for (auto& g : groups_)
    if (ok && !g.close()) ok = false, what = "cannot close a group";
  // Flush before closing: a flush failure is then reported and the file abandoned safely
  // (see abandon()); a clean cache makes the H5Fclose below write nothing.
  if (ok && H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) ok = false, what = "cannot flush " + temp_;
  if (!ok) {
    const std::string err = h5::error_text();
    abandon();
    throw IoError(final_, what + ": " + err);
  }
  data_.clear();
  groups_.clear();
  if (!file_.finish()) throw IoError(final_, "cannot close " + temp_ + ": " + file_.error() + low_space_note(final_));
}

}  // namespace annamosaic
