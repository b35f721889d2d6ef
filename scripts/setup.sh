#!/usr/bin/env bash
# Installs everything the build and tests need on a fresh Debian 12 machine.
# Idempotent: each step checks before it installs, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: for systemd-analyze, which the package test runs on the installed unit. Slurm and
# munge: the one-node cluster of scripts/test_cluster.sh. xvfb, openbox, wmctrl, xdotool,
# x11-apps (xwd) and weston: the window sink's tests; desktop-file-utils: the kiosk entry's check on a real X server and Wayland compositor;
# nodejs and npm: playwright-core driving Chromium for the web view's test (edge/tests/desktop.rs).
DEB_PKGS="curl chromium xvfb openbox wmctrl xdotool x11-apps weston desktop-file-utils slurmctld slurmd munge slurm-client libopenslide-dev libclang-dev pkg-config gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user make systemd"
TARGETS="aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf thumbv7em-none-eabihf"
TORCH_VERSION="2.11.0"
OPENSLIDE_BIN_VERSION="4.0.1.2"
VENV=.venv
# torch for tch; pandas + pyarrow: tests check that the patch manifests are ordinary Parquet that
# pandas reads; onnxruntime: exported models are real ONNX that another runtime opens; openslide-bin:
# OpenSlide 4 (below).
PY_PACKAGES="torch==$TORCH_VERSION pandas==3.1.1 pyarrow==26.0.1 onnxruntime==1.32.0 openslide-bin==$OPENSLIDE_BIN_VERSION"

missing=""
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

installed_targets=$(rustup target list --installed)
for t in $TARGETS; do
  echo "$installed_targets" | grep -qx "$t" || rustup target add "$t"
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# The web view's browser test: playwright-core (no browser download; Debian's Chromium), at the
# version package-lock.json pins. Node.js and npm are the machine's (or Debian's, installed above
# when missing).
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
# The lock file copied beside the install says which lock it was installed from.
if ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.installed-from-lock 2>/dev/null; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-from-lock)
fi

# The patched tract-linalg that Cargo.toml's [patch] points to: no cargo command of the
# workspace resolves without it.
bash scripts/vendor_tract.sh

# The Python venv lives in a per-machine cache outside the clone (scripts/venv_cache.sh); `.venv`
# in the clone is a link to it. Its name carries torch's, Python's and the package list's
# versions: a change makes a new venv beside the old one.
source scripts/venv_cache.sh
py_tag="$(python3 -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')"
req_key="$(printf '%s\n' "$PY_PACKAGES" | sha256sum | cut -c1-12)"
cache_root="${MELANOSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/melanoscope}"
cached_venv="$cache_root/venv-torch$TORCH_VERSION-$py_tag-$req_key"
ensure_cached_venv "$cached_venv" "$PY_PACKAGES" "
import sys, torch, pandas, pyarrow, onnxruntime, openslide_bin
v = torch.__version__.split('+')[0]
sys.exit(0 if v == '$TORCH_VERSION' else f'torch {v} where $TORCH_VERSION was expected')"
# The lock (fd 9) is held to the end: the OpenSlide link files below are written into the shared venv.
# A clone made before the venv moved has a venv folder of its own: it is replaced by the link.
if [ -e "$VENV" ] && [ ! -L "$VENV" ]; then
  echo "setup: replacing the clone's own $VENV folder by a link to the shared $cached_venv"
  rm -rf "$VENV"
fi
[ "$(readlink "$VENV" 2>/dev/null)" = "$cached_venv" ] || ln -sfn "$cached_venv" "$VENV"
# OpenSlide 4 (reads DICOM whole-slide images; Debian 12 ships 3.4.1): the library inside the
# openslide-bin wheel. Debian's header declares the same C API (4.x only adds functions), so a
# pkg-config file pointing at the wheel's library lets openslide-sys link it; scripts/env.sh
# puts it on PKG_CONFIG_PATH and the trainer's build.rs records its folder as an rpath.
# Resolved to the shared cache's own path: through this clone's .venv link, a link in the
# shared venv would break once this clone is deleted (a CI clone), for every other clone.
os_lib="$(cd "$("$VENV/bin/python" -c 'import openslide_bin, os; print(os.path.dirname(openslide_bin.__file__))')" && pwd -P)"
os_pc="$VENV/openslide4/pkgconfig"
mkdir -p "$os_pc" "$VENV/openslide4/lib"
ln -sf "$os_lib/libopenslide.so.1" "$VENV/openslide4/lib/libopenslide.so"
cat >"$os_pc/openslide.pc.tmp" <<PC
libdir=$(cd "$VENV/openslide4/lib" && pwd -P)
includedir=/usr/include/openslide

Name: OpenSlide
Description: OpenSlide $OPENSLIDE_BIN_VERSION from the openslide-bin wheel
Version: ${OPENSLIDE_BIN_VERSION%.*}
Libs: -L\${libdir} -lopenslide
Cflags: -I\${includedir}
PC
mv "$os_pc/openslide.pc.tmp" "$os_pc/openslide.pc"
echo "setup: ok"
