#!/usr/bin/env bash
# The pipeline as it exists today, end to end: synthetic cohort and real images -> patches ->
# training, evaluation, explanation -> ONNX and signed model bundles -> the edge screening
# replayed microscope camera frames with the bundle it trained (overlays, log, export), judged
# against what each frame shows, as one case with its page, and real H&E of other organs gated
# as unfamiliar tissue; the familiarity score's AUROC against outside sets; the edge bench on a
# ResNet50 INT8 bundle, and one report page of it all, checked in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out="${DEMO_OUT:-out/demo}"
data="../shared/data/images"
[ -d "$data" ] || { echo "demo: real sample images missing: expected $data" >&2; exit 1; }

cargo build --release --locked -p melanoscope-edge -p melanoscope-trainer --features melanoscope-edge/onnxruntime,melanoscope-edge/browser-check
mkdir -p "$out"

echo "==> trainer: compute devices"
target/release/melanoscope-train info | tee "$out/devices.json"

echo "==> edge: fields of each sample image"
for img in "$data"/*.jpg "$data"/*.png; do
  name="$(basename "${img%.*}")"
  target/release/melanoscope-edge fields --image "$img" --um-per-px 0.5 --target-um-per-px 1.0 --out "$out/$name"
done
echo "==> trainer: synthetic skin-lesion cohort (12 patients, 24 slides, 40X pyramidal TIFF, lesion masks)"
target/release/melanoscope-train synth --out "$out/synth" --patients 12 --slides-per-patient 2 \
  --width-mm 1.0 --height-mm 0.75 --um-per-px 0.25
echo "==> trainer: patch the synthetic cohort at 40X, 20X, 10X and 4X inside the delineated lesions (<slide>.geojson)"
target/release/melanoscope-train patch --cohort "$out/synth/cohort.csv" --out "$out/synth-patches" \
  --magnifications all --export-images jpeg
echo "==> trainer: the same cohort at 40X by tissue mask alone (takes normal skin too, diluting each label)"
target/release/melanoscope-train patch --cohort "$out/synth/cohort.csv" --out "$out/synth-patches-tissue" \
  --magnifications 40X --annotations none
echo "==> trainer: the same run as 3 shards (as 3 tasks of a Slurm array would, here one after another), merged"
rm -rf "$out/synth-patches-sharded"
for k in 0 1 2; do
  target/release/melanoscope-train patch --cohort "$out/synth/cohort.csv" --out "$out/synth-patches-sharded" \
    --magnifications 40X --annotations none --shard "$k/3"
done
target/release/melanoscope-train merge patches --out "$out/synth-patches-sharded"
cmp "$out/synth-patches-tissue/manifest.parquet" "$out/synth-patches-sharded/manifest.parquet"
# A slide the unsharded run resumed from an earlier demo is "resumed" there, "done" here.
cmp <(sed 's/"status": "resumed"/"status": "done"/' "$out/synth-patches-tissue/report.json") \
  "$out/synth-patches-sharded/report.json"
echo "merged manifest and report = the unsharded run's, byte for byte (on a cluster: docs/cluster.md)"
echo "==> trainer: patient-level split (70/15/15, stratified by label)"
target/release/melanoscope-train split --cohort "$out/synth/cohort.csv" --out "$out/synth/split.csv"
echo "==> trainer: how far colour alone gets (patch RGB mean/std): on tissue-mask patches, then on lesion patches"
target/release/melanoscope-train colour-baseline --manifest "$out/synth-patches-tissue/manifest.parquet" \
  --split "$out/synth/split.csv" --magnification 40X | tee "$out/synth/colour-baseline-tissue.json"
# Inside the lesions the classes differ in cellularity (a melanoma sheet holds more haematoxylin
# than nests in stroma), which colour statistics do pick up: expect a higher score here.
target/release/melanoscope-train colour-baseline --manifest "$out/synth-patches/manifest.parquet" \
  --split "$out/synth/split.csv" --magnification 40X | tee "$out/synth/colour-baseline-lesion.json"

echo "==> trainer: ResNet18 from scratch on CPU, MM vs nevi at 40X, 2 epochs (validation AUC picks the checkpoint)"
target/release/melanoscope-train train --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" \
  --task mm-vs-nevi --magnification 40X --arch resnet18 --epochs 2 --batch-size 16 --workers 2 \
  --out "$out/train-resnet18" | tee "$out/train-resnet18.json"

echo "==> trainer: evaluate it on the test patients: patch, slide and patient tables (validation thresholds)"
target/release/melanoscope-train evaluate --checkpoint "$out/train-resnet18/best.safetensors" \
  --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" --task mm-vs-nevi \
  --magnification 40X --arch resnet18 --batch-size 16 --workers 2 --out "$out/eval-resnet18"

echo "==> trainer: the study's experiment grid, small: ResNet18, 1 epoch, MM vs nevi at 40X and mixed, the three nevi at 40X"
target/release/melanoscope-train experiment --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" \
  --archs resnet18 --presets mm-vs-nevi@40X,mm-vs-nevi@mixed,nevi-3class@40X --epochs 1 --batch-size 16 --workers 2 \
  --resamples 200 --out "$out/experiments"

echo "==> trainer: explain it on the test slides: heatmaps, CAM mosaics, ROIs (GeoJSON), panels; pointing game and Dice vs the masks"
target/release/melanoscope-train explain --checkpoint "$out/train-resnet18/best.safetensors" \
  --manifest "$out/synth-patches-tissue/manifest.parquet" --split "$out/synth/split.csv" --arch resnet18 \
  --out "$out/explain-resnet18"

echo "==> trainer: export it as ONNX (BatchNorm folded; logits and features) and check it in onnxruntime"
target/release/melanoscope-train export --checkpoint "$out/train-resnet18/best.safetensors" --arch resnet18 \
  --reference 4 --out "$out/export/resnet18.onnx"
.venv/bin/python scripts/onnx_check.py "$out/export/resnet18.onnx" | tee "$out/export/onnxruntime-check.json"

echo "==> trainer: one signed model bundle for the edge holding two forms: f32, and INT8 (calibrated on validation fields, agreement with f32 on test fields); an f16 ONNX"
target/release/melanoscope-train keygen --out "$out/export/demo-key"
bundle_args=(--checkpoint "$out/train-resnet18/best.safetensors" --arch resnet18 --task mm-vs-nevi --magnification 40X
  --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" --report "$out/eval-resnet18/report.json")
# bundle/resnet18.onnx (f32), bundle/resnet18.int8.onnx with its agreement report, and both in
# bundle/resnet18.mscm, each with its own reference outputs, signed as one. The threshold the
# edge applies is chosen on validation frames of the screening camera (1280x960 at 0.25 µm/px:
# 8 windows of each validation slide through simulated microscope cameras, the edge's fields
# and mean aggregation); the patch threshold stays beside it (bundle/resnet18.frames.json).
# The bundle also describes the training distribution of the pooled features (256 training
# fields; its threshold passes 95% of 256 validation fields): the edge's unfamiliar-tissue gate.
target/release/melanoscope-train export "${bundle_args[@]}" --form f32 --also-form int8 --calibration-fields 32 \
  --agreement-fields 40 --frame-size 1280x960 --frame-um-per-px 0.25 --frames-per-slide 8 \
  --out "$out/export/bundle/resnet18.onnx" --bundle "$out/export/bundle/resnet18.mscm" \
  --sign-key "$out/export/demo-key.secret"
echo "==> trainer: the familiarity score (the unfamiliar-tissue gate) against outside sets: real H&E of other organs, pen marks, background tiles, and the test fields in other stains"
shared="../shared/data"
join() { local IFS=,; echo "$*"; }
target/release/melanoscope-train ood --bundle "$out/export/bundle/resnet18.mscm" \
  --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" --magnification 40X --fields 256 \
  --outside "other-organ-he=$(join "$shared"/images/hgsc_*.jpg "$shared"/images/he-*.* "$shared"/tiles/tissue-*.png "$shared"/tiles/*-nuclei-score-level*.png)" \
  --outside "pen-marks=$(join "$shared"/images/pen-*.png "$shared"/tiles/*pen*.png)" \
  --outside "background=$(join "$shared"/tiles/no-tissue.png "$shared"/tiles/no-tissue2.png "$shared"/tiles/no-tissue-line.png "$shared"/tiles/almost-white-*.png)" \
  --out "$out/export/ood.json" | tee "$out/export/ood.md"
# The f16 form stays out of the bundle here: its reference outputs would be computed in tract's
# emulated half precision on this x86 host (minutes a field).
target/release/melanoscope-train export "${bundle_args[@]}" --form f16 --agreement-fields 0 --out "$out/export/resnet18-f16.onnx"

echo "==> edge: open each form of the bundle as screening would (hash, signature against the demo key, that form's reference-field self-test)"
for form in f32 int8; do
  target/release/melanoscope-edge check-bundle --bundle "$out/export/bundle/resnet18.mscm" --form "$form" \
    --trusted-keys "$out/export/demo-key.public" --require-signature | tee "$out/export/check-$form.json"
done
# The edge's optional onnxruntime backend (this host build has the `onnxruntime` feature; the
# library is the onnxruntime wheel's): INT8 is where it pays, and the self-test holds there too.
ort_lib="$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)"
target/release/melanoscope-edge check-bundle --bundle "$out/export/bundle/resnet18.mscm" --form int8 \
  --backend onnxruntime --onnxruntime-lib "$ort_lib" --trusted-keys "$out/export/demo-key.public" --require-signature \
  | tee "$out/export/check-int8-onnxruntime.json"

echo "==> trainer: per-field latency of the f32 and INT8 exports in tract and onnxruntime (2 threads, batch 1 and 4, one process), tract's time by operation and kernel"
# The f16 export is for ARM cores with half-precision arithmetic: x86 has none, and tract
# emulates it (about 3 minutes a field here), so it is not timed on this host.
target/release/melanoscope-train bench-export --size 256 --threads 2 --batches 1,4 --runs 3 --profile \
  --onnxruntime-lib "$ort_lib" --models "$out/export/bundle/resnet18.onnx,$out/export/bundle/resnet18.int8.onnx" \
  | tee "$out/export/bench.json"

echo "==> trainer: microscope camera frames of each lesion class (vignetting, blur, colour cast, JPEG)"
target/release/melanoscope-train frames --out "$out/frames" --per-class 1 --um-per-px 0.5 --width 1280 --height 960
echo "==> edge: fields of a rendered melanoma camera frame"
target/release/melanoscope-edge fields --image "$out/frames/MM-0.jpg" --um-per-px 0.5 --target-um-per-px 1.0 --out "$out/frames/MM-0-fields"

# The real slides too: the SVS and its DICOM conversion (read by OpenSlide 4) patch at
# 20X/10X/4X and are refused at 40X; the low-resolution DICOM is refused at every magnification
# with the reason. Their labels here are placeholders that exercise the pipeline, not diagnoses.
slides="../shared/data/slides"
cohort="$out/real-cohort.csv"
{
  echo "slide,slide_id,patient_id,label,site,um_per_px"
  echo "$(realpath "$slides/CMU-1-Small-Region.svs"),cmu-1,P1,MM,cmu,"
  echo "$(realpath "$data/he-tumour-1000px.png"),tumour-png,P2,IN,tia,0.25"
  echo "$(realpath "$slides/camelyon-lowres.dcm"),camelyon,P3,CN,camelyon,"
  echo "$(realpath "$slides/cmu-1-small-region-dicom/level-0-frames-0-30.dcm"),cmu-1-dicom,P4,MM,cmu,"
} > "$cohort"
echo "==> trainer: patch the real slides (bad slides are reported, the rest go on)"
target/release/melanoscope-train patch --cohort "$cohort" --out "$out/real-patches" --magnifications all
echo "==> trainer: OME-TIFF slides (pyramid in SubIFDs, µm/px from the OME-XML), patched at 40X and 10X"
target/release/melanoscope-train synth --out "$out/synth-ome" --patients 2 --slides-per-patient 1 \
  --width-mm 0.6 --height-mm 0.45 --um-per-px 0.25 --layout ome-subifds
target/release/melanoscope-train patch --cohort "$out/synth-ome/cohort.csv" --out "$out/synth-ome-patches" \
  --magnifications 40X,10X
echo "==> edge: live screening of replayed camera frames (40X, 0.25 µm/px) with the signed two-form bundle made above"
screen="$out/screen"
rm -rf "$screen" && mkdir -p "$screen"
target/release/melanoscope-train frames --out "$screen/frames" --per-class 2 --um-per-px 0.25 --width 1280 --height 960
# The site file: what a lab sets once (paths, camera, objective); everything else keeps the defaults.
cat > "$screen/site.toml" <<SITE
[model]
bundle = "$(realpath "$out/export/bundle/resnet18.mscm")"
trusted_keys = ["$(realpath "$out/export/demo-key.public")"]
# With a trusted key listed, only bundles it signed are screened with; the newest accepted is
# kept here (an older one is refused whichever trusted key signed it: rollback protection).
state_dir = "$(realpath "$screen")/state"
# auto (the default): what \`melanoscope-edge tune\` measured fastest on this machine.
onnxruntime_library = "$(realpath "$ort_lib")"
threads = 2

[camera]
source = "replay"
replay = ["$(realpath "$screen/frames")"]
objective = "40x"

[display]
sinks = ["snapshot"]
snapshot_dir = "$(realpath "$screen")/snapshots"
snapshot_every = 1

[screening]
# The synthetic scenes carry no texture finer than a micrometre, so their 40X frames score
# 0.047-0.19 on the focus measure however sharp they are rendered; real 40X H&E scores 0.34 and
# up (docs/boards/calibration.md). As the calibration guide says for any microscope: set the
# threshold below what your sharp views show.
min_sharpness = 0.03

[log]
path = "$(realpath "$screen")/screening.log"
SITE
echo "--> screening refuses an objective without a calibration (and says how to calibrate):"
target/release/melanoscope-edge screen --config "$screen/site.toml" --exit-on-fault || echo "(exit status $?, as expected)"
echo "--> a stage micrometer: 100 µm of scale span 400 px on the camera image at 40X"
target/release/melanoscope-edge calibrate objective --config "$screen/site.toml" --name 40x --micrometer-um 100 --micrometer-px 400
echo "--> tune: every form x runtime x batch x threads, self-tested then timed on the bundle's reference fields; the fastest goes into [model.tuned]"
target/release/melanoscope-edge tune --config "$screen/site.toml" --threads 1,2 --report "$screen/tune.json" > /dev/null
echo "--> screening the 8 frames as case DEMO-0001, each judged against frames.csv (the lesion each frame shows)"
target/release/melanoscope-edge screen --config "$screen/site.toml" --summary "$screen/summary.json" --exit-on-fault \
  --truth "$screen/frames/frames.csv" --case DEMO-0001 > "$screen/screen-output.txt"
echo "--> the live screen in a browser: the web view on this computer only (127.0.0.1, no token needed), screening the frames in a loop"
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Its own snapshot folder: the frames of the judged session above stay as they were drawn.
{ sed -e 's/^source = "replay"$/source = "replay"\nreplay_loop = true/' \
    -e 's|^snapshot_dir = "\(.*\)/snapshots"$|snapshot_dir = "\1/snapshots-web"|' "$screen/site.toml"
  printf '\n[web]\nenabled = true\nlisten = "127.0.0.1:%s"\n' "$port"; } > "$screen/site-web.toml"
grep -q 'snapshots-web"$' "$screen/site-web.toml"
target/release/melanoscope-edge screen --config "$screen/site-web.toml" > /dev/null 2> "$screen/web.err" &
web_pid=$!
for _ in $(seq 300); do grep -q "web view at" "$screen/web.err" && break; sleep 0.2; done
grep "web view at" "$screen/web.err" || { cat "$screen/web.err"; echo "the web view did not start" >&2; exit 1; }
# What a browser's page shows as text, once the first frame is screened.
for _ in $(seq 300); do
  status="$(curl -s "http://127.0.0.1:$port/status.json")"
  grep -q '"verdict":"' <<< "$status" && break
  sleep 0.2
done
echo "    /status.json: $status"
kill -TERM "$web_pid" && wait "$web_pid"
echo "    (open that address in any browser on this computer while screen runs; docs/boards/sinks.md)"
echo "--> real H&E of other organs (ovarian carcinoma, a tumour tile) as case DEMO-0002: the unfamiliar-tissue gate"
sed 's|^snapshot_dir = "\(.*\)/snapshots"$|snapshot_dir = "\1/snapshots-other-organs"|' "$screen/site.toml" \
  > "$screen/site-other-organs.toml"
grep -q 'snapshots-other-organs"$' "$screen/site-other-organs.toml"
target/release/melanoscope-edge screen --config "$screen/site-other-organs.toml" --summary "$screen/summary-other-organs.json" \
  --exit-on-fault --case DEMO-0002 --replay "$shared/images/hgsc_nest.jpg,$shared/images/he-tumour-1000px.png" \
  > /dev/null
.venv/bin/python - "$screen/summary-other-organs.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print(f"    {s['frames']} frames: {s['unfamiliar_frames']} gated UNFAMILIAR TISSUE, {s['screened']} screened to a verdict")
PY
echo "--> another lab's H&E (haematoxylin at 55%): the same 4 frames screened as stained (stain check) and normalised to the bundle's stain"
target/release/melanoscope-train frames --out "$screen/frames-weak-haematoxylin" --per-class 1 --um-per-px 0.25 \
  --width 1280 --height 960 --lab-style weak-haematoxylin
for mode in check normalise; do
  sed -e 's|^snapshot_dir = "\(.*\)/snapshots"$|snapshot_dir = "\1/snapshots-stain-'"$mode"'"|' \
    -e 's|^\[screening\]$|[screening]\nstain = "'"$mode"'"|' "$screen/site.toml" > "$screen/site-stain-$mode.toml"
  grep -q "^stain = \"$mode\"$" "$screen/site-stain-$mode.toml"
  target/release/melanoscope-edge screen --config "$screen/site-stain-$mode.toml" --summary "$screen/summary-stain-$mode.json" \
    --exit-on-fault --truth "$screen/frames-weak-haematoxylin/frames.csv" --replay "$screen/frames-weak-haematoxylin" \
    > /dev/null 2> "$screen/stain-$mode.err"
done
.venv/bin/python - "$screen/summary-stain-check.json" "$screen/summary-stain-normalise.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    s = json.load(open(path))
    t = s["truth"]
    print(f"    stain {s.get('stain', 'off')}: {t['right']} of {t['total']} frames right, "
          f"{s['stats']['unfamiliar_frames']} gated UNFAMILIAR TISSUE")
PY
echo "--> the cases' pages (self-contained HTML, checked in headless Chromium), and an export for review by USB stick"
for case in DEMO-0001 DEMO-0002; do
  target/release/melanoscope-edge case report "$case" --config "$screen/site.toml" --out "$screen/case-$case" --check-in-browser
done
rm -rf "$screen/usb"
target/release/melanoscope-edge case export --config "$screen/site.toml" --since "$(date -u +%Y-%m-%d)" --out "$screen/usb/cases"
target/release/melanoscope-edge review --export "$screen/usb/cases" --out "$screen/review"
target/release/melanoscope-edge log export --log "$screen/screening.log" --format csv --out "$screen/log.csv"
cat "$screen/log.csv"

echo "==> edge: bench: a 1920x1080 frame at 10X through a ResNet50 INT8 bundle (tract, and onnxruntime on the same fields)"
# ResNet50 at 10X (1.0 µm/px), one epoch: enough to have real weights to quantise and time.
target/release/melanoscope-train train --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" \
  --task mm-vs-nevi --magnification 10X --arch resnet50 --epochs 1 --batch-size 8 --workers 2 --out "$out/train-resnet50-10x" \
  > "$out/train-resnet50-10x.json"
target/release/melanoscope-train export --checkpoint "$out/train-resnet50-10x/best.safetensors" --arch resnet50 \
  --task mm-vs-nevi --magnification 10X --manifest "$out/synth-patches/manifest.parquet" --split "$out/synth/split.csv" \
  --form int8 --calibration-fields 16 --agreement-fields 8 --onnxruntime-lib "$ort_lib" --frames-per-slide 0 \
  --familiarity-fields 48 \
  --out "$out/export/resnet50-10x-int8.onnx" --bundle "$out/export/resnet50-10x-int8.mscm"
target/release/melanoscope-train frames --out "$out/frames-1080p" --per-class 1 --um-per-px 0.5 --width 1920 --height 1080
cat > "$out/screen/bench-site.toml" <<SITE
[model]
bundle = "$(realpath "$out/export/resnet50-10x-int8.mscm")"
state_dir = "$(realpath "$out/screen")/state"
onnxruntime_library = "$(realpath "$ort_lib")"
SITE
target/release/melanoscope-edge tune --config "$out/screen/bench-site.toml" --threads 1,2 --report "$out/screen/tune-resnet50-int8.json" > /dev/null
echo "--> at the tuned choice, then tract at batch 1 (onnxruntime timed on the same fields in the same process)"
# --views: the same loop with the desktop window (on a virtual X display here) and the web view
# streaming to 8 viewers, against no display sink.
xvfb-run -a -s "-screen 0 1920x1080x24" target/release/melanoscope-edge bench --config "$out/screen/bench-site.toml" \
  --frame "$out/frames-1080p/MM-0.jpg" --um-per-px 0.5 --frames 5 --onnxruntime-lib none --views | tee "$out/screen/bench.json"
target/release/melanoscope-edge bench --bundle "$out/export/resnet50-10x-int8.mscm" --backend tract --batch 1 --threads 2 \
  --frame "$out/frames-1080p/MM-0.jpg" --um-per-px 0.5 --frames 1 --onnxruntime-lib "$ort_lib" | tee "$out/screen/bench-tract.json"

echo "==> trainer: one report page of the whole run, opened in headless Chromium (every image loads, no console message; screenshot kept)"
page="$(target/release/melanoscope-train report --run "$out" --out "$out/report" --check-in-browser)"

echo "==> demo done: $out/screen (rendered frames with CAM overlays in snapshots/frames, screening.log, log.csv, summary.json, bench.json);"
echo "    $out/*/fields.png (edge fields); $out/synth (slides, masks, GeoJSON, split.csv);"
echo "    $out/synth-patches, $out/synth-patches-tissue and $out/real-patches (manifest.parquet, report.json,"
echo "    slides/*/qc.png with the delineations in yellow); $out/train-resnet18 (best.safetensors, state.json); $out/eval-resnet18 (report.md)"
echo "==> the report: $page (screenshot: $out/report/screenshot.png)"
