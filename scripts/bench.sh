#!/usr/bin/env bash
# Builds what the benchmarks measure and runs them in the kernel lab. Each prints its ratios against the
# named peer, measured in the same run. Usage: scripts/bench.sh [launch|seccomp|udp_echo|...]  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# vrf-exec as a static PIE, as scripts/package.sh ships it, and every binary; the examples too: the
# seccomp bench runs vrf-lab's socket_cost and bound_ifindex.
scripts/build-release.sh --workspace --bins --examples
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  benches=($(ls vrf-lab/benches/*.rs | xargs -n1 basename | sed 's/\.rs$//'))
fi
for b in "${benches[@]}"; do
  echo "=== bench $b"
  cargo bench --locked -p vrf-lab --bench "$b"
done
