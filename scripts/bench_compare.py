#!/usr/bin/env python3
"""Markdown table of `melanoscope-train bench` against `bench_torch.py` from the same run:
patches/s of each side and the Rust/PyTorch ratio (the goal is at least 0.9)."""

import json
import sys


def main(torch_path: str, rust_path: str) -> int:
    torch_rows = json.load(open(torch_path))["rows"]
    rust = json.load(open(rust_path))
    base = {(r["arch"], r["speed"], r["phase"]): r["patches_per_s"] for r in torch_rows}
    print(f"device: {rust.get('device')}, cores {rust.get('cores')}\n")
    print("| arch | speed | phase | data | Rust patches/s | PyTorch patches/s (random) | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rust["rows"]:
        t = base.get((r["arch"], r["speed"], r["phase"]))
        ratio = f"{r['patches_per_s'] / t:.2f}" if t else "-"
        tt = f"{t:.0f}" if t else "-"
        print(f"| {r['arch']} | {r['speed']} | {r['phase']} | {r['data']} | {r['patches_per_s']:.0f} | {tt} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
