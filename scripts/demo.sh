#!/usr/bin/env bash
# Installs what is needed, builds the toolkit and runs the demo in the kernel lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --workspace --bins
exec target/release/vrf-lab demo
