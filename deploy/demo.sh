#!/usr/bin/env bash
# `make demo`: a short real study on the Fashion-MNIST files of the Debian package
# dataset-fashion-mnist: RMCosGAN against LS-GAN, 2,048 training images, 3 epochs each,
# the paper's model, batch and optimizer, FID/IS/KID after every epoch from the offline
# classifier backbone (trained once on the Fashion-MNIST labels; the Inception weights
# cannot be downloaded here). Prints progress, then a table. About 5 minutes on 2 cores.
# (Once the coordinator exists, this runs sweeps/demo.yaml through it.)
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
 "metrics": {"backbone": "classifier", "samples": 2048, "cache_dir": "$out/cache"},
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
nan = float("nan")
print("Fashion-MNIST, 2,048 images, 3 epochs, batch 32, Adam(2e-4, 0.5, 0.999); after the last epoch")
print(f"{'loss':8} {'status':10} {'epoch':>5} {'FID':>8} {'IS':>6} {'KID':>8} {'loss_D':>8} {'loss_G':>8} {'it/s':>6}  sample grid")
for r in rows:
    print(f"{r['label']:8} {r['status'][:10]:10} {r.get('epoch', 0):5d} {r.get('fid', nan):8.3f} {r.get('is', nan):6.3f} "
          f"{r.get('kid', nan):8.4f} {r.get('loss_d', nan):8.4f} {r.get('loss_g', nan):8.4f} {r.get('it_per_s', 0):6.2f}  "
          f"{r.get('grid', '-')}")
if rows and rows[0].get("backbone"):
    print(f"Metrics backbone: {rows[0]['backbone']} (2,048 samples; offline classifier, not comparable to Inception FIDs)")
sys.exit(0 if all(r["status"] == "finished" for r in rows) else 1)
PY
