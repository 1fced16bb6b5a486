// The paper's weights file itself: TF's GraphDef `classify_image_graph_def.pb` (from
// inception-2015-12-05.tgz), read with a minimal hand-written protobuf wire decoder (field
// numbers in shared/reference/metrics.md §5.2): no libprotobuf size limit, no TensorFlow.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace gansweep {

// The float Const tensors of a GraphDef, by node name (e.g. "mixed_3/tower/conv_1/conv2d_params").
// Throws std::runtime_error naming `source` when the bytes are not a well-formed GraphDef.
std::map<std::string, torch::Tensor> read_graphdef_constants(const std::string& bytes, const std::string& source);

// A GraphDef of Const nodes holding these float tensors (tensor_content), for tests and
// for converting weights; `scalars` are written as float_val, as TF stores small constants.
std::string write_graphdef_constants(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                     const std::vector<std::pair<std::string, float>>& scalars = {});

// pytorch-fid state-dict keys with the TF Const each comes from, and how: "conv.weight" from
// HWIO conv2d_params (permuted to OIHW), bn.* from batchnorm/{gamma,beta,moving_mean,
// moving_variance}, fc from softmax/{weights (transposed), biases}.
struct TfSource {
  std::string tf_name;
  enum class Layout { same, hwio_to_oihw, transpose } layout;
};
std::vector<std::pair<std::string, TfSource>> inception_tf_sources();

}  // namespace gansweep
