#pragma once
// Internal glue between the one image type, the model file and LibTorch modules (torch).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "anet/model_file.hpp"
#include "core/image.hpp"

namespace annamosaic::anet {

// [H, W] float tensor holding a copy of the view (CPU).
torch::Tensor image_to_tensor(ImageView<const float> im);
// A 2-D (or [1,1,H,W]) tensor back to an image (copied from any device/dtype).
ImageF tensor_to_image(const torch::Tensor& t);

// Parameters and buffers of a module as named arrays (module order).
std::vector<NamedArray> export_module(const torch::nn::Module& m);
// Loads arrays into a module, checking that names and shapes match exactly. Errors are
// InputErrors naming the file, the group, the array and both shapes.
void import_module(torch::nn::Module& m, const std::vector<NamedArray>& arrays, const std::string& file,
                   const std::string& group);

std::string shape_string(const std::vector<std::int64_t>& shape);

}  // namespace annamosaic::anet
