#!/usr/bin/env bash
# Every test of the project: formatting, lints, host tests of all crates (trainer included),
# a bare-metal build of the no_std core, and the ARM builds and tests under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n==> [%s, +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

# CI builds from a fresh clone once: incremental caches would only take disk (about a third of
# the debug build), and the CI machine's disk is shared with the session's own build.
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "crate graph: the trainer never links the edge; the edge without its feature never links onnxruntime"
# Each tree is read whole before it is searched (grep -q closing the pipe early would fail it).
trainer_tree="$(cargo tree --locked -p melanoscope-trainer --prefix none)"
edge_tree="$(cargo tree --locked -p melanoscope-edge --no-default-features --prefix none)"
edge_ort_tree="$(cargo tree --locked -p melanoscope-edge --features onnxruntime --prefix none)"
if grep -q '^melanoscope-edge ' <<<"$trainer_tree"; then
  echo "melanoscope-trainer depends on melanoscope-edge" >&2; exit 1
fi
if grep -q '^ort ' <<<"$edge_tree"; then
  echo "melanoscope-edge without features depends on ort" >&2; exit 1
fi
grep -q '^ort ' <<<"$edge_ort_tree" || { echo "melanoscope-edge --features onnxruntime does not reach ort" >&2; exit 1; }

step "clippy (all crates, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p melanoscope-shared --no-default-features --features alloc --locked -- -D warnings
# The optional hardware backends compile and lint on the host too (V4L2, Pi, Jetson).
cargo clippy -p melanoscope-edge -p melanoscope-boards --all-targets --features melanoscope-edge/v4l2,melanoscope-edge/rpi,melanoscope-edge/jetson,melanoscope-boards/mock --locked -- -D warnings

step "host tests (x86_64, every crate; the trainer turns on the engine's onnxruntime feature)"
cargo test --workspace --locked

step "the sharded study on a one-node Slurm cluster: patch and experiment arrays merged = unsharded"
bash scripts/test_cluster.sh
# Built on its own, the edge (and its engine) have no onnxruntime: the board binaries' build.
step "host tests of the engine and edge without onnxruntime"
cargo test -p melanoscope-engine -p melanoscope-edge --locked
cargo test -p melanoscope-boards --features rpi,jetson,mock --locked

step "no_std core builds for bare metal (thumbv7em-none-eabihf)"
cargo build -p melanoscope-shared --no-default-features --features alloc --target thumbv7em-none-eabihf --locked

# Property tests run fewer cases under emulation; every case still runs on x86_64 above.
arm_targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
arm_packages=(-p melanoscope-shared -p melanoscope-engine -p melanoscope-synth -p melanoscope-edge -p melanoscope-boards
              -p melanoscope-tests)
for target in "${arm_targets[@]}"; do
  step "cross build for $target (binaries and test binaries)"
  cargo build --target "$target" -p melanoscope-shared -p melanoscope-engine -p melanoscope-edge -p melanoscope-boards --locked
  cargo test --target "$target" --locked "${arm_packages[@]}" --no-run
done
# qemu-user runs a test binary on one core (one test thread: timing-sensitive tests stay calm
# under emulation), so the two targets run side by side, each to its own log, shown after.
step "tests under qemu for ${arm_targets[*]} side by side (one test thread each)"
pids=()
for target in "${arm_targets[@]}"; do
  PROPTEST_CASES=48 bash scripts/qemu_tests.sh "$target" "${arm_packages[@]}" > "target/qemu-tests-$target.log" 2>&1 &
  pids+=($!)
done
qemu_failed=()
for i in "${!arm_targets[@]}"; do
  wait "${pids[$i]}" || qemu_failed+=("${arm_targets[$i]}")
done
for target in "${arm_targets[@]}"; do
  echo "---- ${target} ----"
  cat "target/qemu-tests-$target.log"
done
[ ${#qemu_failed[@]} -eq 0 ] || { echo "tests under qemu failed for: ${qemu_failed[*]}" >&2; exit 1; }
step "board packages: release cross builds, installed into a scratch root, a replay under qemu"
bash scripts/package_test.sh

step "all tests passed"
