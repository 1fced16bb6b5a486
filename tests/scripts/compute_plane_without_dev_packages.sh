#!/usr/bin/env bash
# Configures the compute plane alone as on a GPU machine that has LibTorch and none of
# Debian's development packages: no control plane, no tests, no MPI, no NCCL, and zlib's
# development files hidden (CMAKE_DISABLE_FIND_PACKAGE_ZLIB), so the build must take the
# headers in third_party/ and the runtime libz.so.1. Then builds the torch-free libraries,
# which include the vendored nlohmann-json, stb and zlib headers.
# Usage: compute_plane_without_dev_packages.sh SOURCE_DIR BUILD_DIR TORCH_DIR
set -euo pipefail
source_dir=$1 build_dir=$2 torch_dir=$3
rm -rf "$build_dir"
cmake -S "$source_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
  -DGANSWEEP_CONTROL_PLANE=OFF -DGANSWEEP_TESTS=OFF \
  -DGANSWEEP_WITH_MPI=OFF -DGANSWEEP_WITH_NCCL=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON -DTorch_DIR="$torch_dir" | tee "$build_dir.log"
grep -q "zlib: .* with the headers in third_party/zlib" "$build_dir.log" \
  || { echo "zlib did not come from third_party/zlib" >&2; exit 1; }
cmake --build "$build_dir" -j 1 --target gansweep_contract gansweep_data stb
echo "compute plane configured and its torch-free libraries built without development packages"
