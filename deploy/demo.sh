#!/usr/bin/env bash
# `make demo`: a short real study on the Fashion-MNIST files of the Debian package
# dataset-fashion-mnist: RMCosGAN against LS-GAN, 2,048 training images, 3 epochs each,
# the paper's model, batch and optimizer. Prints progress, then a table. About 5 minutes
# on 2 cores. (Once the coordinator exists, this runs sweeps/demo.yaml through it.)
set -euo pipefail
build=${1:-build}
out=${DEMO_OUT:-$PWD/out/demo}
data=/usr/share/datasets/fashion-mnist
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

rm -rf "$out"
mkdir -p "$out"
summary="$out/summary.jsonl"
for loss in rmcos ls; do
  mkdir -p "$out/$loss"
  cat > "$out/$loss/job.json" <<JOB
{"job_id": "demo-$loss", "loss": "$loss", "seed": 1,
 "dataset": {"format": "idx", "name": "fashion-mnist", "path": "$data", "limit": 2048},
 "train": {"epochs": 3, "eval_every": 1, "log_every": 16},
 "output_dir": "$out/$loss"}
JOB
  set +e
  "$build/trainer/trainer" --job "$out/$loss/job.json" | tee "$out/$loss/events.jsonl" \
    | python3 deploy/show_events.py --label "$loss" --summary "$summary"
  set -e
done

python3 - "$summary" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print("Fashion-MNIST, 2,048 images, 3 epochs, batch 32, Adam(2e-4, 0.5, 0.999); last-epoch mean losses")
print(f"{'loss':8} {'status':10} {'epoch':>5} {'loss_D':>8} {'loss_G':>8} {'it/s':>6}  sample grid")
for r in rows:
    print(f"{r['label']:8} {r['status'][:10]:10} {r.get('epoch', 0):5d} {r.get('loss_d', float('nan')):8.4f} "
          f"{r.get('loss_g', float('nan')):8.4f} {r.get('it_per_s', 0):6.2f}  {r.get('grid', '-')}")
print("FID/IS are not computed yet: they come with the metrics component (issue 3).")
sys.exit(0 if all(r["status"] == "finished" for r in rows) else 1)
PY
