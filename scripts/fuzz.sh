#!/usr/bin/env bash
# Fuzzes the record-log reader and the bundle-metadata decoder, each for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/../shared"
seconds="${FUZZ_SECONDS:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if rustup toolchain list | grep -q '^nightly'; then
  run() { cargo +nightly fuzz run "$@"; }
else
  # cargo-fuzz needs nightly flags; stable accepts them under RUSTC_BOOTSTRAP, without ASan.
  run() { RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$@"; }
fi
for target in record_log bundle_meta; do
  echo "==> fuzzing $target for ${seconds}s"
  run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
