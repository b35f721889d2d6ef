#!/usr/bin/env bash
# What a Raspberry Pi 5 (Cortex-A76) and a Raspberry Pi 4 (Cortex-A72) would execute for one
# 256-px field of each model form, counted here under qemu with ../shared/tools/arm-cost, and
# turned into cycles per field (docs/bench/arm-estimate.md and .json).
#
#   scripts/arm_estimate.sh MODELS_DIR [COUNTS_DIR]
#
# MODELS_DIR holds ONNX exports named ARCH-FORM.onnx (resnet18-f32.onnx, resnet50-int8.onnx,
# ...; `melanoscope-train export --form f32|f16|int8`). Each model runs on one thread with
# RUNS=0 (load and plan) and RUNS=1; the difference is one field's inference. Cortex-A76 runs
# with TRACT_CPU_AARCH64_KIND=a75 (the guest sees this host's /proc/cpuinfo; A75 and A76 share
# fp16 and dot product), Cortex-A72 with a72 (neither; f16 is skipped there: tract would
# emulate it). Counting takes about a minute a model per core.
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:?usage: scripts/arm_estimate.sh MODELS_DIR [COUNTS_DIR]}"
counts="${2:-target/arm-counts}"
mkdir -p "$counts"
cargo build --release --locked --target aarch64-unknown-linux-gnu -p melanoscope-engine --example field_cost
prog=target/aarch64-unknown-linux-gnu/release/examples/field_cost
run=../shared/tools/arm-cost/run.sh
for model in "$models"/*.onnx; do
  name=$(basename "$model" .onnx)
  for cpu in cortex-a76 cortex-a72; do
    kind=a75; [ "$cpu" = cortex-a72 ] && kind=a72
    case "$name:$cpu" in *-f16:cortex-a72) continue ;; esac
    for runs in 0 1; do
      out="$counts/$name.$cpu.$runs.txt"
      [ -s "$out" ] && continue
      echo "arm_estimate: $name on $cpu, $runs run(s)" >&2
      TRACT_CPU_AARCH64_KIND=$kind CPU=$cpu COUNTS="$out.tmp" bash "$run" "$prog" "$model" 256 "$runs" > "$counts/$name.$cpu.$runs.log"
      mv "$out.tmp" "$out"
    done
  done
done
python3 scripts/arm_estimate.py "$counts" docs/bench/arm-estimate
