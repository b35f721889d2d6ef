#!/usr/bin/env bash
# The step table of scripts/steps.sh: a run whose step fails stops there with the step's exit
# status, and still prints the table of the steps so far with the failure marked; a step made of
# several commands fails when an early one does, even if the last one passes.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/msc-steps-XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "test_steps: $*" >&2; exit 1; }

cat > "$work/run.sh" <<'RUN'
set -euo pipefail
source scripts/steps.sh
steps_begin "$1/times.tsv"
early_failure() { false; echo "ran past a failed command"; true; }
run_step check "passes" true
run_step compile "fails early, passes last" early_failure
run_step run "never reached" true
steps_end
RUN
if out="$(bash "$work/run.sh" "$work" 2>&1)"; then
  fail "a run with a failed step exited 0: $out"
fi
! grep -q "ran past a failed command" <<<"$out" || fail "a step went on past its failed command"
grep -q "FAILED (exit 1)" <<<"$out" || fail "the printed table does not mark the failure: $out"
grep -qE '^ +[0-9]+ +[0-9.]+% +check +ok +passes$' <<<"$out" || fail "the printed table lacks the passed step: $out"
! grep -q "never reached" <<<"$out" || fail "a step after the failure ran: $out"
[ "$(cut -f1,4 "$work/times.tsv" | tail -n +2)" = "$(printf 'passes\tok\nfails early, passes last\tFAILED (exit 1)')" ] \
  || fail "times.tsv: $(cat "$work/times.tsv")"
echo "ok: a failed step stops the run, and the table of the steps so far is printed with it marked"
