#!/usr/bin/env bash
# Builds both board packages, installs each into a scratch root with `dpkg -x`, checks what it
# holds (binary, systemd unit, default config, site file, board files, maintainer scripts), and
# runs the installed ARM binary under qemu: --version, then a replay of one frame through the
# installed default settings and a site file (tiny fixture bundle), asserting the verdict. The
# arm64 package's onnxruntime backend: without a library it says none was found and how to
# install one; with the library of the onnxruntime aarch64 wheel (fetched here) it screens the
# same frame on onnxruntime under qemu-aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# test.sh builds the packages in a step of their own (its ARM tests reuse that build) and says so.
[ -n "${MELANOSCOPE_PACKAGES_BUILT:-}" ] || bash scripts/package.sh
cargo run --locked -q -p melanoscope-tests --bin melanoscope-fixture -- "$PWD/target/package-fixture"
fixture="$PWD/target/package-fixture"
version="$(cargo pkgid -p melanoscope-edge | sed 's/.*[#@]//')"

for arch in arm64 armhf; do
  case "$arch" in
    arm64) qemu="qemu-aarch64 -L /usr/aarch64-linux-gnu"; deb_arch=arm64 ;;
    armhf) qemu="qemu-arm -L /usr/arm-linux-gnueabihf"; deb_arch=armhf ;;
  esac
  deb="dist/melanoscope-edge_${version}_${deb_arch}.deb"
  echo "==> $deb"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$deb_arch" ] || { echo "wrong architecture in $deb" >&2; exit 1; }
  root="$(mktemp -d)"
  dpkg-deb -x "$deb" "$root"
  dpkg-deb -e "$deb" "$root/DEBIAN"
  for f in usr/bin/melanoscope-edge lib/systemd/system/melanoscope-edge.service usr/share/melanoscope/default.toml \
           etc/melanoscope/site.toml usr/share/melanoscope/boards/rpi4.toml usr/share/melanoscope/boards/rpi5.toml \
           usr/share/melanoscope/boards/jetson-nano.toml usr/share/melanoscope/boards/jetson-orin-nano.toml \
           usr/share/melanoscope/systemd/web.conf usr/share/melanoscope/desktop/melanoscope-screen.desktop \
           DEBIAN/postinst DEBIAN/conffiles; do
    [ -e "$root/$f" ] || { echo "$deb lacks $f" >&2; exit 1; }
  done
  unit="$root/lib/systemd/system/melanoscope-edge.service"
  grep -q '^Restart=on-failure' "$unit"
  grep -q 'install -d -o melanoscope -g melanoscope' "$root/DEBIAN/postinst"
  # The installed unit: hardened (exposure 2.0 "OK" or better; it is 0.5 "SAFE" when written),
  # and free of keys systemd would ignore (a misplaced StartLimitIntervalSec, a typo).
  security="$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1)" \
    || { echo "$security"; echo "$unit: exposure above 2.0" >&2; exit 1; }
  echo "$security" | tail -n 1
  # With the web view's drop-in in place (as the lab installs it): still 2.5 or better, and it
  # opens only TCP on the web view's port.
  mkdir -p "$root/etc/systemd/system/melanoscope-edge.service.d"
  cp "$root/usr/share/melanoscope/systemd/web.conf" "$root/etc/systemd/system/melanoscope-edge.service.d/web.conf"
  web_security="$(systemd-analyze security --offline=yes --root="$root" --threshold=25 melanoscope-edge.service 2>&1)" \
    || { echo "$web_security"; echo "$unit with the web drop-in: exposure above 2.5" >&2; exit 1; }
  echo "with the web view's drop-in: $(echo "$web_security" | tail -n 1)"
  grep -q 'PrivateNetwork=.*host.s network' <<< "$web_security"
  rm -r "$root/etc/systemd/system"
  desktop-file-validate "$root/usr/share/melanoscope/desktop/melanoscope-screen.desktop"
  verify_unit="$root/verify/melanoscope-edge.service"
  mkdir -p "$root/verify"
  sed "s|/usr/bin/melanoscope-edge|$root/usr/bin/melanoscope-edge|" "$unit" > "$verify_unit"
  verified="$(systemd-analyze verify "$verify_unit" 2>&1)"
  [ -z "$verified" ] || { echo "$verified"; echo "systemd-analyze verify complains about $unit" >&2; exit 1; }
  # ELF machine: 183 (AArch64) or 40 (ARM).
  machine="$(od -An -tu2 -j18 -N2 "$root/usr/bin/melanoscope-edge" | tr -d ' ')"
  [ "$machine" = "$( [ $arch = arm64 ] && echo 183 || echo 40)" ] || { echo "ELF machine $machine in $deb" >&2; exit 1; }
  $qemu "$root/usr/bin/melanoscope-edge" --version | grep -q "melanoscope-edge $version"
  # The installed defaults and board file must load as the service would read them.
  cat > "$root/site.toml" <<SITE
[model]
bundle = "$fixture/tiny.mscm"
threads = 1
batch = 2
[camera]
source = "replay"
replay = ["$fixture/frames/mm.jpg"]
objective = "10x"
[objectives.10x]
um_per_px = 1.0
[display]
sinks = ["snapshot"]
snapshot_dir = "$root/var/lib/melanoscope/snapshots"
snapshot_every = 1
[log]
path = "$root/var/lib/melanoscope/screening.log"
SITE
  $qemu "$root/usr/bin/melanoscope-edge" check-config --config "$root/site.toml" > /dev/null
  $qemu "$root/usr/bin/melanoscope-edge" screen --config "$root/site.toml" --exit-on-fault --max-frames 1 \
    --summary "$root/summary.json" > /dev/null
  grep -q '"MELANOMA SUSPECTED"' "$root/summary.json" || { cat "$root/summary.json"; echo "no verdict" >&2; exit 1; }
  [ -s "$root/var/lib/melanoscope/screening.log" ]
  ls "$root/var/lib/melanoscope/snapshots/frames/"*.png > /dev/null
  # The web view of the installed ARM binary under qemu: a looping replay served on loopback
  # with a token; the page refused without it, the status and a stream frame with it, and a
  # stop signal ends the session with status 0.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  token="package-test-token-0123456789"
  { sed 's/^source = "replay"$/source = "replay"\nreplay_loop = true/' "$root/site.toml"
    printf '[web]\nenabled = true\nlisten = "127.0.0.1:%s"\ntoken = "%s"\n' "$port" "$token"; } > "$root/site-web.toml"
  $qemu "$root/usr/bin/melanoscope-edge" screen --config "$root/site-web.toml" > /dev/null 2> "$root/web.err" &
  web_pid=$!
  for _ in $(seq 600); do grep -q "web view at" "$root/web.err" && break; sleep 0.2; done
  grep -q "web view at http://127.0.0.1:$port/?token=" "$root/web.err" || { cat "$root/web.err"; echo "no web view" >&2; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 401 ]
  curl -sf "http://127.0.0.1:$port/status.json?token=$token" | grep -q '"role":"control"'
  # The first whole part of the stream: its head, then as many bytes as it says, a JPEG.
  # (Read by Python, not `curl | grep`: the stream never ends, and under pipefail the pipeline
  # would fail on curl's time limit or head's broken pipe whatever grep found.)
  python3 - "$port" "$token" <<'PY' || { cat "$root/web.err"; echo "no frame on the web view's stream under qemu" >&2; exit 1; }
import re, socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 120
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(f"GET /stream.mjpg?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
data = b""
while time.monotonic() < deadline:
    m = re.search(rb"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n", data)
    if m and len(data) >= m.end() + int(m.group(1)):
        jpeg = data[m.end():m.end() + int(m.group(1))]
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9", "the part is not a whole JPEG"
        sys.exit(0)
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.exit(f"{len(data)} bytes and no whole JPEG part: {data[:200]!r}")
PY
  kill -TERM "$web_pid"
  wait "$web_pid" || { cat "$root/web.err"; echo "the web session did not end cleanly" >&2; exit 1; }
  echo "ok: $deb serves the web view under qemu"
  if [ "$arch" = arm64 ]; then
    sed 's/^threads = 1$/threads = 1\nbackend = "onnxruntime"/' "$root/site.toml" > "$root/site-ort.toml"
    grep -q '^backend = "onnxruntime"' "$root/site-ort.toml"
    # No library anywhere the binary looks (an empty home, no venv, no ORT_DYLIB_PATH).
    mkdir -p "$root/home"
    if out="$(env -u ORT_DYLIB_PATH -u VIRTUAL_ENV HOME="$root/home" $qemu "$root/usr/bin/melanoscope-edge" screen \
        --config "$root/site-ort.toml" --exit-on-fault --max-frames 1 2>&1)"; then
      echo "screening on onnxruntime without its library succeeded" >&2; exit 1
    fi
    grep -q "none was found" <<< "$out" || { echo "$out"; echo "no clear 'no onnxruntime library' message" >&2; exit 1; }
    grep -q "pip install onnxruntime" <<< "$out" || { echo "$out"; echo "the message lacks the install command" >&2; exit 1; }
    lib="$(bash scripts/onnxruntime_aarch64.sh)"
    rm -rf "$root/var/lib/melanoscope"
    # onnxruntime's CPU detection reads /proc/cpuinfo, which under qemu-user is this x86 host's,
    # and crashes finding no ARM core in it; a board has its own. qemu looks for absolute paths
    # under its -L prefix first, so the prefix gets the libraries and a Pi 5's /proc/cpuinfo
    # (as many processors as this host has, to agree with /sys).
    prefix="$root/qemu-prefix"
    mkdir -p "$prefix/proc"
    ln -s /usr/aarch64-linux-gnu/lib "$prefix/lib"
    for i in $(seq 0 $(( $(nproc) - 1 ))); do
      printf 'processor\t: %s\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$i"
    done > "$prefix/proc/cpuinfo"
    qemu="qemu-aarch64 -L $prefix"
    checked="$(ORT_DYLIB_PATH="$lib" $qemu "$root/usr/bin/melanoscope-edge" check-bundle --bundle "$fixture/tiny.mscm" \
      --backend onnxruntime --batch 2 --threads 1)"
    grep -q '"backend": "onnxruntime"' <<< "$checked" || { echo "$checked"; echo "check-bundle did not run onnxruntime" >&2; exit 1; }
    ORT_DYLIB_PATH="$lib" $qemu "$root/usr/bin/melanoscope-edge" screen --config "$root/site-ort.toml" --exit-on-fault \
      --max-frames 1 --summary "$root/summary-ort.json" > /dev/null
    grep -q '"MELANOMA SUSPECTED"' "$root/summary-ort.json" || { cat "$root/summary-ort.json"; echo "no verdict on onnxruntime" >&2; exit 1; }
    echo "ok: $deb says when onnxruntime is missing, and screens on the aarch64 wheel's library under qemu"
  fi
  rm -rf "$root"
  echo "ok: $deb installs and screens a replayed frame under qemu"
done
