#include "batch/fov_result.hpp"

#include <hdf5.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/hdf5_util.hpp"
#include "pyramid/chunk_codec.hpp"

namespace annamosaic {
namespace {

using h5::Hid;

void check(herr_t e, const std::string& path, const std::string& what) {
  // The space note first: HDF5's own text (errno 28 among a dozen stack lines) is long.
  if (e < 0) throw IoError(path, what + low_space_note(path) + ": " + h5::error_text());
}

// Datasets are stored as 256 x 256 float32 chunks, shuffled and deflated (level 1). The chunks
// are compressed on all cores before the HDF5 lock is taken and stored raw (H5Dwrite_chunk):
// HDF5 here is not thread-safe, and compressing inside H5Dwrite under the process-wide lock made
// a full-size FoV (2765^2 px, 5 datasets) take ~1 s on one core whatever the core count.
constexpr hsize_t kChunkPx = 256;
constexpr int kDeflateLevel = 1;

struct EncodedImage {
  const char* name = nullptr;
  hsize_t dims[2] = {0, 0}, chunk[2] = {0, 0};
  std::vector<std::vector<std::uint8_t>> chunks;  // row-major over the chunk grid
};

EncodedImage encode_image(const char* name, const ImageF& img) {
  EncodedImage e;
  e.name = name;
  if (img.empty()) return e;
  e.dims[0] = img.height();
  e.dims[1] = img.width();
  e.chunk[0] = std::min<hsize_t>(e.dims[0], kChunkPx);
  e.chunk[1] = std::min<hsize_t>(e.dims[1], kChunkPx);
  const std::size_t cy = (e.dims[0] + e.chunk[0] - 1) / e.chunk[0], cx = (e.dims[1] + e.chunk[1] - 1) / e.chunk[1];
  e.chunks.resize(cy * cx);
  tbb::parallel_for(std::size_t{0}, e.chunks.size(), [&](std::size_t i) {
    const std::size_t y0 = (i / cx) * e.chunk[0], x0 = (i % cx) * e.chunk[1];
    const std::size_t h = std::min<std::size_t>(e.chunk[0], img.height() - y0), w = std::min<std::size_t>(e.chunk[1], img.width() - x0);
    e.chunks[i] = encode_f32_chunk(img.view().region(x0, y0, w, h), e.chunk[1], e.chunk[0], kDeflateLevel);
  });
  return e;
}

void write_image(hid_t file, const EncodedImage& e, const std::string& path) {
  if (e.chunks.empty()) return;
  Hid space(H5Screate_simple(2, e.dims, nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), false);
  H5Pset_chunk(dcpl.get(), 2, e.chunk);
  H5Pset_shuffle(dcpl.get());
  H5Pset_deflate(dcpl.get(), kDeflateLevel);
  Hid ds(H5Dcreate2(file, e.name, H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) throw IoError(path, std::string("cannot create dataset ") + e.name + ": " + h5::error_text());
  const std::size_t cx = (e.dims[1] + e.chunk[1] - 1) / e.chunk[1];
  for (std::size_t i = 0; i < e.chunks.size(); ++i) {
    const hsize_t offset[2] = {(i / cx) * e.chunk[0], (i % cx) * e.chunk[1]};
    check(H5Dwrite_chunk(ds.get(), H5P_DEFAULT, /*filter mask: all applied*/ 0, offset, e.chunks[i].size(), e.chunks[i].data()),
          path, std::string("cannot write ") + e.name);
  }
}

template <class T>
void write_attr(hid_t obj, const char* name, hid_t type, const T& value, const std::string& path) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid a(H5Acreate2(obj, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(a.ok() ? H5Awrite(a.get(), type, &value) : -1, path, std::string("cannot write attribute ") + name);
}
void write_str_attr(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<std::size_t>(1, value.size()));
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid a(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const std::string v = value.empty() ? std::string(1, '\0') : value;
  check(a.ok() ? H5Awrite(a.get(), type.get(), v.data()) : -1, path, std::string("cannot write attribute ") + name);
}

template <class T>
T read_attr(hid_t obj, const char* name, hid_t type, const std::string& path) {
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw InputError(path, std::string("missing attribute ") + name);
  T v{};
  check(H5Aread(a.get(), type, &v), path, std::string("cannot read attribute ") + name);
  return v;
}
std::string read_str_attr(hid_t obj, const char* name, const std::string& path) {
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) throw InputError(path, std::string("missing attribute ") + name);
  Hid type(H5Aget_type(a.get()), H5Tclose);
  std::string s(H5Tget_size(type.get()), '\0');
  check(H5Aread(a.get(), type.get(), s.data()), path, std::string("cannot read attribute ") + name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

// A dataset as read under the HDF5 lock: the stored chunks when it has exactly write_image's
// layout (2-D float32 LE, chunked, shuffle then deflate, every filter applied), to be
// decompressed on all cores after the lock is released; otherwise (a file written by other
// software) decoded by HDF5 itself.
struct StoredImage {
  bool present = false, raw = false;
  hsize_t dims[2] = {0, 0}, chunk[2] = {0, 0};
  std::vector<std::vector<std::uint8_t>> chunks;  // raw: row-major over the chunk grid; empty = not stored (zeros)
  ImageF decoded;                                 // !raw
};

StoredImage read_stored(hid_t file, const char* name, const std::string& path) {
  StoredImage im;
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return im;
  im.present = true;
  Hid ds(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) throw InputError(path, std::string("bad dataset ") + name + ": " + h5::error_text());
  Hid space(H5Dget_space(ds.get()), H5Sclose);
  const int ndims = H5Sget_simple_extent_ndims(space.get());
  if (ndims != 2) throw InputError(path, std::string("bad dataset ") + name + " (not 2-D)");
  H5Sget_simple_extent_dims(space.get(), im.dims, nullptr);
  if (h5::shuffle_deflate_chunked(ds.get(), H5T_IEEE_F32LE, 2, im.chunk)) {
    im.raw = true;
    const std::size_t cy = (im.dims[0] + im.chunk[0] - 1) / im.chunk[0], cx = (im.dims[1] + im.chunk[1] - 1) / im.chunk[1];
    im.chunks.resize(cy * cx);
    for (std::size_t i = 0; i < im.chunks.size() && im.raw; ++i) {
      const hsize_t offset[2] = {(i / cx) * im.chunk[0], (i % cx) * im.chunk[1]};
      hsize_t bytes = 0;
      if (H5Dget_chunk_storage_size(ds.get(), offset, &bytes) < 0 || bytes == 0) continue;  // never written: zeros
      im.chunks[i].resize(bytes);
      std::uint32_t mask = 0;
      if (H5Dread_chunk(ds.get(), H5P_DEFAULT, offset, &mask, im.chunks[i].data()) < 0)
        throw InputError(path, std::string("cannot read ") + name + ": " + h5::error_text());
      if (mask != 0) im.raw = false;  // a filter was skipped for this chunk: let HDF5 decode
    }
  }
  if (!im.raw) {
    im.chunks.clear();
    im.decoded = ImageF(im.dims[1], im.dims[0]);
    if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, im.decoded.data()) < 0)
      throw InputError(path, std::string("cannot read ") + name + ": " + h5::error_text());
  }
  return im;
}

// Decompresses the stored chunks in parallel (outside the HDF5 lock). InputError naming the
// file and dataset for corrupt chunks.
ImageF decode_stored(StoredImage&& im, const char* name, const std::string& path) {
  if (!im.present) return ImageF();
  if (!im.raw) return std::move(im.decoded);
  ImageF img(im.dims[1], im.dims[0]);
  const std::size_t cx = (im.dims[1] + im.chunk[1] - 1) / im.chunk[1];
  std::string failure;
  std::mutex failure_mutex;
  tbb::parallel_for(std::size_t{0}, im.chunks.size(), [&](std::size_t i) {
    const std::size_t y0 = (i / cx) * im.chunk[0], x0 = (i % cx) * im.chunk[1];
    const std::size_t h = std::min<std::size_t>(im.chunk[0], img.height() - y0), w = std::min<std::size_t>(im.chunk[1], img.width() - x0);
    const ImageView<float> dst = img.view().region(x0, y0, w, h);
    if (im.chunks[i].empty()) {
      for (std::size_t y = 0; y < h; ++y) std::fill_n(dst.row(y), w, 0.0f);
      return;
    }
    try {
      decode_f32_chunk_into(im.chunks[i].data(), im.chunks[i].size(), im.chunk[1], im.chunk[0], dst);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      failure = e.what();
    }
  });
  if (!failure.empty()) throw InputError(path, std::string("corrupt chunk in ") + name + ": " + failure);
  return img;
}

}  // namespace

void write_fov_result(const std::string& path, const FovResult& r) {
  // Compression first, on all cores; HDF5 (under its process-wide lock) only stores the bytes.
  const EncodedImage images[] = {encode_image("sparse", r.sparse), encode_image("widefield", r.widefield),
                                 encode_image("reconstruction", r.reconstruction), encode_image("q", r.q),
                                 encode_image("error_map", r.error_map)};
  h5::Lock lock;
  AtomicFile out(path);
  {
    Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl.get(), false);  // root group: no timestamps either
    h5::NewFile file = h5::NewFile::create(out.temp_path(), fcpl.get(), H5P_DEFAULT);
    if (!file.ok()) throw IoError(path, "cannot create HDF5 file: " + file.error() + low_space_note(path));
    const hid_t f = file.get();
    for (const EncodedImage& e : images) write_image(f, e, path);
    // What each image holds, in the file itself (a reader with h5py and no one to ask).
    struct Described {
      const char* name;
      double pixel_nm;
      const char* description;
    };
    const Described described[] = {
        {"sparse", r.pixel_nm, "localizations per pixel (counts) in the frame window: the A-net's input S"},
        {"widefield", r.pixel_nm, "the widefield (camera counts, ADU), registered to the localizations and resampled to this grid"},
        {"reconstruction", r.pixel_nm, "the A-net's reconstruction A, 0..1 (scaled per FoV)"},
        {"q", 4 * r.pixel_nm, "the low-resolution estimate Q(A) of the widefield, on a grid 4 times coarser"},
        {"error_map", 4 * r.pixel_nm,
         "error map E: local dissimilarity of Q(A) and the widefield, 0 where they agree, larger where they differ (about "
         "0..1, a little above 1 at worst); its mean is the root's error_score"}};
    for (const Described& d : described)
      if (H5Lexists(f, d.name, H5P_DEFAULT) > 0) {
        Hid ds(H5Dopen2(f, d.name, H5P_DEFAULT), H5Dclose);
        write_attr(ds.get(), "pixel_nm", H5T_NATIVE_DOUBLE, d.pixel_nm, path);
        write_str_attr(ds.get(), "description", d.description, path);
      }
    Hid root(H5Gopen2(f, "/", H5P_DEFAULT), H5Gclose);
    write_str_attr(root.get(), "about",
                   "x_um, y_um: the FoV's nominal stage position (its top-left corner, as positions.csv gives it); where "
                   "it lies in the mosaic is in layout.json. status: ok, or degraded (the FoV failed, reason says why, and "
                   "its tile is the reconstruction from its widefield alone: error_score is NaN). wf_shift_*_px (in the "
                   "widefield's pixels, wf_pixel_nm each: a binned widefield's are larger than the camera's) and "
                   "wf_confidence are NaN without a registered widefield. frames_first, frames_end: the "
                   "camera frames rendered into sparse, [first, end) in the table's own frame numbers (-1: none). "
                   "inference: how the A-net made reconstruction (device, precision, whole FoV or tiles; empty when it "
                   "did not run); software: the annamosaic that wrote this file",
                   path);
    write_attr(root.get(), "id", H5T_NATIVE_INT, r.id, path);
    write_attr(root.get(), "row", H5T_NATIVE_INT, r.row, path);
    write_attr(root.get(), "col", H5T_NATIVE_INT, r.col, path);
    write_attr(root.get(), "x_um", H5T_NATIVE_DOUBLE, r.x_um, path);
    write_attr(root.get(), "y_um", H5T_NATIVE_DOUBLE, r.y_um, path);
    write_attr(root.get(), "pixel_nm", H5T_NATIVE_DOUBLE, r.pixel_nm, path);
    write_attr(root.get(), "localizations", H5T_NATIVE_LLONG, r.localizations, path);
    write_attr(root.get(), "frames_first", H5T_NATIVE_LLONG, r.frames_first, path);
    write_attr(root.get(), "frames_end", H5T_NATIVE_LLONG, r.frames_end, path);
    write_attr(root.get(), "wf_shift_x_px", H5T_NATIVE_DOUBLE, r.wf_shift_x_px, path);
    write_attr(root.get(), "wf_shift_y_px", H5T_NATIVE_DOUBLE, r.wf_shift_y_px, path);
    write_attr(root.get(), "wf_confidence", H5T_NATIVE_DOUBLE, r.wf_confidence, path);
    write_attr(root.get(), "wf_pixel_nm", H5T_NATIVE_DOUBLE, r.wf_pixel_nm, path);
    write_attr(root.get(), "error_score", H5T_NATIVE_DOUBLE, r.error_score, path);
    write_str_attr(root.get(), "status", r.status, path);
    // HDF5 keeps an attribute in its object header (64 KiB at most): a reason that long (one
    // quoting a huge path) is cut here; manifest.jsonl has it whole.
    constexpr std::size_t kMaxReasonBytes = 16384;
    write_str_attr(root.get(), "reason",
                   r.reason.size() <= kMaxReasonBytes ? r.reason
                                                      : r.reason.substr(0, kMaxReasonBytes) + "... (cut: manifest.jsonl has it whole)",
                   path);
    write_str_attr(root.get(), "inference", r.inference, path);
    write_str_attr(root.get(), "software", "annamosaic " + annamosaic_version(), path);
    root = Hid();  // closed before the file (NewFile's rule)
    if (!file.finish()) throw IoError(path, "cannot finish the HDF5 file: " + file.error() + low_space_note(path));
  }
  out.commit();
}

FovResult read_fov_result(const std::string& path, const std::vector<std::string>& datasets) {
  static const char* const kNames[] = {"sparse", "widefield", "reconstruction", "q", "error_map"};
  StoredImage stored[5];
  FovResult r;
  {
    h5::Lock lock;
    Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) throw InputError(path, "cannot open FoV result: " + h5::error_text());
    Hid root(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose);
    r.id = read_attr<int>(root.get(), "id", H5T_NATIVE_INT, path);
    r.row = read_attr<int>(root.get(), "row", H5T_NATIVE_INT, path);
    r.col = read_attr<int>(root.get(), "col", H5T_NATIVE_INT, path);
    r.x_um = read_attr<double>(root.get(), "x_um", H5T_NATIVE_DOUBLE, path);
    r.y_um = read_attr<double>(root.get(), "y_um", H5T_NATIVE_DOUBLE, path);
    r.pixel_nm = read_attr<double>(root.get(), "pixel_nm", H5T_NATIVE_DOUBLE, path);
    r.localizations = read_attr<long long>(root.get(), "localizations", H5T_NATIVE_LLONG, path);
    // Recorded since 2026-12-05: older results read as unknown.
    if (H5Aexists(root.get(), "frames_first") > 0) {
      r.frames_first = read_attr<long long>(root.get(), "frames_first", H5T_NATIVE_LLONG, path);
      r.frames_end = read_attr<long long>(root.get(), "frames_end", H5T_NATIVE_LLONG, path);
    }
    r.wf_shift_x_px = read_attr<double>(root.get(), "wf_shift_x_px", H5T_NATIVE_DOUBLE, path);
    r.wf_shift_y_px = read_attr<double>(root.get(), "wf_shift_y_px", H5T_NATIVE_DOUBLE, path);
    r.wf_confidence = read_attr<double>(root.get(), "wf_confidence", H5T_NATIVE_DOUBLE, path);
    if (H5Aexists(root.get(), "wf_pixel_nm") > 0)  // recorded since 2026-12-07
      r.wf_pixel_nm = read_attr<double>(root.get(), "wf_pixel_nm", H5T_NATIVE_DOUBLE, path);
    r.error_score = read_attr<double>(root.get(), "error_score", H5T_NATIVE_DOUBLE, path);
    r.status = read_str_attr(root.get(), "status", path);
    r.reason = read_str_attr(root.get(), "reason", path);
    for (auto [name, dst] : {std::pair{"inference", &r.inference}, std::pair{"software", &r.software}})
      if (H5Aexists(root.get(), name) > 0) *dst = read_str_attr(root.get(), name, path);  // older files lack them
    auto want = [&](const char* n) { return datasets.empty() || std::find(datasets.begin(), datasets.end(), n) != datasets.end(); };
    for (int k = 0; k < 5; ++k)
      if (want(kNames[k])) stored[k] = read_stored(file.get(), kNames[k], path);
  }
  ImageF* dst[] = {&r.sparse, &r.widefield, &r.reconstruction, &r.q, &r.error_map};
  for (int k = 0; k < 5; ++k) *dst[k] = decode_stored(std::move(stored[k]), kNames[k], path);
  return r;
}

}  // namespace annamosaic
