#!/usr/bin/env bash
# The pipeline as it exists today, end to end: the trainer reports its compute devices, and the
# edge preprocesses real H&E images (taken as 0.5 µm/px camera frames) into 1.0 µm/px model
# fields with the study's 40% background rule, writing a JSON report and a QC picture per image.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${DEMO_OUT:-out/demo}"
data="../shared/data/images"
[ -d "$data" ] || { echo "demo: real sample images missing: expected $data" >&2; exit 1; }

cargo build --release --locked -p melanoscope-edge -p melanoscope-trainer
mkdir -p "$out"

echo "==> trainer: compute devices"
target/release/melanoscope-train info | tee "$out/devices.json"

echo "==> edge: fields of each sample image"
for img in "$data"/*.jpg "$data"/*.png; do
  name="$(basename "${img%.*}")"
  target/release/melanoscope-edge fields --image "$img" --um-per-px 0.5 --target-um-per-px 1.0 --out "$out/$name"
done
echo "==> demo done: see $out/*/fields.png (green: kept fields, red: over 40% background)"
