#!/usr/bin/env python3
"""Turns arm-cost instruction counts (scripts/arm_estimate.sh) into cycles per field.

For each model form and core: one field's instructions = the count with one inference minus
the count without (load and plan only). Instructions are grouped by the pipes that execute
them; each group's count divided by the core's throughput for it (instructions per cycle, from
the core's software optimisation guide) gives the cycles that group needs, and the largest of
these and of total/dispatch width is the estimate: a throughput bound, as if every pipe were
kept busy. Writes PREFIX.json and PREFIX.md.
"""
import json, os, re, subprocess, sys, tempfile

COUNTS, PREFIX = sys.argv[1], sys.argv[2]

# Instructions per cycle by pipe group. Cortex-A76: Arm Cortex-A76 Software Optimization Guide
# (PJDOC-466751330-7215, v8.0, 2019), §3 instruction tables: FP/ASIMD multiply-accumulate
# (FMLA .4s/.8h) and SDOT on V0/V1, 2 per cycle; SMLAL/SMLAL2 on V0 only, 1 per cycle; loads on
# two load pipes, 2 per cycle; stores 1 per cycle; integer ALU 3 per cycle; decode/dispatch 4.
# Cortex-A72: Cortex-A72 Software Optimization Guide (ARM UAN 0016A, 2015), §3: Q-form FMLA and
# other Q-form ASIMD on F0/F1, 1 per cycle; SMLAL on F0, 1 per cycle; one load pipe and one
# store pipe, 1 per cycle each; integer I0/I1, 2 per cycle; dispatch 3.
CORES = {
    "cortex-a76": {"board": "Raspberry Pi 5", "ghz": 2.4, "cores": 4, "dispatch": 4,
                   "rate": {"mac_v": 2, "mac_v0": 1, "vector": 2, "load": 2, "store": 1, "integer": 3}},
    "cortex-a72": {"board": "Raspberry Pi 4", "ghz": 1.8, "cores": 4, "dispatch": 3,
                   "rate": {"mac_v": 1, "mac_v0": 1, "vector": 1, "load": 1, "store": 1, "integer": 2}},
}
# Multiply-adds per instruction of the kernels' inner loops.
# (SMLAL/SMLAL2 .4s widen 16-bit products into 32-bit lanes: tract's int8 kernel without dot
# product sign-extends bytes to 16 bits first, with SSHLL.)
MACS = {"fmla.4s": 4, "fmla.8h": 8, "sdot": 16, "sdot.4s": 16, "smlal.4s": 4, "smlal2.4s": 4, "smlal.8h": 8,
        "smlal2.8h": 8}


def read_counts(path):
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0] != "total":
                counts[parts[0]] = counts.get(parts[0], 0) + int(parts[1])
    return counts


_decoded = {}


def decode(raw):
    """A raw:XXXXXXXX encoding QEMU could not disassemble, as objdump names it (mnemonic.arrangement)."""
    if raw in _decoded:
        return _decoded[raw]
    name = raw
    with tempfile.TemporaryDirectory() as d:
        src, obj = os.path.join(d, "x.s"), os.path.join(d, "x.o")
        with open(src, "w") as f:
            f.write(f".inst 0x{raw[4:]}\n")
        try:
            subprocess.run(["aarch64-linux-gnu-as", "-march=armv8.2-a+fp16+dotprod", "-o", obj, src], check=True,
                           capture_output=True)
            out = subprocess.run(["aarch64-linux-gnu-objdump", "-d", obj], check=True, capture_output=True, text=True).stdout
            m = re.search(r"^\s*0:\s+[0-9a-f]+\s+(\S+)\s+(.*)$", out, re.M)
            if m:
                arr = re.search(r"\.(\d+[bhsd])", m.group(2))
                name = m.group(1) + ("." + arr.group(1) if arr and m.group(1) not in ("sdot", "udot") else "")
        except (OSError, subprocess.CalledProcessError):
            pass
    _decoded[raw] = name
    return name


def group(mnemonic):
    base = mnemonic.split(".")[0]
    if mnemonic in ("fmla.4s", "fmla.8h", "sdot", "udot", "sdot.4s"):
        return "mac_v"
    if base in ("smlal", "smlal2", "umlal", "umlal2"):
        return "mac_v0"
    if base.startswith("ld"):
        return "load"
    if base.startswith("st"):
        return "store"
    if "." in mnemonic or base.startswith("f") or base in ("dup", "ins", "umov", "smov", "movi", "ext", "zip1",
                                                              "zip2", "uzp1", "uzp2", "trn1", "trn2", "tbl", "sxtl",
                                                              "sxtl2", "uxtl", "uxtl2", "scvtf", "ucvtf", "sqxtn",
                                                              "sqxtn2", "xtn", "xtn2", "addp", "saddlp", "sadalp",
                                                              "mla", "mul", "smull", "smull2", "shl", "sshr", "ushr",
                                                              "sqrdmulh", "srshl", "bsl", "bif", "bit", "cmeq",
                                                              "cmgt", "cmge", "sqadd", "uqadd", "addv", "faddp"):
        return "vector"
    return "integer"


rows = []
names = sorted({f.rsplit(".", 3)[0] for f in os.listdir(COUNTS) if f.endswith(".1.txt")})
for name in names:
    arch, form = name.rsplit("-", 1)
    for cpu, spec in CORES.items():
        with_run = os.path.join(COUNTS, f"{name}.{cpu}.1.txt")
        without = os.path.join(COUNTS, f"{name}.{cpu}.0.txt")
        if not (os.path.exists(with_run) and os.path.exists(without)):
            continue
        a, b = read_counts(with_run), read_counts(without)
        diff = {}
        for k in set(a) | set(b):
            n = a.get(k, 0) - b.get(k, 0)
            if n > 0:
                key = decode(k) if k.startswith("raw:") else k
                diff[key] = diff.get(key, 0) + n
        total = sum(diff.values())
        groups = {}
        for k, n in diff.items():
            groups[group(k)] = groups.get(group(k), 0) + n
        bound = {g: n / spec["rate"][g] for g, n in groups.items()}
        bound["dispatch"] = total / spec["dispatch"]
        limit = max(bound, key=bound.get)
        cycles = bound[limit]
        macs = sum(n * MACS.get(k, 0) for k, n in diff.items())
        # The inner loops' multiply-accumulates (a few thousand stray ones elsewhere are left out).
        kernels = {k: n for k, n in diff.items() if k in MACS and n >= 1_000_000}
        ms1 = cycles / (spec["ghz"] * 1e6)
        rows.append({
            "model": arch, "form": form, "cpu": cpu, "board": spec["board"], "instructions": total,
            "mac_instructions": kernels, "macs_in_kernels": macs, "groups": groups,
            "cycles_per_field": cycles, "bound_by": limit, "ms_per_field_one_core": ms1,
            "top": sorted(diff.items(), key=lambda kv: -kv[1])[:8],
        })

doc = {"method": __doc__.strip(), "cores": CORES, "rows": rows}
with open(PREFIX + ".json", "w") as f:
    json.dump(doc, f, indent=1)

lines = [
    "# What the boards would execute: one 256-px field, counted under qemu",
    "",
    "Generated by `scripts/arm_estimate.sh MODELS_DIR` (counts with `../shared/tools/arm-cost`, one",
    "thread, tract as built by this project; a run without inference subtracted). Cycles are a",
    "throughput bound: each pipe group's instructions over the core's rate for it (figures and",
    "sources in `scripts/arm_estimate.py`), the largest group setting the pace. Real kernels reach",
    "a fraction of this bound (cache misses, dependencies), so these are lower bounds on time.",
    "",
    "| model | form | core (board) | instructions | kernel reached (MAC instructions) | bound by | cycles/field | ms/field, 1 core | ms/field, 4 cores at 80% |",
    "|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    kern = ", ".join(f"`{k}` {v / 1e6:.0f}M" for k, v in sorted(r["mac_instructions"].items(), key=lambda kv: -kv[1])) or "none"
    lines.append(
        f"| {r['model']} | {r['form']} | {r['cpu']} ({r['board']}) | {r['instructions'] / 1e9:.2f} G | {kern} | "
        f"{r['bound_by']} | {r['cycles_per_field'] / 1e6:.0f} M | {r['ms_per_field_one_core']:.0f} | "
        f"{r['ms_per_field_one_core'] / (4 * 0.8):.0f} |")
lines += [
    "",
    "Frame estimate (6 fields, the best form per board, 4 cores at 80% parallel efficiency, as",
    "tract's 1→2-thread scaling measured on the x86 host: 68.0→41.5 ms for ResNet18 f32):",
    "",
    "| model | core (board) | best form | ms/frame of 6 fields |",
    "|---|---|---|---|",
]
best = {}
for r in rows:
    key = (r["model"], r["cpu"])
    if key not in best or r["ms_per_field_one_core"] < best[key]["ms_per_field_one_core"]:
        best[key] = r
for (model, cpu), r in sorted(best.items()):
    frame = 6 * r["ms_per_field_one_core"] / (4 * 0.8)
    lines.append(f"| {model} | {cpu} ({r['board']}) | {r['form']} | {frame:.0f} |")
    if cpu == "cortex-a72":
        # Same kernels and per-cycle NEON rate assumed; its clock against the Pi 4's.
        lines.append(f"| {model} | cortex-a57 (Jetson Nano, from the A72 counts at 1.43 GHz) | {r['form']} | "
                     f"{frame * 1.8 / 1.43:.0f} |")
lines += [
    "",
    "Jetson Nano (Cortex-A57, 1.43 GHz, no fp16 arithmetic, no dot product) runs the same kernels",
    "as the Cortex-A72 rows with about the same per-cycle NEON throughput: scale those rows by",
    "1.8/1.43 (its clock against the Pi 4's).",
    "",
    "f16 is not counted on Cortex-A72: without half-precision arithmetic tract emulates it.",
]
with open(PREFIX + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
