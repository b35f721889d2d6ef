#!/usr/bin/env bash
# The per-machine venv cache (scripts/venv_cache.sh) on bare venvs in a scratch folder: two
# setups at once install it once and both get a working venv; a venv left unfinished, or whose
# check fails, is rebuilt with a message naming it; a venv that fails its check when new is an
# error naming it, with no completion mark left.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d /tmp/msc-venv-cache-XXXXXX)"
trap 'rm -rf "$work"' EXIT
venv="$work/cache/venv-test"
check='import json, sys; sys.exit(0 if json.dumps([1]) == "[1]" else 1)'
ensure() { bash -c 'source scripts/venv_cache.sh; ensure_cached_venv "$@"' _ "$@"; }
fail() { echo "test_venv_cache: $*" >&2; exit 1; }

# Two at once: one installs, the other waits on the lock and finds it ready.
ensure "$venv" "" "$check" > "$work/a.log" 2>&1 &
a=$!
ensure "$venv" "" "$check" > "$work/b.log" 2>&1 &
b=$!
wait "$a" || fail "first concurrent setup failed: $(cat "$work/a.log")"
wait "$b" || fail "second concurrent setup failed: $(cat "$work/b.log")"
installs="$(cat "$work/a.log" "$work/b.log" | grep -c '^setup: installing' || true)"
[ "$installs" = 1 ] || fail "two setups at once installed $installs times: $(cat "$work"/[ab].log)"
"$venv/bin/python" -c "$check" || fail "the shared venv does not run its check"
[ -f "$venv/.melanoscope-complete" ] || fail "no completion mark after the install"
echo "ok: two setups at once installed the venv once, and both use it"

# Ready: nothing is installed again.
out="$(ensure "$venv" "" "$check" 2>&1)"
[ -z "$out" ] || fail "a ready venv was touched: $out"

# Killed mid-install (no completion mark): rebuilt, named.
rm "$venv/.melanoscope-complete"
out="$(ensure "$venv" "" "$check" 2>&1)"
grep -q "the cached venv $venv is damaged (no completion mark" <<<"$out" || fail "unfinished venv: $out"
[ -f "$venv/.melanoscope-complete" ] || fail "the rebuilt venv has no completion mark"
echo "ok: an unfinished venv is rebuilt with a message naming it"

# Damaged (its Python gone): rebuilt, named, with the failure.
rm -f "$venv"/bin/python*
out="$(ensure "$venv" "" "$check" 2>&1)"
grep -q "the cached venv $venv is damaged (its import check failed" <<<"$out" || fail "damaged venv: $out"
"$venv/bin/python" -c "$check" || fail "the rebuilt venv does not run its check"
echo "ok: a damaged venv is rebuilt with a message naming it"

# A new venv that fails its check: an error naming it, not marked complete.
bad="$work/cache/venv-bad"
if out="$(ensure "$bad" "" 'import no_such_module_here' 2>&1)"; then
  fail "a venv failing its check was accepted: $out"
fi
grep -q "the new venv $bad fails: its import check failed: .*no_such_module_here" <<<"$out" || fail "bad venv: $out"
[ ! -f "$bad/.melanoscope-complete" ] || fail "a failing venv was marked complete"
echo "ok: a new venv failing its check is an error naming it"
