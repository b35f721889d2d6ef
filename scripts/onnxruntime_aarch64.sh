#!/usr/bin/env bash
# Fetches the onnxruntime aarch64 wheel (manylinux_2_28, what `pip install onnxruntime` takes on
# Raspberry Pi OS Bookworm 64-bit) into target/onnxruntime-aarch64 and prints the path of its
# libonnxruntime.so: the library the arm64 package's onnxruntime backend is tested with under
# qemu. Quick when it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.32.0
dir=target/onnxruntime-aarch64
lib="$dir/libonnxruntime.so.$VERSION"
if [ ! -s "$lib" ]; then
  mkdir -p "$dir"
  .venv/bin/pip download -q "onnxruntime==$VERSION" --platform manylinux_2_28_aarch64 --only-binary=:all: \
    --no-deps -d "$dir" >&2
  .venv/bin/python - "$dir" "$VERSION" <<'PY'
import glob, sys, zipfile
folder, version = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{folder}/onnxruntime-{version}-*manylinux_2_28_aarch64.whl")[0]
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, open(f"{folder}/libonnxruntime.so.{version}.tmp", "wb") as out:
    out.write(z.read(name))
PY
  mv "$lib.tmp" "$lib"
fi
realpath "$lib"
