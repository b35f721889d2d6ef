#!/usr/bin/env python3
"""Per-field latency of ONNX models in onnxruntime, for `melanoscope-train bench-export`, which
runs tract on the same files with the same threads and batches in the same command.

usage: ort_bench.py THREADS BATCHES RUNS MODEL...   (BATCHES comma-separated, e.g. 1,4)
Prints one JSON object per line: model, batch, threads, runs, ms_per_batch (median),
ms_per_field."""

import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> int:
    threads, batches, runs = int(sys.argv[1]), [int(b) for b in sys.argv[2].split(",")], int(sys.argv[3])
    for model in sys.argv[4:]:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        side = session.get_inputs()[0].shape[-1]
        for batch in batches:
            x = np.random.default_rng(0).standard_normal((batch, 3, side, side), dtype=np.float32)
            session.run(None, {"input": x})  # warm-up
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                session.run(None, {"input": x})
                times.append(time.perf_counter() - t)
            ms = statistics.median(times) * 1000
            print(json.dumps({"runtime": "onnxruntime " + ort.__version__, "model": model, "batch": batch,
                              "threads": threads, "runs": runs, "ms_per_batch": ms, "ms_per_field": ms / batch}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
