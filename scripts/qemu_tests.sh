#!/usr/bin/env bash
# Runs the test binaries of packages built for an ARM target under qemu-user, each from its
# package's folder as `cargo test` runs it, on one test thread, and says which failed.
#   scripts/qemu_tests.sh TARGET -p PACKAGE...
# The binaries are built first (cargo test --no-run, in the board packages' profile unless
# QEMU_TESTS_PROFILE names another); no cargo lock is held while they run, so the two targets'
# runs go side by side, one core each (test.sh does that).
set -euo pipefail
cd "$(dirname "$0")/.."
target="$1"
shift
case "$target" in
  aarch64-unknown-linux-gnu) runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu) ;;
  armv7-unknown-linux-gnueabihf) runner=(qemu-arm -L /usr/arm-linux-gnueabihf) ;;
  *) echo "qemu_tests: no qemu runner for $target" >&2; exit 2 ;;
esac
# Every test harness cargo builds (libraries, binaries, integration tests), fresh or not.
profile="${QEMU_TESTS_PROFILE:-board}"
list="$(cargo test --profile "$profile" --target "$target" --locked "$@" --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
')"
[ -n "$list" ] || { echo "qemu_tests: no test binary for $target" >&2; exit 1; }
failed=()
count=0
while IFS=$'\t' read -r dir exe; do
  count=$((count + 1))
  echo "     Running $(basename "$exe") ($target, under ${runner[0]})"
  if ! (cd "$dir" && PROPTEST_CASES="${PROPTEST_CASES:-48}" "${runner[@]}" "$exe" --test-threads=1); then
    failed+=("$(basename "$exe")")
  fi
done <<< "$list"
if [ ${#failed[@]} -gt 0 ]; then
  echo "qemu_tests: ${#failed[@]} of $count test binaries failed on $target: ${failed[*]}" >&2
  exit 1
fi
echo "qemu_tests: $count test binaries passed on $target"
