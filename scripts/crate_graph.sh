#!/usr/bin/env bash
# The crate graph's rules: the trainer never links the edge; the slides crate never links
# libtorch (a CPU node patches without the torch wheel); the edge without its feature never
# links onnxruntime, and with it does; the board binaries (the edge with its board features)
# never link the Chromium checker. Run by make test and make check.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each tree is read whole before it is searched (grep -q closing the pipe early would fail it).
trainer_tree="$(cargo tree --locked -p melanoscope-trainer --prefix none)"
slides_tree="$(cargo tree --locked -p melanoscope-slides --prefix none)"
edge_tree="$(cargo tree --locked -p melanoscope-edge --no-default-features --prefix none)"
board_tree="$(cargo tree --locked -p melanoscope-edge --features rpi,jetson,v4l2,onnxruntime --prefix none)"
edge_ort_tree="$(cargo tree --locked -p melanoscope-edge --features onnxruntime --prefix none)"
if grep -q '^melanoscope-edge ' <<<"$trainer_tree"; then
  echo "melanoscope-trainer depends on melanoscope-edge" >&2; exit 1
fi
if grep -qE '^(torch-sys|tch) ' <<<"$slides_tree"; then
  echo "melanoscope-slides depends on libtorch (torch-sys)" >&2; exit 1
fi
if grep -q '^ort ' <<<"$edge_tree"; then
  echo "melanoscope-edge without features depends on ort" >&2; exit 1
fi
grep -q '^ort ' <<<"$edge_ort_tree" || { echo "melanoscope-edge --features onnxruntime does not reach ort" >&2; exit 1; }
if grep -q '^melanoscope-pagecheck ' <<<"$board_tree"; then
  echo "the board build of melanoscope-edge links melanoscope-pagecheck (Chromium checks are host-only)" >&2; exit 1
fi
echo "crate graph: ok"
