#include "anet/model_file.hpp"

#include <algorithm>
#include <cmath>
#include <hdf5.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/hdf5_util.hpp"
#include "sim/specimen.hpp"

namespace annamosaic::anet {
namespace {

using h5::Hid;

// ---- writing ----

struct Writer {
  std::string path;  // for messages (the final name)
  void check(herr_t r, const std::string& what) const {
    if (r < 0) throw IoError(path, what + ": " + h5::error_text());
  }
  Hid checked(hid_t id, herr_t (*close)(hid_t), const std::string& what) const {
    if (id < 0) throw IoError(path, what + ": " + h5::error_text());
    return Hid(id, close);
  }
  void attr_string(hid_t obj, const std::string& name, const std::string& value) const {
    Hid type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
    check(H5Tset_size(type.get(), H5T_VARIABLE), "string type");
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "string type");
    Hid space = checked(H5Screate(H5S_SCALAR), H5Sclose, "attribute space");
    Hid a = checked(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                    "attribute " + name);
    const char* p = value.c_str();
    check(H5Awrite(a.get(), type.get(), &p), "attribute " + name);
  }
  void attr_double(hid_t obj, const std::string& name, double value) const {
    Hid space = checked(H5Screate(H5S_SCALAR), H5Sclose, "attribute space");
    Hid a = checked(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                    "attribute " + name);
    check(H5Awrite(a.get(), H5T_NATIVE_DOUBLE, &value), "attribute " + name);
  }
  void attr_int(hid_t obj, const std::string& name, std::int64_t value) const {
    Hid space = checked(H5Screate(H5S_SCALAR), H5Sclose, "attribute space");
    Hid a = checked(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                    "attribute " + name);
    check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), "attribute " + name);
  }
  void array(hid_t group, const NamedArray& arr) const {
    const std::int64_t n = std::accumulate(arr.shape.begin(), arr.shape.end(), std::int64_t{1}, std::multiplies<>());
    if (n != static_cast<std::int64_t>(arr.data.size()))
      throw std::logic_error("model file: array " + arr.name + " has " + std::to_string(arr.data.size()) +
                             " values for its shape");
    std::vector<hsize_t> dims(arr.shape.begin(), arr.shape.end());
    Hid space = dims.empty() ? checked(H5Screate(H5S_SCALAR), H5Sclose, "dataspace")
                             : checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
                                       "dataspace");
    // Each array chunked whole with a Fletcher-32 checksum, which HDF5 checks on every read: a
    // damaged copy (a bad disk, a transfer cut short) is refused rather than reconstructing with
    // altered weights. Scalars and empty arrays cannot be chunked.
    Hid dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset properties");
    if (!dims.empty() && n > 0) {
      check(H5Pset_chunk(dcpl.get(), static_cast<int>(dims.size()), dims.data()), "dataset " + arr.name);
      check(H5Pset_fletcher32(dcpl.get()), "dataset " + arr.name);
    }
    Hid ds = checked(H5Dcreate2(group, arr.name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                     H5Dclose, "dataset " + arr.name);
    if (n > 0) check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, arr.data.data()), "dataset " + arr.name);
  }
};

// ---- reading ----

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& what) const { throw InputError(path, what); }
  bool has_attr(hid_t obj, const std::string& name) const { return H5Aexists(obj, name.c_str()) > 0; }
  std::string attr_string(hid_t obj, const std::string& name) const {
    if (!has_attr(obj, name)) fail("missing attribute '" + name + "'");
    Hid a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!a.ok()) fail("cannot open attribute '" + name + "': " + h5::error_text());
    Hid ftype(H5Aget_type(a.get()), H5Tclose);
    if (!ftype.ok()) fail("cannot read the type of attribute '" + name + "': " + h5::error_text());
    if (H5Tget_class(ftype.get()) != H5T_STRING) fail("attribute '" + name + "' is not a string");
    if (H5Tis_variable_str(ftype.get()) > 0) {
      Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
      if (!mtype.ok() || H5Tset_size(mtype.get(), H5T_VARIABLE) < 0 || H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get())) < 0)
        fail("cannot read attribute '" + name + "': " + h5::error_text());
      char* p = nullptr;
      if (H5Aread(a.get(), mtype.get(), &p) < 0) fail("cannot read attribute '" + name + "': " + h5::error_text());
      std::string s = p ? p : "";
      if (p) H5free_memory(p);
      return s;
    }
    // Fixed-length strings (e.g. written by other tools).
    const std::size_t size = H5Tget_size(ftype.get());
    if (size == 0 || size > (std::size_t{1} << 24)) fail("attribute '" + name + "' has a string size of " + std::to_string(size));
    std::string s(size, '\0');
    Hid mtype(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!mtype.ok() || H5Tset_size(mtype.get(), size) < 0) fail("cannot read attribute '" + name + "': " + h5::error_text());
    if (H5Aread(a.get(), mtype.get(), s.data()) < 0) fail("cannot read attribute '" + name + "': " + h5::error_text());
    s.resize(std::min(s.size(), s.find('\0')));
    return s;
  }
  double attr_double(hid_t obj, const std::string& name) const {
    if (!has_attr(obj, name)) fail("missing attribute '" + name + "'");
    Hid a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    double v = 0;
    if (!a.ok() || H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0)
      fail("cannot read numeric attribute '" + name + "': " + h5::error_text());
    return v;
  }
  int attr_int(hid_t obj, const std::string& name) const {
    const double v = attr_double(obj, name);
    if (v != static_cast<double>(static_cast<int>(v))) fail("attribute '" + name + "' is not an integer");
    return static_cast<int>(v);
  }
  NamedArray array(hid_t group, const std::string& group_name, const std::string& name) const {
    const std::string where = group_name + "/" + name;
    Hid ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) fail("cannot open dataset '" + where + "': " + h5::error_text());
    Hid space(H5Dget_space(ds.get()), H5Sclose);
    const int nd = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (nd < 0) fail("dataset '" + where + "': " + h5::error_text());
    std::vector<hsize_t> dims(static_cast<std::size_t>(nd));
    if (nd > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      fail("dataset '" + where + "': " + h5::error_text());
    Hid type(H5Dget_type(ds.get()), H5Tclose);
    if (!type.ok()) fail("cannot read the type of dataset '" + where + "': " + h5::error_text());
    if (H5Tget_class(type.get()) != H5T_FLOAT) fail("dataset '" + where + "' is not floating point");
    NamedArray arr;
    arr.name = name;
    // A weight array past 2^32 values (16 GiB) is no A-net's, and the product could wrap.
    constexpr std::size_t kMaxValues = std::size_t{1} << 32;
    std::size_t n = 1;
    for (hsize_t d : dims) {
      arr.shape.push_back(static_cast<std::int64_t>(d));
      if (d > 0 && n > kMaxValues / d) fail("dataset '" + where + "' is larger than any A-net's weights: a damaged model file?");
      n *= static_cast<std::size_t>(d);
    }
    arr.data.resize(n);
    if (n > 0 && H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, arr.data.data()) < 0) {
      const std::string why = h5::error_text();
      Hid dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
      unsigned flags = 0;
      std::size_t nelmts = 0;
      char filter_name[32];
      // HDF5 says "Fletcher32 checksum" when the data fail it; a file cut short fails otherwise.
      const bool checksummed = dcpl.ok() &&
                               H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_FLETCHER32, &flags, &nelmts, nullptr,
                                                    sizeof filter_name, filter_name, nullptr) >= 0 &&
                               why.find("Fletcher32") != std::string::npos;
      fail("cannot read dataset '" + where + "'" +
           (checksummed ? ": its checksum does not match its data, the file is damaged (copy it again from where it came "
                          "from, or retrain)"
                        : " (truncated or corrupt file?)") +
           ": " + why);
    }
    // A convolution's weights are never all zero once initialised; a chunk zeroed whole (its
    // Fletcher-32 checksum with it, which is then 0 and matches) would pass the checksum.
    if (group_name.rfind("adam", 0) != 0 && name.find("conv") != std::string::npos && name.size() >= 6 &&
        name.compare(name.size() - 6, 6, "weight") == 0 &&
        n > 1 && std::all_of(arr.data.begin(), arr.data.end(), [](float v) { return v == 0.0f; }))
      fail("dataset '" + where + "' is all zeros: a convolution's weights never are; the file is damaged (copy it again, or "
           "retrain)");
    // One NaN or infinity in a weight makes every output NaN: refuse the model, not each FoV.
    if (const auto bad = std::find_if(arr.data.begin(), arr.data.end(), [](float v) { return !std::isfinite(v); });
        bad != arr.data.end())
      fail("dataset '" + where + "' holds a non-finite value (" + std::to_string(*bad) + " at element " +
           std::to_string(bad - arr.data.begin()) + "): the model is corrupt or its training diverged");
    return arr;
  }
};

struct LinkList {
  std::vector<std::string> names;
  std::vector<H5O_type_t> types;
};
herr_t collect_link(hid_t group, const char* name, const H5L_info_t*, void* out) {
  auto* l = static_cast<LinkList*>(out);
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  if (H5Oget_info_by_name3(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#else
  if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#endif
  l->names.emplace_back(name);
  l->types.push_back(info.type);
  return 0;
}

// Walks groups recursively; a group holding datasets becomes one entry of `groups`.
void read_groups(const Reader& r, hid_t parent, const std::string& prefix, bool with_arrays, ModelFile& out) {
  LinkList links;
  // Creation order is tracked (see write_model_file), so arrays come back in module order.
  hsize_t idx = 0;
  const H5_index_t order = [&] {
    Hid gcpl(H5Gget_create_plist(parent), H5Pclose);
    unsigned flags = 0;
    if (gcpl.ok() && H5Pget_link_creation_order(gcpl.get(), &flags) >= 0 && (flags & H5P_CRT_ORDER_TRACKED))
      return H5_INDEX_CRT_ORDER;
    return H5_INDEX_NAME;
  }();
  if (H5Literate(parent, order, H5_ITER_INC, &idx, collect_link, &links) < 0)
    r.fail("cannot list '" + (prefix.empty() ? std::string("/") : prefix) + "': " + h5::error_text());
  for (std::size_t i = 0; i < links.names.size(); ++i) {
    const std::string& name = links.names[i];
    const std::string path = prefix.empty() ? name : prefix + "/" + name;
    if (links.types[i] == H5O_TYPE_GROUP) {
      if (path == "provenance" || path == "scalars") continue;
      Hid g(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), H5Gclose);
      if (!g.ok()) r.fail("cannot open group '" + path + "': " + h5::error_text());
      read_groups(r, g.get(), path, with_arrays, out);
    } else if (links.types[i] == H5O_TYPE_DATASET) {
      auto& list = out.groups[prefix];
      if (with_arrays) list.push_back(r.array(parent, prefix, name));
      else list.push_back(NamedArray{name, {}, {}});
    }
  }
}

herr_t collect_attr(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

ModelFile read_impl(const std::string& path, bool with_arrays) {
  h5::Lock lock;  // HDF5 here is not thread-safe
  Reader r{path};
  std::error_code ec;
  require_regular_file(path, "model");
  if (!std::filesystem::exists(path, ec)) throw IoError(path, "model file does not exist");
  // Unreadable (permissions) is the environment's fault, said so: HDF5 would call it "not HDF5".
  if (std::ifstream probe(path, std::ios::binary); !probe)
    throw IoError(path, std::string("cannot read the model file: ") + std::strerror(errno));
  if (H5Fis_hdf5(path.c_str()) <= 0) r.fail("not an HDF5 file (an A-net model file is HDF5; truncated or wrong file?)");
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) r.fail("cannot open as HDF5 (truncated?): " + h5::error_text());
  const hid_t root = file.get();
  if (!r.has_attr(root, "format")) r.fail("not an A-net model file: no 'format' attribute");
  const std::string format = r.attr_string(root, "format");
  if (format != kModelFormatName)
    r.fail("not an A-net model file: format is '" + format + "', expected '" + kModelFormatName + "'");
  const int version = r.attr_int(root, "format_version");
  if (version > kModelFormatVersion || version < 1)
    r.fail("model file format version " + std::to_string(version) + " is not supported (this annamosaic reads version " +
           std::to_string(kModelFormatVersion) + "; a newer annamosaic wrote it?)");
  ModelFile m;
  m.kind = r.attr_string(root, "kind");
  NetworkConfig& n = m.network;
  n.ngf = r.attr_int(root, "ngf");
  n.ndf = r.attr_int(root, "ndf");
  n.q_nf = r.attr_int(root, "q_nf");
  n.in_channels = r.attr_int(root, "in_channels");
  n.dropout = r.attr_double(root, "dropout");
  try {
    n.decoder = parse_decoder(r.attr_string(root, "decoder"));
  } catch (const std::invalid_argument& e) {
    r.fail(e.what());
  }
  if (n.ngf <= 0 || n.ndf <= 0 || n.q_nf <= 0 || n.in_channels <= 0)
    r.fail("architecture attributes must be positive (ngf " + std::to_string(n.ngf) + ", ndf " + std::to_string(n.ndf) +
           ", q_nf " + std::to_string(n.q_nf) + ", in_channels " + std::to_string(n.in_channels) + ")");
  // Far past any trained A-net (the paper's has ngf 64): such a file is damaged, and building its
  // network would try to allocate terabytes before the weights' shapes are checked.
  constexpr int kMaxWidth = 4096;
  if (n.ngf > kMaxWidth || n.ndf > kMaxWidth || n.q_nf > kMaxWidth || n.in_channels > 64)
    r.fail("architecture attributes out of range (ngf " + std::to_string(n.ngf) + ", ndf " + std::to_string(n.ndf) + ", q_nf " +
           std::to_string(n.q_nf) + ", in_channels " + std::to_string(n.in_channels) + "; widths at most " +
           std::to_string(kMaxWidth) + ", in_channels at most 64): a damaged model file?");
  m.data.pixel_nm = r.attr_double(root, "pixel_nm");
  if (!(m.data.pixel_nm >= 1 && m.data.pixel_nm <= 1000)) {
    std::ostringstream v;
    v << m.data.pixel_nm;
    r.fail("pixel_nm " + v.str() + " is not a super-resolution pixel (1-1000 nm; the models here are trained at 20 nm): a "
           "damaged model file?");
  }
  m.data.target_quantile = r.attr_double(root, "target_quantile");
  // Out of range, both would pass every check here and fail later inside LibTorch (dropout) or
  // scale images by nothing (a quantile of NaN).
  if (!(n.dropout >= 0 && n.dropout < 1) || !(m.data.target_quantile > 0 && m.data.target_quantile <= 1)) {
    std::ostringstream v;
    v << "dropout " << n.dropout << ", target_quantile " << m.data.target_quantile;
    r.fail(v.str() + " out of range (dropout in [0, 1), target_quantile in (0, 1]; the models here have 0.5 and 0.999): a "
                     "damaged model file?");
  }
  for (const char* gname : {"provenance", "scalars"}) {
    if (H5Lexists(root, gname, H5P_DEFAULT) <= 0) continue;
    Hid g(H5Gopen2(root, gname, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) r.fail(std::string("cannot open group '") + gname + "': " + h5::error_text());
    std::vector<std::string> names;
    hsize_t idx = 0;
    if (H5Aiterate2(g.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, &names) < 0)
      r.fail(std::string("cannot list attributes of '") + gname + "': " + h5::error_text());
    for (const auto& a : names) {
      if (std::string(gname) == "provenance") m.provenance[a] = r.attr_string(g.get(), a);
      else m.scalars[a] = r.attr_double(g.get(), a);
    }
  }
  read_groups(r, root, "", with_arrays, m);
  return m;
}

}  // namespace

const char* decoder_name(Decoder d) { return d == Decoder::ResizeConv ? "resize-conv" : "transposed-conv"; }

Decoder parse_decoder(const std::string& s) {
  if (s == "resize-conv") return Decoder::ResizeConv;
  if (s == "transposed-conv") return Decoder::TransposedConv;
  throw std::invalid_argument("decoder must be resize-conv or transposed-conv, not '" + s + "'");
}

void write_model_file(const std::string& path, const ModelFile& m) {
  h5::Lock lock;  // HDF5 here is not thread-safe
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw IoError(parent.string(), "cannot create folder: " + ec.message());
  }
  AtomicFile out(path);
  Writer w{path};
  {
    // Track link creation order so that arrays read back in module order (h5py lists by name).
    Hid fcpl = w.checked(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file properties");
    w.check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), "file properties");
    h5::NewFile file = h5::NewFile::create(out.temp_path(), fcpl.get(), H5P_DEFAULT);
    if (!file.ok()) throw IoError(path, "cannot create " + out.temp_path() + ": " + file.error() + low_space_note(path));
    const hid_t root = file.get();
    w.attr_string(root, "format", kModelFormatName);
    w.attr_int(root, "format_version", kModelFormatVersion);
    w.attr_string(root, "kind", m.kind);
    const NetworkConfig& n = m.network;
    w.attr_int(root, "ngf", n.ngf);
    w.attr_int(root, "ndf", n.ndf);
    w.attr_int(root, "q_nf", n.q_nf);
    w.attr_int(root, "in_channels", n.in_channels);
    w.attr_string(root, "decoder", decoder_name(n.decoder));
    w.attr_double(root, "dropout", n.dropout);
    w.attr_string(root, "norm", "instance norm with affine parameters, eps 1e-5 (= batch statistics at batch 1)");
    w.attr_string(root, "switch", "scalar M times a learned per-channel weight (1x1 conv of M, no bias) added to every "
                                  "encoder level after its norm; D gets M as a constant input plane");
    w.attr_string(root, "inputs", "channel 0: S standardised per image (zero mean, unit std); channel 1: widefield on the "
                                  "SR grid, min-max scaled to [0,1], zeros when absent");
    w.attr_string(root, "output", "tanh; reconstruction A = (tanh + 1) / 2 in [0, 1] (targets scaled by their "
                                  "target_quantile value, clipped to [0, 1])");
    w.attr_double(root, "pixel_nm", m.data.pixel_nm);
    w.attr_double(root, "target_quantile", m.data.target_quantile);

    Hid lcpl = w.checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "link properties");
    w.check(H5Pset_create_intermediate_group(lcpl.get(), 1), "link properties");
    Hid gcpl = w.checked(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "group properties");
    w.check(H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), "group properties");
    {
      Hid g = w.checked(H5Gcreate2(root, "provenance", lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "group provenance");
      for (const auto& [k, v] : m.provenance) w.attr_string(g.get(), k, v);
    }
    if (!m.scalars.empty()) {
      Hid g = w.checked(H5Gcreate2(root, "scalars", lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "group scalars");
      for (const auto& [k, v] : m.scalars) w.attr_double(g.get(), k, v);
    }
    for (const auto& [gname, arrays] : m.groups) {
      if (gname.empty() || gname == "provenance" || gname == "scalars")
        throw std::logic_error("model file: reserved group name '" + gname + "'");
      Hid g = w.checked(H5Gcreate2(root, gname.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "group " + gname);
      for (const NamedArray& a : arrays) w.array(g.get(), a);
    }
    if (!file.finish()) throw IoError(path, "cannot finish the HDF5 file: " + file.error() + low_space_note(path));
  }
  out.commit();
}

ModelFile read_model_file(const std::string& path) { return read_impl(path, true); }
ModelFile read_model_header(const std::string& path) { return read_impl(path, false); }

std::vector<int> trained_switch_ids(const ModelFile& m) {
  std::vector<int> ids;
  if (const auto it = m.provenance.find("switch_ids"); it != m.provenance.end()) {
    std::istringstream in(it->second);
    for (std::string item; std::getline(in, item, ',');)
      if (item.find_first_not_of(' ') != std::string::npos) try {
          std::size_t used = 0;
          ids.push_back(std::stoi(item, &used));
          if (item.find_first_not_of(' ', used) != std::string::npos) return {};  // "5abc": not ours, unknown
        } catch (const std::exception&) {
          return {};  // not ours: unknown
        }
  } else if (const auto d = m.provenance.find("data"); d != m.provenance.end() && d->second.rfind("simulator (", 0) == 0) {
    // Before switch_ids: a simulator-trained model's data line names its structure,
    // "simulator (microtubules, specimen seed 1, ...)". (Tables' switch ids were not recorded.)
    const std::string rest = d->second.substr(11);
    try {
      ids.push_back(structure_switch_id(parse_structure(rest.substr(0, rest.find(',')))));
    } catch (const std::exception&) {
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string switch_id_refusal(const std::string& path, const ModelFile& m, int switch_id, const std::string& setting) {
  const std::vector<int> ids = trained_switch_ids(m);
  // A record that is no list of ids (a damaged or hand-edited file) says nothing either way: not
  // taken as "any switch" (probe73: 'garbage' let switch 5 through).
  if (const auto it = m.provenance.find("switch_ids"); ids.empty() && it != m.provenance.end() &&
                                                       it->second.find_first_not_of(", ") != std::string::npos)
    return path + ": its provenance/switch_ids '" + it->second + "' is not a list of switch ids (as train writes it, " +
           "e.g. \"0\" or \"0,1\"): a damaged or edited model file? Give one train wrote";
  if (ids.empty() || std::find(ids.begin(), ids.end(), switch_id) != ids.end()) return "";
  std::string list;
  for (const int id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
  return path + " was trained with switch id" + (ids.size() > 1 ? "s " : " ") + list + " only (microtubules 0, nuclear pores 1): " +
         "with switch " + std::to_string(switch_id) + " it would add weights that never learned anything; give a model " +
         "trained on that structure, or " + (setting.empty() ? std::string("switch") : setting) + " " +
         std::to_string(ids.front()) + " if the data are of the structure it knows";
}

}  // namespace annamosaic::anet
