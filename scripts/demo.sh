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
# Until the synthetic skin-lesion cohort exists, the real slides stand in; their labels here are
# placeholders that exercise the pipeline, not diagnoses.
slides="../shared/data/slides"
cohort="$out/cohort.csv"
{
  echo "slide,slide_id,patient_id,label,site,um_per_px"
  echo "$(realpath "$slides/CMU-1-Small-Region.svs"),cmu-1,P1,MM,cmu,"
  echo "$(realpath "$data/he-tumour-1000px.png"),tumour-png,P2,IN,tia,0.25"
  echo "$(realpath "$data/hgsc_nest.jpg"),hgsc-nest,P3,CN,histolytics,0.25"
  echo "$(realpath "$data/hgsc_stromal_he.jpg"),hgsc-stroma,P4,JN,histolytics,0.25"
  echo "$(realpath "$slides/camelyon-lowres.dcm"),camelyon,P5,IN,camelyon,"
} > "$cohort"
echo "==> trainer: patch the cohort at 40X, 20X, 10X and 4X (bad slides are reported, the rest go on)"
target/release/melanoscope-train patch --cohort "$cohort" --out "$out/patches" --magnifications all --export-images png
echo "==> trainer: patient-level split"
target/release/melanoscope-train split --cohort "$cohort" --out "$out/split.csv"
echo "==> demo done: $out/*/fields.png (edge fields), $out/patches/ (manifest.parquet, report.json, slides/*/qc.png)"
