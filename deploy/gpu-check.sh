#!/usr/bin/env bash
# On a GPU machine: builds the compute plane (trainer, metrics) against the local CUDA
# LibTorch, runs a short single-GPU training with the NCCL backend (one rank), then one
# rank per GPU under mpirun when there are several GPUs and mpirun is installed, and prints
# images/s for each. Record the figures in docs/benchmarks.md. Steps: docs/gpu.md.
#
#   bash deploy/gpu-check.sh [BUILD_DIR] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
iterations=${2:-300}
python=${PYTHON:-python3}

die() { echo "gpu-check: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this is not a GPU machine"
"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  die "$python has no PyTorch with a usable CUDA device (set PYTHON=...)"
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
# The NCCL of the PyTorch wheel (nvidia-nccl-cu*), else the CUDA toolkit's.
nccl_root=$("$python" -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null ||
            echo /usr/local/cuda)
gpus=$(nvidia-smi --list-gpus | wc -l)
mpi=OFF
if command -v mpicc >/dev/null && command -v mpirun >/dev/null; then mpi=ON; fi
echo "gpu-check: $gpus GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)"
echo "gpu-check: LibTorch $prefix, NCCL $nccl_root, MPI $mpi"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DGANSWEEP_CONTROL_PLANE=OFF -DGANSWEEP_TESTS=OFF -DGANSWEEP_TORCH_CUDA=ON \
  -DGANSWEEP_WITH_MPI=$mpi -DGANSWEEP_WITH_NCCL=ON -DNCCL_ROOT="$nccl_root" \
  -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$build" -j"$(nproc)" --target trainer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# CIFAR-10-sized synthetic images through the paper's 32x32 networks, batch 64 per GPU.
job() {  # job RANKS NAME
  cat > "$work/$2.json" <<JSON
{"job_id": "gpu-check-$2", "loss": "rmcos", "seed": 1,
 "dataset": {"format": "synthetic", "image_size": 32, "synthetic_count": 50000},
 "train": {"schedule": "iterations", "iterations": $iterations, "batch_size": $((64 * $1)),
           "log_every": 50, "eval_every": $iterations},
 "parallel": {"backend": "nccl"},
 "output_dir": "$work/$2"}
JSON
  echo "$work/$2.json"
}
# images/s from the last progress event's iterations/s (after warm-up) and the global batch.
report() {  # report NAME RANKS EVENTS
  "$python" - "$1" "$2" "$3" $iterations <<'PY'
import json, sys
name, ranks, path, iterations = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
events = [json.loads(l) for l in open(path) if l.startswith("{")]
if events and events[-1]["event"] == "failed":
    sys.exit(f"gpu-check: {name} failed: {events[-1]['reason']}")
rates = [e["iterations_per_second"] for e in events if e["event"] == "progress"]
if not rates:
    sys.exit(f"gpu-check: {name}: no progress events")
print(f"gpu-check: {name}: {rates[-1]:.1f} it/s, {rates[-1] * 64 * ranks:.0f} images/s "
      f"({ranks} GPU(s), batch {64 * ranks})")
PY
}

"$build/trainer/trainer" --job "$(job 1 one-gpu)" > "$work/one-gpu.events"
report one-gpu 1 "$work/one-gpu.events"
if [ "$gpus" -gt 1 ] && [ "$mpi" = ON ]; then
  root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  mpirun -np "$gpus" "${root[@]}" "$build/trainer/trainer" --job "$(job "$gpus" all-gpus)" > "$work/all-gpus.events"
  report all-gpus "$gpus" "$work/all-gpus.events"
elif [ "$gpus" -gt 1 ]; then
  echo "gpu-check: $gpus GPUs but no MPI (mpicc, mpirun): install Open MPI for the multi-GPU run"
fi
