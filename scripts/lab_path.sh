#!/usr/bin/env bash
# A lab's own path, from a folder of labelled patches to a screening device (README, "Your own
# data"): import → split → train → evaluate → a signed bundle → check → calibrate, tune and
# screen → one report page. The outputs go into RUN named as a lab might name them (not the
# demo's layout): `report --run` finds each part by what its file holds.
#
#   scripts/lab_path.sh PATCHES RUN [--class-map FOLDER=CLASS,...] [--patients CSV]
#                       [--frames FILE_OR_FOLDER,...] [--truth CSV]
#
# PATCHES holds one folder per class (MM, IN, CN, JN, or named with --class-map), each patch
# file named PATIENT_anything.png, or --patients a CSV of file,patient_id[,slide_id]. --frames:
# camera frames (or photomicrographs at FRAME_UM µm/px) to screen at the end; --truth: their
# lesions (file,lesion CSV), each verdict judged against it.
# Environment: BIN (folder of melanoscope-train and melanoscope-edge, default target/release),
# MAGNIFICATION (40X), EPOCHS (3), ARCH (resnet18), FRAME_UM (0.25), WEIGHTS (none, or an
# ImageNet safetensors file), MIN_SHARPNESS (the focus gate; set it below what your sharp views
# score, docs/boards/calibration.md; unset: the default).
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,16p "$0"; exit 2; }
patches="$1"; run="$2"; shift 2
class_map=(); patients=(); frames=""; truth=()
while [ $# -gt 0 ]; do
  case "$1" in
    --class-map) class_map=(--class-map "$2"); shift 2 ;;
    --patients) patients=(--patients "$2"); shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --truth) truth=(--truth "$2"); shift 2 ;;
    *) echo "lab_path: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="${BIN:-target/release}"; mag="${MAGNIFICATION:-40X}"; epochs="${EPOCHS:-3}"; arch="${ARCH:-resnet18}"
frame_um="${FRAME_UM:-0.25}"; weights="${WEIGHTS:-none}"
train="$bin/melanoscope-train"; edge="$bin/melanoscope-edge"
mkdir -p "$run/bundle" "$run/device"
run="$(cd "$run" && pwd)"
set -x
# 1. The patches, with their patients (the file name before its first "_").
"$train" import-patches --folder "$patches" --magnification "$mag" "${class_map[@]}" "${patients[@]}" \
  --out "$run/patches.parquet"
# 2. Patients (never patches) into train, validation and test.
"$train" split --manifest "$run/patches.parquet" --out "$run/split.csv"
# 3. Training: a line per epoch; the best epoch by validation AUC is kept.
"$train" train --manifest "$run/patches.parquet" --split "$run/split.csv" --task mm-vs-nevi \
  --magnification "$mag" --arch "$arch" --weights "$weights" --epochs "$epochs" --out "$run/model"
# 4. The test patients: patch, slide and patient tables, thresholds chosen on validation.
"$train" evaluate --checkpoint "$run/model/best.safetensors" --manifest "$run/patches.parquet" \
  --split "$run/split.csv" --task mm-vs-nevi --magnification "$mag" --arch "$arch" --out "$run/test-results"
# 5. A signing key (keep the .secret off the devices) and the signed bundle: f32 and INT8, the
#    evaluation's threshold (patch files hold no camera frame: the patch threshold is kept).
[ -f "$run/lab-key.secret" ] || "$train" keygen --out "$run/lab-key"
"$train" export --checkpoint "$run/model/best.safetensors" --arch "$arch" --task mm-vs-nevi \
  --magnification "$mag" --manifest "$run/patches.parquet" --split "$run/split.csv" \
  --report "$run/test-results/report.json" --form f32 --also-form int8 \
  --out "$run/bundle/$arch.onnx" --bundle "$run/bundle/$arch.mscm" --sign-key "$run/lab-key.secret"
# 6. On the device: the bundle opened as screening opens it (hash, signature, self-test).
"$edge" check-bundle --bundle "$run/bundle/$arch.mscm" --trusted-keys "$run/lab-key.public" \
  --require-signature > "$run/bundle/check.json"
# 7. The device's site file: the bundle and its key; the objective calibrated from a stage
#    micrometer (here: FRAME_UM µm per camera pixel); the runtime tuned on this device.
cat > "$run/device/site.toml" <<SITE
[model]
bundle = "$run/bundle/$arch.mscm"
trusted_keys = ["$run/lab-key.public"]
state_dir = "$run/device/state"
[camera]
source = "replay"
objective = "lab"
[display]
sinks = ["snapshot"]
snapshot_dir = "$run/device/snapshots"
snapshot_every = 1
[log]
path = "$run/device/screening.log"
SITE
if [ -n "${MIN_SHARPNESS:-}" ]; then printf '\n[screening]\nmin_sharpness = %s\n' "$MIN_SHARPNESS" >> "$run/device/site.toml"; fi
"$edge" calibrate objective --config "$run/device/site.toml" --name lab --micrometer-um 100 \
  --micrometer-px "$(python3 -c "print(round(100 / $frame_um))")"
"$edge" tune --config "$run/device/site.toml" --threads 1,2 --report "$run/device/tune.json" > /dev/null
# 8. Screening (replayed frames here; a camera on the device), then the page of the whole run.
if [ -n "$frames" ]; then
  "$edge" screen --config "$run/device/site.toml" --replay "$frames" --exit-on-fault "${truth[@]}" \
    --summary "$run/device/summary.json" > /dev/null
fi
"$train" report --run "$run"
