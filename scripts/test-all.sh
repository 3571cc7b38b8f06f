#!/usr/bin/env bash
# Installs what is needed and runs every check and test: formatting, clippy, docs, the Debian package
# (scripts/package.sh builds and checks it), the Python wheel (scripts/build-wheel.sh), unit tests, the
# end-to-end suite on real kernel VRFs (natively when this kernel has VRF and we are root, else in the
# VM; it installs the package and tests the wheel there), and a few seconds of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
begin=$(date +%s)
# Each step says how long it took, so that a slow CI run says where its time went.
step() {
  local t0
  t0=$(date +%s)
  "$@"
  echo "test-all: $(( $(date +%s) - t0 )) s for: $*"
}
step scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)
step cargo fmt --all --check
step cargo clippy --locked --workspace --all-targets -- -D warnings
RUSTDOCFLAGS=-Dwarnings step cargo doc --locked --workspace --no-deps --quiet
# The Debian package (release builds, man pages, completions) and its check, before the tests: the lab
# suite installs it.
step scripts/package.sh
# The Python package's wheel, which the lab's Python tests unpack.
step scripts/build-wheel.sh
# The fuzz targets (sanitizer builds in their own target directory) are built meanwhile at the lowest CPU
# priority: they take what the tests' build and the lab VM leave idle, and the VM keeps what it uses.
fuzz_log=$(mktemp)
VRF_FUZZ_DEV=1 nice -n 19 scripts/fuzz.sh --build-only >"$fuzz_log" 2>&1 &
fuzz_build=$!
trap 'kill "$fuzz_build" 2>/dev/null || true' EXIT
fuzz_start=$(date +%s)
step cargo test --locked --workspace
if ! wait "$fuzz_build"; then
  cat "$fuzz_log" >&2
  echo "test-all: building the fuzz targets failed" >&2
  exit 1
fi
echo "test-all: the fuzz targets were built beside the tests, done $(( $(date +%s) - fuzz_start )) s after they began"
# A smoke run of every fuzz target, in debug builds (scripts/fuzz.sh 600 for a real campaign).
VRF_FUZZ_DEV=1 step scripts/fuzz.sh "${VRF_FUZZ_SECONDS:-5}"
echo "test-all: everything passed in $(( $(date +%s) - start )) s ($(( $(date +%s) - begin )) s with the installs)"
