#!/usr/bin/env bash
# Runs the criterion benchmark of the edge's per-frame preprocessing and prints, as JSON, its
# mean time and the share of one core left for inference at 5 frames/s (200 ms per frame).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo bench --locked -p melanoscope-shared --bench frame_preprocess -- --noplot
est="target/criterion/preprocess_2592x1944_0.5_to_1.0_um/new/estimates.json"
base="target/criterion/baseline_copy_2592x1944_frame/new/estimates.json"
python3 - "$est" "$base" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
copy_ms = json.load(open(sys.argv[2]))["mean"]["point_estimate"] / 1e6
ms = e["mean"]["point_estimate"] / 1e6
lo = e["mean"]["confidence_interval"]["lower_bound"] / 1e6
hi = e["mean"]["confidence_interval"]["upper_bound"] / 1e6
budget = 1000 / 5
print(json.dumps({"frame": "2592x1944 RGB, 0.5 -> 1.0 um/px", "mean_ms": round(ms, 2),
                  "ci95_ms": [round(lo, 2), round(hi, 2)],
                  "share_of_one_core_at_5fps": round(ms / budget, 3),
                  "share_left_for_inference": round(1 - ms / budget, 3),
                  "baseline_frame_copy_ms": round(copy_ms, 3),
                  "ratio_to_frame_copy": round(ms / copy_ms, 1)}))
PY
