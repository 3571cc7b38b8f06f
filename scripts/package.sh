#!/usr/bin/env bash
# Builds the Debian package target/debian/vrf-toolkit_VERSION_amd64.deb with cargo-deb (the metadata is
# vrf-exec's [package.metadata.deb]), then checks it with scripts/check-package.sh:
#   - vrf-exec: the static PIE of scripts/build-release.sh, the build the README's launch figures
#     measure; vrf-ping, vrf-curl-lite: `cargo build --release`; all three stripped by cargo-deb;
#   - man pages and bash/zsh/fish completions, rendered by xtask from the clap definitions;
#   - the systemd templates of vrf-exec/systemd/, README.md, the copyright file.
# Usage: scripts/package.sh [--no-check]      Install: apt install ./target/debian/vrf-toolkit_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
check=1
case "${1:-}" in
  "") ;;
  --no-check) check=0 ;;
  *) echo "usage: scripts/package.sh [--no-check]" >&2; exit 2 ;;
esac

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: cargo-deb is missing: scripts/install-deps.sh installs it" \
    "(cargo install --locked --no-default-features cargo-deb)" >&2
  exit 1
fi
# Reproducible: the pages' date and the archive's file times are the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# What cargo-deb's assets name `target/release/vrf-toolkit/` (vrf-exec/Cargo.toml).
stage=$target_dir/release/vrf-toolkit

start=$(date +%s)
# xtask in the same build as vrf-ping and vrf-curl-lite: it needs their libraries and vrf-exec's, which
# depend on nearly all they do; built alone, its dependencies' features would differ and about 20 of
# them (serde, hickory, vrf-socket …) would be built twice (2 minutes on 2 cores).
scripts/build-release.sh -p vrf-ping -p vrf-curl-lite -p xtask
built=$(date +%s)

rm -rf "$stage"
mkdir -p "$stage/bin"
cp "$target_dir/x86_64-unknown-linux-gnu/release/vrf-exec" \
  "$target_dir/release/vrf-ping" "$target_dir/release/vrf-curl-lite" "$stage/bin/"
"$target_dir/release/xtask" dist-docs "$stage"
gzip -9n "$stage"/man/*

# Every asset cargo-deb is told about is there, or this says which is not (cargo-deb would stop at the
# first, less plainly).
python3 - "$target_dir" <<'PY'
import glob, os, sys, tomllib

target_dir = sys.argv[1]
with open("vrf-exec/Cargo.toml", "rb") as f:
    assets = tomllib.load(f)["package"]["metadata"]["deb"]["assets"]
missing = []
for asset in assets:
    source = asset["source"] if isinstance(asset, dict) else asset[0]
    if source.startswith("target/release/"):
        path = os.path.join(target_dir, "release", source[len("target/release/"):])
    else:
        path = os.path.normpath(os.path.join("vrf-exec", source))
    if not glob.glob(path):
        missing.append(path)
if missing:
    print("package: missing asset(s), listed in vrf-exec/Cargo.toml [package.metadata.deb]:", file=sys.stderr)
    for m in missing:
        print(f"  {m}", file=sys.stderr)
    sys.exit(1)
PY

rm -f "$target_dir"/debian/vrf-toolkit_*.deb
# cargo-deb warns that it finds no dependency of vrf-exec: it is static.
cargo deb -p vrf-exec --no-build --strip
debs=("$target_dir"/debian/vrf-toolkit_*_amd64.deb)
deb=${debs[0]}
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB; built in $((built - start)) s, packaged in $(($(date +%s) - built)) s)"
if [ "$check" = 1 ]; then
  scripts/check-package.sh "$deb"
fi
