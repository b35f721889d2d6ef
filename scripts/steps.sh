# Sourced by scripts/test.sh and scripts/check.sh: timed steps and the table of their times.
#   steps_begin FILE            start a table (TSV: step, kind, seconds, result)
#   run_step KIND NAME CMD...   run CMD as one step; KIND is setup, check, compile or run
#   steps_end                   mark the run passed
# The table is printed when the script exits, passed or failed, with the steps so far.

step() { printf '\n==> [%s, +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*"; }

steps_begin() {
  STEPS_FILE="$1"
  STEPS_PASSED=""
  mkdir -p "$(dirname "$STEPS_FILE")"
  printf 'step\tkind\tseconds\tresult\n' > "$STEPS_FILE"
  trap steps_table EXIT
}

run_step() {
  local kind="$1" name="$2" t0=$SECONDS rc=0
  shift 2
  step "$name"
  # In a subshell outside any `||`: there errexit holds inside a shell function too (bash ignores
  # it in a function called as `f || ...`, which would let a failing first command pass).
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  printf '%s\t%s\t%s\t%s\n' "$name" "$kind" "$((SECONDS - t0))" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")" \
    >> "$STEPS_FILE"
  return "$rc"
}

steps_end() {
  STEPS_PASSED=1
  step "all steps passed"
}

# Prints the table: each step's seconds and share of the run, then the seconds per kind.
steps_table() {
  local rc=$?
  [ -f "${STEPS_FILE:-}" ] || return "$rc"
  echo
  echo "==> step times ($STEPS_FILE), $([ -n "$STEPS_PASSED" ] && echo passed || echo "FAILED (exit $rc)")"
  awk -F'\t' -v total="$SECONDS" '
    NR == 1 { next }
    { secs[NR] = $3; kind[NR] = $2; name[NR] = $1; res[NR] = $4; by[$2] += $3; n = NR }
    END {
      printf "%7s %6s  %-8s %-16s %s\n", "seconds", "share", "kind", "result", "step"
      for (i = 2; i <= n; i++)
        printf "%7d %5.1f%%  %-8s %-16s %s\n", secs[i], total ? 100 * secs[i] / total : 0, kind[i], res[i], substr(name[i], 1, 100)
      printf "%7d %5.1f%%  %s\n", total, 100, "whole run"
      split("setup check compile run", kinds, " ")
      for (j = 1; j <= 4; j++) if (kinds[j] in by)
        printf "%7d %5.1f%%  all %s steps\n", by[kinds[j]], total ? 100 * by[kinds[j]] / total : 0, kinds[j]
    }' "$STEPS_FILE"
  return "$rc"
}
