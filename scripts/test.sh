#!/usr/bin/env bash
# Every test of the project: formatting, lints, host tests of all crates (trainer included),
# a bare-metal build of the no_std core, the ARM tests under qemu-user and the board packages.
# Each step's wall time goes to target/test-times.tsv (compiling apart from running), and the
# table is printed at the end of every run, passed or failed, so a CI log shows where time went.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/steps.sh

# CI builds from a fresh clone once: incremental caches would only take disk (about a third of
# the debug build), and the CI machine's disk is shared with the session's own build.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

steps_begin target/test-times.tsv

run_step setup "setup (Debian packages, Rust targets, the cached torch venv)" bash scripts/setup.sh
source scripts/env.sh
run_step check "the per-machine venv cache: one install for two setups at once, damaged ones rebuilt" \
  bash scripts/test_venv_cache.sh
run_step check "the step table: a failed step stops the run and is shown in the table" bash scripts/test_steps.sh

run_step check "cargo fmt --check" cargo fmt --all -- --check
run_step check "crate graph (trainer without edge; slides without libtorch; edge without onnxruntime unless asked, boards without pagecheck)" \
  bash scripts/crate_graph.sh

clippy_all() {
  cargo clippy --workspace --all-targets --locked -- -D warnings
  cargo clippy -p melanoscope-shared --no-default-features --features alloc --locked -- -D warnings
  # The optional hardware backends compile and lint on the host too (V4L2, Pi, Jetson).
  cargo clippy -p melanoscope-edge -p melanoscope-boards --all-targets \
    --features melanoscope-edge/v4l2,melanoscope-edge/rpi,melanoscope-edge/jetson,melanoscope-boards/mock --locked -- -D warnings
}
run_step check "clippy -D warnings (all crates and targets; no_std core; hardware features)" clippy_all

# The host run has the board backends' code in too (Pi, Jetson, mock), so the boards crate's
# hardware-feature tests run in the one workspace build. The engine and edge without onnxruntime
# (the armv7 board binary's feature set) run under qemu for armv7 below.
host_features=(--features melanoscope-boards/rpi,melanoscope-boards/jetson,melanoscope-boards/mock)
run_step compile "host test build (x86_64, every crate)" \
  cargo test --workspace --locked "${host_features[@]}" --no-run
run_step run "host tests (x86_64, every crate)" cargo test --workspace --locked "${host_features[@]}"

# The trainer binary the host test build made (the integration tests run it): building it again
# with the trainer's features alone would recompile the crates below it.
run_step run "Slurm: patch and experiment arrays merged = unsharded (one-node cluster)" \
  env MELANOSCOPE_TRAIN="$PWD/target/debug/melanoscope-train" MELANOSCOPE_SLIDES="$PWD/target/debug/melanoscope-slides" \
  bash scripts/test_cluster.sh

run_step compile "no_std core builds for bare metal (thumbv7em-none-eabihf)" \
  cargo build -p melanoscope-shared --no-default-features --features alloc --target thumbv7em-none-eabihf --locked

# The ARM tests are built in the board packages' profile (optimised, overflow checks on) with
# each package's features (scripts/board_targets.sh), after the packages, so they reuse the
# dependencies the package builds compiled: one optimised build of the dependency graph per ARM
# target, not a debug one as well. Optimised code also runs several times faster under emulation.
# So each target tests the edge it ships: aarch64 with the onnxruntime backend compiled in,
# armv7 without it (the engine and edge without onnxruntime, as the host ran them before).
source scripts/board_targets.sh
arm_targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
arm_packages=(-p melanoscope-shared -p melanoscope-engine -p melanoscope-synth -p melanoscope-edge -p melanoscope-boards
              -p melanoscope-tests)
for target in "${arm_targets[@]}"; do
  run_step compile "board package build for $target (board profile)" bash scripts/package.sh "$target"
done
for target in "${arm_targets[@]}"; do
  run_step compile "ARM test build for $target (board profile, the package's features)" \
    env BINDGEN_EXTRA_CLANG_ARGS="$(board_bindgen_args "$target")" \
    cargo test --profile board --target "$target" --locked "${arm_packages[@]}" \
    --features "$(board_edge_features "$target")" --no-run
done

# qemu-user runs a test binary on one core (one test thread: timing-sensitive tests stay calm
# under emulation), so the two targets run side by side, each to its own log, shown after.
# Property tests run fewer cases under emulation; every case still runs on x86_64 above.
qemu_both() {
  local pids=() failed=() i target
  for target in "${arm_targets[@]}"; do
    PROPTEST_CASES=48 QEMU_TESTS_PROFILE=board BINDGEN_EXTRA_CLANG_ARGS="$(board_bindgen_args "$target")" \
      bash scripts/qemu_tests.sh "$target" "${arm_packages[@]}" --features "$(board_edge_features "$target")" \
      > "target/qemu-tests-$target.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!arm_targets[@]}"; do
    wait "${pids[$i]}" || failed+=("${arm_targets[$i]}")
  done
  for target in "${arm_targets[@]}"; do
    echo "---- ${target} ----"
    cat "target/qemu-tests-$target.log"
  done
  [ ${#failed[@]} -eq 0 ] || { echo "tests under qemu failed for: ${failed[*]}" >&2; return 1; }
}
run_step run "tests under qemu, aarch64 and armv7 side by side (one test thread each)" qemu_both

run_step run "board packages: installed in a scratch root, systemd-analyze, replay under qemu" \
  env MELANOSCOPE_PACKAGES_BUILT=1 bash scripts/package_test.sh

steps_end
