#!/usr/bin/env bash
# The sharded study on a real (one-node) Slurm cluster: installs Debian's Slurm and munge when
# missing, starts munged, slurmctld and slurmd with a configuration in a temporary folder,
# submits a 2-task `patch` array over a small synthetic cohort and a 2-task CPU `experiment`
# array over 2 tiny grid cells (scripts/slurm/submit.sh, each with its dependent merge job),
# waits for them, and asserts that the merged manifest, report and tables equal those of the
# same runs unsharded. Stops the daemons it started. Prints the time of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
repo="$PWD"

if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null || ! command -v munged > /dev/null \
   || ! command -v sbatch > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd munge slurm-client > /dev/null
fi

bin="${MELANOSCOPE_TRAIN:-$repo/target/debug/melanoscope-train}"
if [ -z "${MELANOSCOPE_TRAIN:-}" ]; then
  cargo build --locked -q -p melanoscope-trainer --bin melanoscope-train
fi
slides="${MELANOSCOPE_SLIDES:-$repo/target/debug/melanoscope-slides}"
if [ -z "${MELANOSCOPE_SLIDES:-}" ]; then
  cargo build --locked -q -p melanoscope-slides --bin melanoscope-slides
fi
# The patch tasks run melanoscope-slides, which links no libtorch, as a CPU node would.
export MELANOSCOPE_TRAIN="$bin" MELANOSCOPE_SLIDES="$slides"
if ldd "$slides" | grep -q 'libtorch'; then
  echo "$slides links libtorch; the patch tasks must run without the torch wheel" >&2; exit 1
fi

work="$(mktemp -d /tmp/msc-cluster-XXXXXX)"
source scripts/slurm/cluster.sh
trap 'cluster_stop; rm -rf "$work"' EXIT

elapsed() { local t0="$1"; echo "$(( $(date +%s%N) / 1000000 - t0 ))"; }
now_ms() { echo "$(( $(date +%s%N) / 1000000 ))"; }

# Ten patients (both classes in each partition of the split), small 20X slides.
"$bin" synth --out "$work/synth" --patients 10 --slides-per-patient 1 --width-mm 0.8 --height-mm 0.6 \
  --um-per-px 0.5 --sites 2 > /dev/null
cohort="$work/synth/cohort.csv"
mags="20X,10X"

t0="$(now_ms)"
"$bin" patch --cohort "$cohort" --out "$work/whole" --magnifications "$mags" --threads 2 > /dev/null
patch_whole_ms="$(elapsed "$t0")"

cluster_start "$work/cluster"

# The test node has no GPU: the experiment tasks ask for none (the site options come first,
# the script's own --gres=gpu:1 is overridden on the command line).
wait_for() {
  local merge="$1" kind="$2" out="$3" state waited=0
  # Bounded: a task that hangs fails the test (its jobs cancelled) instead of holding CI.
  while squeue -h -j "$merge" 2>/dev/null | grep -q .; do
    sleep 1
    waited=$((waited + 1))
    if [ "$waited" -ge 900 ]; then
      scancel --user="$(id -un)" || true
      echo "the $kind jobs did not finish within 900 s; task logs:" >&2
      tail -n 30 "$out"/logs/* >&2 || true
      exit 1
    fi
  done
  state="$(scontrol show job "$merge" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)"
  if [ "$state" != "JobState=COMPLETED" ]; then
    echo "the $kind merge job $merge ended in ${state:-an unknown state}; task logs:" >&2
    tail -n 30 "$out"/logs/* >&2 || true
    exit 1
  fi
}

t0="$(now_ms)"
read -r array merge < <(SBATCH_OPTIONS="--cpus-per-task=1" scripts/slurm/submit.sh patch 2 "$cohort" \
  "$work/sharded" --magnifications "$mags")
wait_for "$merge" patch "$work/sharded"
patch_sharded_ms="$(elapsed "$t0")"
[ -s "$work/sharded/shards/0-of-2/shard.json" ] && [ -s "$work/sharded/shards/1-of-2/shard.json" ]
ls "$work"/sharded/logs/patch-"$array"_0.out "$work"/sharded/logs/patch-"$array"_1.out > /dev/null
cmp "$work/whole/manifest.parquet" "$work/sharded/manifest.parquet"
cmp "$work/whole/report.json" "$work/sharded/report.json"
rows="$(grep -o '"total_patches": [0-9]*' "$work/whole/report.json")"
echo "ok: patch, 2 Slurm tasks + merge = unsharded ($rows; manifest and report byte for byte)"

manifest="$work/whole/manifest.parquet"
"$bin" split --manifest "$manifest" --out "$work/split.csv" --fractions 0.4,0.3,0.3 > /dev/null
grid=(--archs resnet18 --presets mm-vs-nevi@20X,mm-vs-nevi@10X --epochs 1 --warmup-epochs 0 --batch-size 8
      --workers 1 --resamples 20 --speed fp32)
t0="$(now_ms)"
"$bin" experiment --manifest "$manifest" --split "$work/split.csv" --out "$work/grid-whole" "${grid[@]}" > /dev/null
experiment_whole_ms="$(elapsed "$t0")"

t0="$(now_ms)"
read -r array merge < <(SBATCH_OPTIONS="--cpus-per-task=1 --gres=none" scripts/slurm/submit.sh experiment 2 \
  "$manifest" "$work/split.csv" "$work/grid-sharded" "${grid[@]}")
wait_for "$merge" experiment "$work/grid-sharded"
experiment_sharded_ms="$(elapsed "$t0")"
for f in experiments.json experiments.csv experiments.md; do
  cmp "$work/grid-whole/$f" "$work/grid-sharded/$f"
done
grep -q '"kind": "binary"' "$work/grid-sharded/experiments.json" \
  || { cat "$work/grid-sharded/experiments.md"; echo "no grid cell was trained and scored" >&2; exit 1; }
echo "ok: experiment, 2 Slurm tasks + merge = unsharded (experiments.json, .csv, .md byte for byte)"

# One process per device (two on the CPU here; on a GPU node, one per GPU), merged.
t0="$(now_ms)"
"$bin" experiment --manifest "$manifest" --split "$work/split.csv" --out "$work/grid-devices" "${grid[@]}" \
  --devices cpu,cpu > /dev/null
experiment_devices_ms="$(elapsed "$t0")"
for f in experiments.json experiments.csv experiments.md; do
  cmp "$work/grid-whole/$f" "$work/grid-devices/$f"
done
[ -s "$work/grid-devices/shards/1-of-2/log.txt" ]
echo "ok: experiment --devices cpu,cpu (2 processes + merge) = unsharded"
printf '{"patch_ms": {"unsharded": %s, "slurm_2_tasks_and_merge": %s}, "experiment_ms": {"unsharded": %s, "slurm_2_tasks_and_merge": %s, "devices_cpu_cpu_and_merge": %s}}\n' \
  "$patch_whole_ms" "$patch_sharded_ms" "$experiment_whole_ms" "$experiment_sharded_ms" "$experiment_devices_ms"
