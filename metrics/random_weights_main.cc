// fid-random-weights OUT [SEED]: a FID Inception weights file with random weights and
// plausible BatchNorm statistics, for tests and demos on machines without the real file.
// OUT ending in .pb is written as a TF GraphDef, anything else as a zip-format state dict.
// Metrics computed with it are labelled by its hash and are not comparable to published FIDs.
#include <iostream>
#include <string>

#include "metrics/weights.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: fid-random-weights OUT.pth|OUT.pb [SEED]\n";
    return 2;
  }
  gansweep::FidInception net;
  gansweep::randomize_inception(*net, argc == 3 ? std::stoull(argv[2]) : 0);
  const std::string out = argv[1];
  if (out.size() > 3 && out.compare(out.size() - 3, 3, ".pb") == 0)
    gansweep::save_inception_graphdef(*net, out);
  else
    gansweep::save_inception_weights(*net, out);
  std::cout << argv[1] << " sha256 " << gansweep::sha256_file(argv[1]) << "\n";
  return 0;
}
