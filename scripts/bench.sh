#!/usr/bin/env bash
# Builds what the benchmarks measure and runs them in the kernel lab. Each prints its ratios against the
# named peer, measured in the same run. Usage: scripts/bench.sh [launch|seccomp|udp_echo|...]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The examples too: the seccomp bench runs vrf-lab's socket_cost and bound_ifindex.
cargo build --release --locked --workspace --bins --examples
# vrf-exec as users should install it: a static PIE (no shared libraries to load on every launch).
# The explicit --target keeps crt-static away from proc-macro crates.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p vrf-exec --target x86_64-unknown-linux-gnu
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  benches=($(ls vrf-lab/benches/*.rs | xargs -n1 basename | sed 's/\.rs$//'))
fi
for b in "${benches[@]}"; do
  echo "=== bench $b"
  cargo bench --locked -p vrf-lab --bench "$b"
done
