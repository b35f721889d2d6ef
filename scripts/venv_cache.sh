# Sourced by scripts/setup.sh (and its test, scripts/test_venv_cache.sh): a Python venv kept once
# per machine, outside any clone, so every clone on the machine (CI's fresh one, a developer's
# second checkout) reuses it instead of installing torch (~4.6 GB) again.
#
#   ensure_cached_venv DIR PACKAGES CHECK_PY
#
# Makes DIR a venv with PACKAGES (pip requirement specifiers, space-separated; may be empty) in
# which the Python code CHECK_PY exits 0. Under a lock on DIR.lock, so two clones running setup at
# once install it once (the second waits, then finds it ready) instead of mixing two installs.
# Marked complete last: an install that was killed, or a venv whose check fails (a damaged or
# half-deleted one), is removed and rebuilt, with a message naming it. The caller holds the lock
# until it exits (fd 9) and may write into DIR meanwhile.

venv_check() {
  local dir="$1" check="$2"
  if [ ! -f "$dir/.melanoscope-complete" ]; then
    echo "no completion mark: its install did not finish"
    return 1
  fi
  local err
  if ! err="$("$dir/bin/python" -c "$check" 2>&1)"; then
    echo "its import check failed: $(tail -n 1 <<<"${err:-exit status non-zero}")"
    return 1
  fi
}

ensure_cached_venv() {
  local dir="$1" packages="$2" check="$3" why
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if why="$(venv_check "$dir" "$check")"; then
    return 0
  fi
  if [ -e "$dir" ]; then
    echo "setup: the cached venv $dir is damaged ($why); rebuilding it" >&2
    rm -rf "$dir"
  fi
  echo "setup: installing ${packages:-a bare venv} into $dir"
  if [ -z "$packages" ]; then
    python3 -m venv --without-pip "$dir"
  else
    python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    # shellcheck disable=SC2086
    "$dir/bin/python" -m pip install -q $packages
  fi
  touch "$dir/.melanoscope-complete"
  if ! why="$(venv_check "$dir" "$check")"; then
    rm -f "$dir/.melanoscope-complete"
    echo "setup: the new venv $dir fails: $why" >&2
    return 1
  fi
}
