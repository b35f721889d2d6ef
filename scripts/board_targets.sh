# Sourced by scripts/package.sh and scripts/test.sh: the edge's features in each board build.
# The ARM tests are built with the same features as the package of their target, so both builds
# resolve the dependency graph alike and share its compiled crates (and test what ships).
board_features() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo rpi,jetson,v4l2,onnxruntime ;;
    # No onnxruntime wheel exists for armv7.
    armv7-unknown-linux-gnueabihf) echo rpi,jetson,v4l2 ;;
    *) echo "board_targets: unknown target $1" >&2; return 2 ;;
  esac
}

# The target's sysroot: bindgen (V4L2 headers) parses the target's kernel headers from it.
board_sysroot() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo /usr/aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) echo /usr/arm-linux-gnueabihf ;;
    *) echo "board_targets: unknown target $1" >&2; return 2 ;;
  esac
}

# `--features` for a cargo command over several packages: the edge's board features, qualified.
board_edge_features() {
  local f
  f="$(board_features "$1")" || return
  echo "melanoscope-edge/${f//,/,melanoscope-edge/}"
}

# bindgen's clang arguments for the target (the same in every build of it: bindgen reruns, and
# everything above it recompiles, when they change).
board_bindgen_args() {
  local s
  s="$(board_sysroot "$1")" || return
  echo "--sysroot=$s -I$s/include"
}
