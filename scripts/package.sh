#!/usr/bin/env bash
# Cross-builds melanoscope-edge for the boards and wraps each build in a Debian package:
#   aarch64-unknown-linux-gnu      -> dist/melanoscope-edge_<version>_arm64.deb (Pi OS 64-bit, Jetson)
#   armv7-unknown-linux-gnueabihf  -> dist/melanoscope-edge_<version>_armhf.deb (Pi OS 32-bit)
# The binary has the Pi and Jetson board backends and V4L2 capture; tract is its runtime, and the
# arm64 build also has the onnxruntime backend, loaded at run time from the board's library
# (Debian's libonnxruntime1.x or a pip install; nothing is linked or bundled).
# Usage: scripts/package.sh [TARGET...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/board_targets.sh

version="$(cargo pkgid -p melanoscope-edge | sed 's/.*[#@]//')"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
mkdir -p dist

for target in "${targets[@]}"; do
  case "$target" in
    aarch64-unknown-linux-gnu) arch=arm64 ;;
    armv7-unknown-linux-gnueabihf) arch=armhf ;;
    *) echo "package: unknown target $target" >&2; exit 2 ;;
  esac
  features="$(board_features "$target")"
  echo "==> release build of melanoscope-edge for $target"
  BINDGEN_EXTRA_CLANG_ARGS="$(board_bindgen_args "$target")" \
    cargo build --locked --profile board --target "$target" -p melanoscope-edge --features "$features"
  bin="target/$target/board/melanoscope-edge"

  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  install -D -m 0755 "$bin" "$root/usr/bin/melanoscope-edge"
  install -D -m 0644 packaging/melanoscope-edge.service "$root/lib/systemd/system/melanoscope-edge.service"
  install -D -m 0644 edge/config/default.toml "$root/usr/share/melanoscope/default.toml"
  # Installed disabled: the web view's systemd drop-in and the desktop's kiosk autostart entry,
  # each copied into place by the lab when it wants them (docs/boards/sinks.md).
  install -D -m 0644 packaging/web.conf "$root/usr/share/melanoscope/systemd/web.conf"
  install -D -m 0644 packaging/melanoscope-screen.desktop "$root/usr/share/melanoscope/desktop/melanoscope-screen.desktop"
  install -D -m 0644 packaging/site.toml "$root/etc/melanoscope/site.toml"
  for board in boards/boards/*.toml; do
    install -D -m 0644 "$board" "$root/usr/share/melanoscope/boards/$(basename "$board")"
  done
  for doc in README.md docs/boards/*.md; do
    install -D -m 0644 "$doc" "$root/usr/share/doc/melanoscope-edge/$(basename "$doc")"
  done
  install -d "$root/DEBIAN"
  install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
  echo "/etc/melanoscope/site.toml" > "$root/DEBIAN/conffiles"
  size_kib="$(du -sk "$root" | cut -f1)"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: melanoscope-edge
Version: $version
Architecture: $arch
Maintainer: Melanoscope developers <melanoscope@example.invalid>
Installed-Size: $size_kib
Depends: libc6 (>= 2.31), adduser
Section: science
Priority: optional
Homepage: https://example.invalid/melanoscope
Description: offline melanoma screening at the microscope
 Screens microscope camera frames with a melanoma-vs-nevus model bundle (tract),
 shows the verdict with a class-activation overlay on an HDMI or SPI screen and
 status LEDs, and keeps a crash-safe log of every verdict for later review.
CONTROL
  deb="dist/melanoscope-edge_${version}_${arch}.deb"
  dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
  rm -rf "$root"
  trap - EXIT
  echo "wrote $deb ($(du -h "$deb" | cut -f1))"
done
