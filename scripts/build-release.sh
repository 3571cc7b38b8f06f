#!/usr/bin/env bash
# The release builds that are measured and shipped, in one place: scripts/bench.sh measures what
# scripts/package.sh packages.
#   scripts/build-release.sh [CARGO BUILD ARGS…]
# builds vrf-exec as a static PIE (target/x86_64-unknown-linux-gnu/release/vrf-exec), then, given
# arguments, `cargo build --release --locked ARGS…`: package.sh gives -p vrf-ping -p vrf-curl-lite
# -p xtask, bench.sh --workspace --bins --examples.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# vrf-exec as users should install it: a static PIE (no shared libraries to load on every launch).
# The explicit --target keeps crt-static away from proc-macro crates.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p vrf-exec --target x86_64-unknown-linux-gnu
if [ $# -gt 0 ]; then
  cargo build --release --locked "$@"
fi
