#!/usr/bin/env bash
# Runs every fuzz target of the workspace for SECONDS each (default 60) with cargo-fuzz (libFuzzer and
# AddressSanitizer, on the stable toolchain through RUSTC_BOOTSTRAP=1), and prints the executions of each.
# A crash stops the script with libFuzzer's report and the input saved under <crate>/fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS] [TARGET…]     e.g. scripts/fuzz.sh 600 cmsg_decode
#   VRF_FUZZ_DEV=1 scripts/fuzz.sh 5       a smoke of every target in debug builds (CI)
#   scripts/fuzz.sh --build-only           builds every target and runs none (CI builds them beside the lab)
# CI runs a smoke of each target (scripts/test-all.sh: a few seconds each).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1
if [ "${1:-}" = --build-only ]; then
  build_only=1
  seconds=0
else
  build_only=0
  seconds=${1:-60}
fi
fuzz_target_dir="$PWD/target/fuzz"
# VRF_FUZZ_DEV=1: unoptimised builds with overflow checks, which compile in about half the time: what a
# smoke run needs (CI's), not a campaign.
profile=()
if [ "${VRF_FUZZ_DEV:-0}" = 1 ]; then
  profile=(--dev)
fi
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked (scripts/install-deps.sh does it)" >&2
  exit 1
fi
# Every crate's fuzz/ (target/fuzz, the build directory, has no Cargo.toml).
for manifest in */fuzz/Cargo.toml; do
  dir=${manifest%/Cargo.toml}
  crate=${dir%/fuzz}
  if [ "$build_only" = 1 ]; then
    (cd "$crate" && cargo fuzz build "${profile[@]}" --target-dir "$fuzz_target_dir")
    echo "fuzz: $crate: every target built"
    continue
  fi
  for target in $(cd "$crate" && cargo fuzz list); do
    if [ $# -gt 0 ] && [[ " $* " != *" $target "* ]]; then
      continue
    fi
    mkdir -p "$dir/corpus/$target"
    log=$(mktemp)
    # One target directory for every fuzz crate: the dependencies they share are built once.
    if ! (cd "$crate" && cargo fuzz run "${profile[@]}" --target-dir "$fuzz_target_dir" "$target" "fuzz/corpus/$target" -- \
          -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1); then
      tail -n 60 "$log" >&2
      echo "fuzz: $crate/$target FAILED (input saved under $dir/artifacts/$target/)" >&2
      rm -f "$log"
      exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    echo "fuzz: $crate/$target: ${runs:-?} executions in ${seconds} s, no crash"
    rm -f "$log"
  done
done
