#!/usr/bin/env bash
# The launcher's soak in the kernel lab: VRF_SOAK_LAUNCHES launches of `vrf-exec VRF true` (default
# 10000; the suite runs 300), then the cgroups, BPF programs and a launched command's open files are
# compared with those after one launch per VRF. Prints the figures and the time taken.
# Usage: scripts/soak.sh [LAUNCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export VRF_SOAK_LAUNCHES="${1:-${VRF_SOAK_LAUNCHES:-10000}}"
# 10,000 launches under qemu's TCG take well over the lab's default 25 minutes on a busy machine.
export VRF_LAB_TIMEOUT="${VRF_LAB_TIMEOUT:-5400}"
cargo build --locked --workspace --bins --examples
time cargo test --locked -p vrf-lab --test suite -- --exact exec_churn::many_launches_leave_nothing_behind --nocapture
