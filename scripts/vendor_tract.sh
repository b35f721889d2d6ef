#!/usr/bin/env bash
# Lays out tract-linalg from the crate registry with this project's patch applied, in
# vendor/tract-linalg (ignored by git), where [patch.crates-io] in Cargo.toml points. Every
# cargo command of the workspace needs it, so scripts/setup.sh runs this first. Quick when the
# folder already holds this version with this patch.
#
#   scripts/vendor_tract.sh                     # lay out (or check) vendor/tract-linalg
#   scripts/vendor_tract.sh --regenerate-patch  # rewrite patches/tract-linalg-vex.patch's diff
#                                               # from the rules below, keeping its header
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.23.9
# The registry's checksum of tract-linalg-0.23.9.crate (what Cargo.lock recorded before the
# [patch] replaced it).
SHA256=ca57ed3a2f6293e7866c6ceed7c6ca3413b4e083a892a00a79f5e9b607154982
PATCH=patches/tract-linalg-vex.patch
DEST=vendor/tract-linalg

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The pristine crate: from cargo's download cache when it is there, else from crates.io.
pristine() {
  local crate
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"tract-linalg-$VERSION.crate" 2>/dev/null | head -n 1 || true)
  if [ -z "$crate" ] || ! echo "$SHA256  $crate" | sha256sum -c --quiet - 2>/dev/null; then
    crate="$tmp/tract-linalg-$VERSION.crate"
    curl -fsSL --retry 3 -o "$crate" "https://static.crates.io/crates/tract-linalg/tract-linalg-$VERSION.crate"
  fi
  echo "$SHA256  $crate" | sha256sum -c --quiet - || { echo "vendor_tract: $crate is not tract-linalg $VERSION as published" >&2; exit 1; }
  mkdir -p "$1"
  tar xzf "$crate" -C "$1"
}

# The rules the patch applies (see its header for why each is safe).
vex_rules() {
  local k=$1/x86_64
  sed -i -E 's/^(\s*)movq(\s+)(xmm[0-9]+,)/\1vmovq\2\3/; s/^(\s*)movd(\s+)(xmm[0-9]+,)/\1vmovd\2\3/' "$k"/fma/*.j2
  for f in "$k"/avx512/avx512_mmm_f32_*.S.j2 "$k"/fma/fma_mmm_f32_32x3.S.j2; do
    sed -i -E 's/^(\s*)pinsrd(\s+)xmm([0-9]+), eax, /\1vpinsrd\2xmm\3, xmm\3, eax, /' "$f"
  done
  sed -i -E 's/^(\s*)pinsrw(\s+)xmm([0-9]+|\{\{tmp\}\}), /\1vpinsrw\2xmm\3, xmm\3, /; s/^(\s*)pextrw(\s+)/\1vpextrw\2/; s/^(\s*)movaps(\s+)xmm/\1vmovaps\2xmm/' "$k"/fma/*.j2
}

if [ "${1:-}" = "--regenerate-patch" ]; then
  pristine "$tmp/a" && pristine "$tmp/b"
  vex_rules "$tmp/b/tract-linalg-$VERSION"
  {
    sed -n '1,/^diff /p' "$PATCH" | sed '$d'
    (cd "$tmp" && diff -ru "a/tract-linalg-$VERSION" "b/tract-linalg-$VERSION" || true) \
      | sed -E "s#(^| )([ab])/tract-linalg-$VERSION/#\1\2/#g; s#^(---|\+\+\+) ([^\t]+)\t.*#\1 \2#"
  } > "$tmp/new.patch"
  mv "$tmp/new.patch" "$PATCH"
  echo "vendor_tract: rewrote $PATCH"
  exit 0
fi

want="$VERSION $(sha256sum "$PATCH" | cut -c1-64)"
if [ -f "$DEST/.melanoscope-patched" ] && [ "$(cat "$DEST/.melanoscope-patched")" = "$want" ]; then
  exit 0
fi
pristine "$tmp"
(cd "$tmp/tract-linalg-$VERSION" && patch -p1 --quiet --forward) < "$PATCH"
echo "$want" > "$tmp/tract-linalg-$VERSION/.melanoscope-patched"
rm -rf "$DEST"
mkdir -p vendor
mv "$tmp/tract-linalg-$VERSION" "$DEST"
echo "vendor_tract: tract-linalg $VERSION with $PATCH in $DEST"
