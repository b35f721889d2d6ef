#!/usr/bin/env bash
# The developers' inner loop (`make check`): formatting, the crate graph, clippy and the host
# library (unit) tests, with the step table of scripts/test.sh. Not the gate: `make test` is.
#   make check                      every crate
#   make check CRATES="edge shared" only those crates (names without the melanoscope- prefix)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh
steps_begin target/check-times.tsv

run_step setup "setup" bash scripts/setup.sh
source scripts/env.sh

packages=(--workspace)
if [ -n "${CRATES:-}" ]; then
  packages=()
  for c in $CRATES; do
    [ -f "$c/Cargo.toml" ] || { echo "check: no crate folder '$c' (expected one of: shared engine synth slides edge boards pagecheck trainer tests)" >&2; exit 2; }
    packages+=(-p "melanoscope-$c")
  done
fi

run_step check "cargo fmt --check" cargo fmt --all -- --check
run_step check "crate graph" bash scripts/crate_graph.sh
run_step check "clippy ${CRATES:-(all crates)}, all targets" cargo clippy "${packages[@]}" --all-targets --locked -- -D warnings
run_step compile "unit test build ${CRATES:-(all crates)}" cargo test "${packages[@]}" --lib --locked --no-run
run_step run "unit tests ${CRATES:-(all crates)}" cargo test "${packages[@]}" --lib --locked
steps_end
