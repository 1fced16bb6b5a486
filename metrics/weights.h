// Loading the FID Inception's weights. Formats: (a) the TF GraphDef classify_image_graph_def.pb
// of inception-2015-12-05.tgz, the paper's file; (b) a zip-format torch.save of a plain dict
// with pytorch-fid's key names (pt_inception-2015-12-05 re-saved). The legacy (pre-1.6,
// non-zip) .pth is recognised and refused with the one-line conversion.
#pragma once

#include <stdexcept>
#include <string>

#include "metrics/inception.h"

namespace gansweep {

class WeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Lower-case hex SHA-256 of a file's bytes.
std::string sha256_file(const std::string& path);

// Loads a state dict into `net`, checking every key and shape (bn.num_batches_tracked is
// optional). With `expected_sha256` (full hash, or a prefix such as torch.hub's 8 digits)
// the file's hash must match. Throws WeightsError naming the file and the problem.
void load_inception_weights(FidInceptionImpl& net, const std::string& path, const std::string& expected_sha256 = "");

// Writes `net`'s parameters and BN statistics as a zip-format plain dict, as torch.save does.
void save_inception_weights(const FidInceptionImpl& net, const std::string& path);
// Writes them as a GraphDef of Consts with the TF graph's names and layouts (HWIO kernels,
// softmax/weights [2048, 1008]), as classify_image_graph_def.pb holds them.
void save_inception_graphdef(const FidInceptionImpl& net, const std::string& path);

// Random weights with plausible statistics (conv weights scaled by fan-in, BN means near 0,
// variances near 1), for tests and for machines without the real file.
void randomize_inception(FidInceptionImpl& net, uint64_t seed);

}  // namespace gansweep
