#!/usr/bin/env python3
"""Reads a trainer's JSON-lines events on stdin, prints them readably, and appends the run's
summary (one JSON object) to the file named by --summary."""
import argparse
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--label", required=True)
ap.add_argument("--summary", required=True)
args = ap.parse_args()

summary = {"label": args.label, "status": "no events"}
for line in sys.stdin:
    e = json.loads(line)
    kind = e["event"]
    where = f"[{args.label}] step {e['step']:5d} epoch {e['epoch']:3d}"
    if kind == "started":
        print(f"[{args.label}] {e['architecture']}, G {e['g_parameters']:,} / D {e['d_parameters']:,} parameters, "
              f"{e['dataset_images']} images, {e['total_steps']} iterations", flush=True)
        summary["status"] = "running"
    elif kind == "progress":
        print(f"{where}  loss_D {e['loss_d']:8.4f}  loss_G {e['loss_g']:8.4f}  "
              f"{e['iterations_per_second']:.2f} it/s", flush=True)
        summary["it_per_s"] = e["iterations_per_second"]
    elif kind == "eval":
        m = e["metrics"]
        scores = "" if m["fid"] is None else f"FID {m['fid']:.3f}  IS {m['is_mean']:.3f}  KID {m['kid_mean']:.4f}  "
        print(f"{where}  eval: {scores}mean loss_D {e['loss_d']:.4f}  mean loss_G {e['loss_g']:.4f}  "
              f"samples {e['sample_grid']}", flush=True)
        summary.update(epoch=e["epoch"], loss_d=e["loss_d"], loss_g=e["loss_g"], grid=e["sample_grid"])
        if m["fid"] is not None:
            summary.update(fid=m["fid"], backbone=m["backbone"], kid=m["kid_mean"], **{"is": m["is_mean"]})
    elif kind == "finished":
        summary["status"] = "finished"
    elif kind == "failed":
        print(f"{where}  FAILED: {e['reason']}", flush=True)
        summary["status"] = "failed: " + e["reason"]
with open(args.summary, "a") as f:
    f.write(json.dumps(summary) + "\n")
