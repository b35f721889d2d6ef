#!/usr/bin/env python3
"""Runs an exported Melanoscope model in onnxruntime on the reference batch written beside it
(`<model>.input.npy`, `.logits.npy`, `.features.npy`, computed by the trainer's tch network) and
prints the largest differences as JSON; exits 1 when they exceed the tolerance (relative to
the largest reference value, as f32 sums in another order differ in their last bits)."""

import json
import sys

import numpy as np
import onnxruntime as ort


def main(model: str, tolerance: float = 1e-5) -> int:
    stem = model[: -len(".onnx")] if model.endswith(".onnx") else model
    x = np.load(stem + ".input.npy")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, {"input": x})))
    report = {"model": model, "onnxruntime": ort.__version__, "outputs": names}
    ok = True
    for name in ("logits", "features"):
        want = np.load(stem + f".{name}.npy")
        got = outputs[name]
        diff = float(np.max(np.abs(got - want)))
        scale = max(float(np.max(np.abs(want))), 100.0)
        report[name] = {"shape": list(got.shape), "max_abs_diff": diff, "allowed": tolerance * scale}
        ok &= got.shape == want.shape and diff <= tolerance * scale
    report["ok"] = ok
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *(float(a) for a in sys.argv[2:3])))
