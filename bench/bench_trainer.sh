#!/usr/bin/env bash
# Training speed: the C++ trainer against the same model, loss and batch in Python on Debian's
# python3-torch (the same LibTorch 1.13), with the same thread settings, in one invocation.
# Usage: bench/bench_trainer.sh [BUILD_DIR] [LOSS] [ITERATIONS]
set -euo pipefail
build=${1:-build}
loss=${2:-rmcos}
iterations=${3:-20}
warmup=3
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The C++ run: a synthetic dataset of 1024 32x32 images, batch 32; progress after every
# iteration. The first `warmup` iterations are left out of the rate, as in the Python script.
cat > "$work/job.json" <<JOB
{"job_id": "bench", "loss": "$loss", "seed": 1,
 "dataset": {"format": "synthetic", "synthetic_count": 1024, "image_size": 32},
 "train": {"schedule": "iterations", "iterations": $((iterations + warmup)), "batch_size": 32,
           "log_every": 1, "eval_every": 1000000},
 "output_dir": "$work/out"}
JOB
"$build/trainer/trainer" --job "$work/job.json" > "$work/events.jsonl"
cpp=$(python3 - "$work/events.jsonl" "$warmup" <<'PY'
import json, sys
times = [e["time"] for e in map(json.loads, open(sys.argv[1])) if e["event"] == "progress"]
warmup = int(sys.argv[2])
print("%.4f" % ((len(times) - warmup) / (times[-1] - times[warmup - 1])))
PY
)
py=$(/usr/bin/python3 "$here/reference_train.py" --loss "$loss" --iterations "$iterations" --warmup "$warmup" \
     | python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["iterations_per_second"])')
ratio=$(python3 -c "print(f'{$cpp / $py:.2f}')")
echo "loss=$loss batch=32 size=32 OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS OMP_NUM_THREADS=$OMP_NUM_THREADS"
echo "python (LibTorch 1.13 via python3-torch): $py it/s"
echo "c++ trainer:                              $cpp it/s"
echo "ratio c++/python:                         $ratio"
