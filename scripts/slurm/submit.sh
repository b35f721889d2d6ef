#!/usr/bin/env bash
# Submits a sharded run and its merge to Slurm: an array job of TASKS tasks, each writing its
# log to OUT/logs/<kind>-<job>_<task>.out, and a merge job that starts when all of them have
# succeeded (afterok; it is cancelled if one fails: resubmit that task, then the merge).
#   scripts/slurm/submit.sh patch TASKS COHORT OUT [patch options...]
#   scripts/slurm/submit.sh experiment TASKS MANIFEST SPLIT OUT [experiment options...]
# Prints "<array job id> <merge job id>". Site options (partition, account, QOS) go in
# SBATCH_OPTIONS, e.g. SBATCH_OPTIONS="--partition=gpu --account=pathology"; the binaries in
# MELANOSCOPE_SLIDES (patch tasks and their merge; default melanoscope-slides on PATH, no
# libtorch) and MELANOSCOPE_TRAIN (experiment tasks; default melanoscope-train), exported.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage() { sed -n '2,11p' "$0" >&2; exit 2; }
[ $# -ge 4 ] || usage
kind="$1"
tasks="$2"
shift 2
case "$tasks" in ''|*[!0-9]*|0) echo "TASKS must be a whole number of tasks, at least 1 (got '$tasks')" >&2; exit 2 ;; esac
case "$kind" in
  patch) [ $# -ge 2 ] || usage; out="$2"; script="$here/patch.sbatch"; merge_kind=patches ;;
  experiment) [ $# -ge 3 ] || usage; out="$3"; script="$here/experiment.sbatch"; merge_kind=experiment ;;
  *) usage ;;
esac
mkdir -p "$out/logs"
read -r -a site <<< "${SBATCH_OPTIONS:-}"
array="$(sbatch --parsable "${site[@]}" --array="0-$((tasks - 1))" \
  --output="$out/logs/$kind-%A_%a.out" "$script" "$@")"
array="${array%%;*}"
merge="$(sbatch --parsable "${site[@]}" --gres=none --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --output="$out/logs/merge-%j.out" "$here/merge.sbatch" "$merge_kind" "$out")"
echo "$array ${merge%%;*}"
