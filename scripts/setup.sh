#!/usr/bin/env bash
# Installs everything the build and tests need on a fresh Debian 12 machine.
# Idempotent: each step checks before it installs, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: for systemd-analyze, which the package test runs on the installed unit. Slurm and
# munge: the one-node cluster of scripts/test_cluster.sh.
DEB_PKGS="curl chromium slurmctld slurmd munge slurm-client libopenslide-dev libclang-dev pkg-config gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user make systemd"
TARGETS="aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf thumbv7em-none-eabihf"
TORCH_VERSION="2.11.0"
OPENSLIDE_BIN_VERSION="4.0.1.2"
VENV=.venv

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

# The patched tract-linalg that Cargo.toml's [patch] points to: no cargo command of the
# workspace resolves without it.
bash scripts/vendor_tract.sh

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.split('+')[0]=='$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION into $VENV (large download)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
fi
# pandas + pyarrow: tests check that the patch manifests are ordinary Parquet that pandas reads.
if ! "$VENV/bin/python" -c "import pandas, pyarrow" 2>/dev/null; then
  "$VENV/bin/pip" install -q "pandas==3.1.1" "pyarrow==26.0.1"
fi
# onnxruntime: tests check that exported models are real ONNX that another runtime opens.
if ! "$VENV/bin/python" -c "import onnxruntime" 2>/dev/null; then
  "$VENV/bin/pip" install -q "onnxruntime==1.32.0"
fi
# OpenSlide 4 (reads DICOM whole-slide images; Debian 12 ships 3.4.1): the library inside the
# openslide-bin wheel. Debian's header declares the same C API (4.x only adds functions), so a
# pkg-config file pointing at the wheel's library lets openslide-sys link it; scripts/env.sh
# puts it on PKG_CONFIG_PATH and the trainer's build.rs records its folder as an rpath.
if ! "$VENV/bin/python" -c "import openslide_bin" 2>/dev/null; then
  "$VENV/bin/pip" install -q "openslide-bin==$OPENSLIDE_BIN_VERSION"
fi
os_lib="$("$VENV/bin/python" -c 'import openslide_bin, os; print(os.path.dirname(openslide_bin.__file__))')"
os_pc="$VENV/openslide4/pkgconfig"
mkdir -p "$os_pc" "$VENV/openslide4/lib"
ln -sf "$os_lib/libopenslide.so.1" "$VENV/openslide4/lib/libopenslide.so"
cat >"$os_pc/openslide.pc.tmp" <<PC
libdir=$(cd "$VENV/openslide4/lib" && pwd)
includedir=/usr/include/openslide

Name: OpenSlide
Description: OpenSlide $OPENSLIDE_BIN_VERSION from the openslide-bin wheel
Version: ${OPENSLIDE_BIN_VERSION%.*}
Libs: -L\${libdir} -lopenslide
Cflags: -I\${includedir}
PC
mv "$os_pc/openslide.pc.tmp" "$os_pc/openslide.pc"
echo "setup: ok"
