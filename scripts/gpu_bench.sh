#!/usr/bin/env bash
# Trainer speed on a CUDA machine against PyTorch eager, in one run (issue 4's speed goal).
#
#   scripts/gpu_bench.sh prepare   # here: release trainer, its non-system libraries, a small
#                                  # synthetic patch set (out/demo's 40X JPEG patches) in .devbench/
#   scripts/gpu_bench.sh remote    # on the GPU machine (python3 with PyTorch 2.11, no Rust):
#                                  # builds nothing; writes torch.json, rust.json, compare.md to $OUT
#
# The GPU machine gets the tree with `.devbench` carried; LD_LIBRARY_PATH points at that
# python3's torch/lib, whose libtorch matches the one the trainer was linked against.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=.devbench
archs="${ARCHS:-resnet50,vgg19}"
speeds="${SPEEDS:-fp32,fp32-cl,fp16-cl}"
batch="${BATCH:-128}"
steps="${STEPS:-30}"
warmup="${WARMUP:-8}"

case "${1:-}" in
prepare)
  source scripts/env.sh
  cargo build --release --locked -p melanoscope-trainer
  patches="${PATCHES:-out/demo/synth-patches/patches/40X}"
  [ -d "$patches" ] || { echo "no patch folder $patches: run 'make demo' first or set PATCHES" >&2; exit 1; }
  rm -rf "$bench" && mkdir -p "$bench/lib"
  cp target/release/melanoscope-train "$bench/"
  strip "$bench/melanoscope-train"
  # Every library the binary needs (OpenSlide 4 from the openslide-bin wheel included), not
  # libtorch's (the GPU machine's python3 has those)
  # and the C/C++ runtime (the GPU machine's newer ones are backward compatible).
  ldd target/release/melanoscope-train | awk '/=> \//{print $3}' | grep -v site-packages/torch/ \
    | grep -v -E "/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux[^/]*)\.so" \
    | xargs -I{} cp -L {} "$bench/lib/"
  tar -C "$bench" -cJf "$bench/lib.tar.xz" lib && rm -rf "$bench/lib"
  cp -r "$patches" "$bench/patches"
  du -sh "$bench"
  ;;
remote)
  out="${OUT:-out/gpu-bench}"
  mkdir -p "$out" /tmp/devbench
  tar -C /tmp/devbench -xJf "$bench/lib.tar.xz"
  torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  export LD_LIBRARY_PATH="$torch_lib:/tmp/devbench/lib"
  (nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi") | tee "$out/gpu.txt"
  echo "libtorch_cuda linked: $(ldd $bench/melanoscope-train | grep -c libtorch_cuda)" | tee -a "$out/gpu.txt"
  $bench/melanoscope-train info | tee "$out/info.json"
  $bench/melanoscope-train import-patches --folder "$bench/patches" --out /tmp/devbench/patches.parquet --magnification 40X
  if [ -n "${LOAD_VARIANTS:-}" ]; then
    # What limits the data pipeline: batch size, workers, libtorch threads, augmentation.
    load() { echo "== $*"; "$@" 2>&1 | grep '"phase":"load"'; }
    lb="$bench/melanoscope-train bench --archs= --steps 30 --warmup 4 --manifest /tmp/devbench/patches.parquet"
    load $lb --batch-size 32
    load $lb --batch-size 128
    load $lb --batch-size 128 --workers 7
    load $lb --batch-size 128 --torch-threads 16
    load $lb --batch-size 128 --no-augment
  fi
  PYTHONUNBUFFERED=1 python3 scripts/bench_torch.py --archs "$archs" --speeds "$speeds" \
    --batch-size "$batch" --steps "$steps" --warmup "$warmup" > "$out/torch.json" 2> >(tee "$out/torch.log" >&2)
  $bench/melanoscope-train bench --archs "$archs" --speeds "$speeds" --pipeline-speeds "${PIPELINE_SPEEDS:-fp16-cl}" \
    --manifest /tmp/devbench/patches.parquet --batch-size "$batch" --steps "$steps" --warmup "$warmup" \
    ${TORCH_THREADS:+--torch-threads $TORCH_THREADS} > "$out/rust.json" \
    2> >(grep -v "Warning:" | tee "$out/rust.log" >&2)
  python3 scripts/bench_compare.py "$out/torch.json" "$out/rust.json" | tee "$out/compare.md"
  ;;
*)
  echo "usage: $0 prepare|remote" >&2; exit 2 ;;
esac
