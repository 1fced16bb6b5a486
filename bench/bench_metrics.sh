#!/usr/bin/env bash
# Metrics speed in one invocation: FID Inception images/s of the C++ module against the same
# network in Python (Debian's python3-torch, the same LibTorch 1.13), and the Fréchet distance
# of two 2048-d statistics against scipy's sqrtm formula (Debian's python3-scipy): the value
# must agree to 1e-6 relative. Usage: bench/bench_metrics.sh [BUILD_DIR] [BATCH] [BATCHES]
set -euo pipefail
build=${1:-build}
batch=${2:-50}
batches=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/bench/bench_metrics" "$batch" "$batches" "$work" > "$work/cpp.json"
/usr/bin/python3 "$here/reference_metrics.py" "$batch" "$batches" "$work" > "$work/py.json"
python3 - "$work/cpp.json" "$work/py.json" <<'PY'
import json, sys
c, p = (json.load(open(f)) for f in sys.argv[1:3])
print(f"Inception forward, batch of 299x299 images: python {p['images_per_second']:.2f} img/s, "
      f"c++ {c['images_per_second']:.2f} img/s, ratio {c['images_per_second'] / p['images_per_second']:.2f}")
rel = abs(c["fid"] - p["fid"]) / abs(p["fid"])
print(f"FID of two 2048-d statistics: scipy {p['fid']:.9f} in {p['fid_seconds']:.2f} s, "
      f"c++ {c['fid']:.9f} in {c['fid_seconds']:.2f} s; relative difference {rel:.1e}, "
      f"speed-up {p['fid_seconds'] / c['fid_seconds']:.1f}x")
PY
