#!/usr/bin/env bash
# Installs what is needed and runs every check and test: formatting, clippy, docs, the Debian package
# (scripts/package.sh builds and checks it), unit tests, the end-to-end suite on real kernel VRFs
# (natively when this kernel has VRF and we are root, else in the VM), and a few seconds of every fuzz
# target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --workspace --no-deps --quiet
# The Debian package (release builds, man pages, completions) and its check, before the tests: the lab
# suite installs it.
scripts/package.sh
cargo test --locked --workspace
# A smoke run of every fuzz target, in debug builds (scripts/fuzz.sh 600 for a real campaign).
VRF_FUZZ_DEV=1 scripts/fuzz.sh "${VRF_FUZZ_SECONDS:-5}"
echo "test-all: everything passed in $(( $(date +%s) - start )) s"
