#!/usr/bin/env bash
# Builds the Python package vrf_socket (vrf-socket-py/) as an abi3 wheel (CPython >= 3.9) with maturin,
# into target/wheels/, the one the lab's Python tests unpack. `pip install ./vrf-socket-py` builds the
# same wheel through pip (PEP 517) for users.
#   scripts/build-wheel.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/opt/vrf-toolkit/venv/bin:$PATH"
if ! maturin --version >/dev/null 2>&1; then
  echo "build-wheel: maturin is missing: scripts/install-deps.sh installs it (pip install 'maturin>=1.9.4,<2')" >&2
  exit 1
fi
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
rm -f "$target_dir"/wheels/vrf_socket-*.whl
start=$(date +%s)
maturin build --quiet --release --locked -m vrf-socket-py/Cargo.toml -o "$target_dir/wheels"
wheels=("$target_dir"/wheels/vrf_socket-*.whl)
echo "build-wheel: ${wheels[0]} ($(du -k "${wheels[0]}" | cut -f1) KiB, built in $(($(date +%s) - start)) s)"
