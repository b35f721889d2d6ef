#!/usr/bin/env python3
"""Converts a torchvision state dict (.pth, a Python pickle) into safetensors, once, so the
trainer reads pretrained weights in Rust without executing pickled code.

    .venv/bin/python scripts/pth_to_safetensors.py resnet50-0676ba61.pth resnet50.safetensors

Uses only torch (weights_only=True refuses pickles that carry code) and writes the safetensors
layout itself: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
          torch.int32: "I32", torch.uint8: "U8", torch.float64: "F64"}


def main(src: str, dst: str) -> None:
    state = torch.load(src, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    header, blobs, offset = {}, [], 0
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            sys.exit(f"{src}: entry {name!r} is not a tensor")
        if t.dtype not in DTYPES:
            sys.exit(f"{src}: entry {name!r} has dtype {t.dtype}, which safetensors here does not take")
        data = t.contiguous().cpu().numpy().tobytes() if t.dtype != torch.bfloat16 else \
            t.contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    print(f"wrote {len(header)} tensors to {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: pth_to_safetensors.py IN.pth OUT.safetensors")
    main(sys.argv[1], sys.argv[2])
