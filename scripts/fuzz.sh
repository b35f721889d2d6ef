#!/usr/bin/env bash
# Fuzzes every decoder of outside input, each target for FUZZ_SECONDS (default 60): in shared,
# the record-log reader, the bundle metadata and the whole bundle file (signature and forms);
# in edge, the MJPEG splitter, the raw stream, the site settings and (through boards) the
# board description; in slides, the cohort file, annotation files with their geometry
# checks, region-label specs, the split file, the direct TIFF and OME-TIFF readers; in trainer
# (libtorch), weight files. Prints a line per target with the runs it made. FUZZ_TARGETS="dir:target ..." limits
# the list (e.g. FUZZ_TARGETS="edge:mjpeg_stream").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if rustup toolchain list | grep -q '^nightly'; then
  run() { cargo +nightly fuzz run "$@"; }
  asan=1
else
  # cargo-fuzz needs nightly flags; stable accepts them under RUSTC_BOOTSTRAP, without ASan.
  run() { RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$@"; }
  asan=0
fi
fuzz() {
  local dir="$1" target="$2" extra=()
  # libtorch is not built with AddressSanitizer; mixing the two reports its allocations falsely.
  if [ "$dir" = trainer ] && [ "$asan" = 1 ]; then extra=(--sanitizer none); fi
  echo "==> fuzzing $dir: $target for ${seconds}s"
  (cd "$dir" && run "${extra[@]}" "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 2>&1) \
    | tee "target/fuzz-$target.log" | grep -E "^#[0-9]+ +DONE|^Done|SUMMARY|panicked" || true
  grep -q "^Done [0-9]* runs" "target/fuzz-$target.log" || { echo "fuzz target $target failed" >&2; exit 1; }
}
mkdir -p target
all="shared:record_log shared:bundle_meta shared:model_file edge:mjpeg_stream edge:raw_stream edge:site_toml \
edge:board_toml edge:truth_csv edge:control_request edge:case_export edge:web_request slides:cohort_csv slides:annotations slides:region_labels slides:split_csv slides:tiled_tiff \
slides:ome_tiff trainer:safetensors"
for entry in ${FUZZ_TARGETS:-$all}; do
  fuzz "${entry%%:*}" "${entry#*:}"
done
