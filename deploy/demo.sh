#!/usr/bin/env bash
# `make demo`: runs sweeps/demo.yaml (RMCosGAN against LS-GAN on 2,048 Fashion-MNIST images
# from Debian's dataset-fashion-mnist, 3 epochs each, FID/IS/KID after every epoch from the
# offline classifier backbone) through the coordinator with two local workers, then prints
# the FID and IS tables with sweepctl. Results land in out/demo/results.db (plain sqlite3 works on it).
set -euo pipefail
build=${1:-build}
out=${DEMO_OUT:-$PWD/out/demo}
# Two trainers share the 2 cores: one thread each, and OpenBLAS single-threaded.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

rm -rf "$out"
mkdir -p "$out"
"$build/coordinator/coordinator" --sweep sweeps/demo.yaml --db "$out/results.db" --local-workers 2 \
  --trainer "$PWD/$build/trainer/trainer" --worker "$PWD/$build/worker/worker" --work-dir "$out/work"
# The tables as the paper prints them (docs/sweepctl.md), read from the database.
for metric in fid is; do
  echo
  "$build/sweepctl/sweepctl" report demo --db "$out/results.db" --metric "$metric"
done
echo
echo "Sample grids: $out/work/jobs/*/samples/   Database: $out/results.db (see docs/database.md)"
echo "Plots: $build/sweepctl/sweepctl plot curves demo --db $out/results.db -o curves.png"
