#include "anet/torch_util.hpp"

#include <map>
#include <stdexcept>

#include "core/error.hpp"

namespace annamosaic::anet {

torch::Tensor image_to_tensor(ImageView<const float> im) {
  if (im.empty()) return torch::zeros({static_cast<std::int64_t>(im.height()), static_cast<std::int64_t>(im.width())});
  // from_blob does not copy; clone() gives the tensor its own dense storage.
  return torch::from_blob(const_cast<float*>(im.data()),
                          {static_cast<std::int64_t>(im.height()), static_cast<std::int64_t>(im.width())},
                          {static_cast<std::int64_t>(im.stride()), 1}, torch::kFloat32)
      .clone();
}

ImageF tensor_to_image(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  while (c.dim() > 2 && c.size(0) == 1) c = c.squeeze(0);
  if (c.dim() != 2) throw std::invalid_argument("tensor_to_image: expected a 2-D tensor");
  ImageF out(static_cast<std::size_t>(c.size(1)), static_cast<std::size_t>(c.size(0)));
  std::copy_n(c.data_ptr<float>(), out.size(), out.data());
  return out;
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<NamedArray> export_module(const torch::nn::Module& m) {
  std::vector<NamedArray> out;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    NamedArray a;
    a.name = name;
    a.shape.assign(c.sizes().begin(), c.sizes().end());
    a.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    out.push_back(std::move(a));
  };
  for (const auto& p : m.named_parameters()) add(p.key(), p.value());
  for (const auto& b : m.named_buffers()) add(b.key(), b.value());
  return out;
}

void import_module(torch::nn::Module& m, const std::vector<NamedArray>& arrays, const std::string& file,
                   const std::string& group) {
  std::map<std::string, const NamedArray*> by_name;
  for (const NamedArray& a : arrays) by_name[a.name] = &a;
  torch::NoGradGuard no_grad;
  std::size_t used = 0;
  auto load = [&](const std::string& name, torch::Tensor t) {
    const auto it = by_name.find(name);
    if (it == by_name.end())
      throw InputError(file, "array '" + group + "/" + name + "' is missing (the network built from the file's attributes "
                             "needs it: wrong or truncated model file?)");
    const NamedArray& a = *it->second;
    const std::vector<std::int64_t> want(t.sizes().begin(), t.sizes().end());
    if (a.shape != want)
      throw InputError(file, "array '" + group + "/" + name + "' has shape " + shape_string(a.shape) +
                                 " but the network built from the file's attributes expects " + shape_string(want) +
                                 " (attributes and weights disagree: ngf, channels or decoder mismatch)");
    t.copy_(torch::from_blob(const_cast<float*>(a.data.data()), t.sizes(), torch::kFloat32).to(t.device(), t.dtype()));
    ++used;
  };
  for (auto& p : m.named_parameters()) load(p.key(), p.value());
  for (auto& b : m.named_buffers()) load(b.key(), b.value());
  if (used != arrays.size()) {
    std::map<std::string, bool> known;
    for (const auto& p : m.named_parameters()) known[p.key()] = true;
    for (const auto& b : m.named_buffers()) known[b.key()] = true;
    for (const NamedArray& a : arrays)
      if (!known.count(a.name))
        throw InputError(file, "array '" + group + "/" + a.name + "' is not part of the network built from the file's "
                               "attributes (attributes and weights disagree)");
  }
}

}  // namespace annamosaic::anet
