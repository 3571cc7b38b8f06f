"""vrf_socket against what a Python user does without it, in the same lab run (run by
`cargo bench -p vrf-lab --bench python`, which sets the lab up; see vrf-lab/benches/python.rs).

connect: `vrf.create_connection((peer, 80))` against `socket.socket()` + `SO_BINDTODEVICE` set by hand +
`connect()`, each to the HTTP server in blue's peer, closed at once.
resolve: `vrf.getaddrinfo(name, 80, type=SOCK_STREAM)` against `socket.getaddrinfo` (glibc) run under
`ip vrf exec VRF` in a child, both asking blue's dnsmasq for A and AAAA of a name never asked before.

Rounds are interleaved (the VM's speed drifts); the ratio reported is the median of the per-round
ratios of medians, ours / theirs: below 1 is faster.
"""

import json
import socket
import statistics
import subprocess
import sys
import time

import vrf_socket

PEER = "10.99.0.2"


def name(variant: str, rnd: int, i: int) -> str:
    return f"q{i}.r{rnd}.{variant}.bench.lab"


def connect_ours(vrf, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        s = vrf.create_connection((PEER, 80), timeout=5)
        out.append(time.perf_counter() - t)
        s.close()
    return out


def connect_by_hand(vrf, n):
    dev = vrf.name.encode()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev)
        s.settimeout(5)
        s.connect((PEER, 80))
        out.append(time.perf_counter() - t)
        s.close()
    return out


def timed_lookups(variant, n, rnd, lookup):
    """The seconds of n lookups (after 20 unmeasured) of fresh names, each answered A and AAAA."""
    out = []
    for i in range(-20, n):
        host = name(variant, rnd, i)
        t = time.perf_counter()
        got = lookup(host)
        took = time.perf_counter() - t
        assert len(got) == 2, got
        if i >= 0:
            out.append(took)
    return out


def resolve_ours(vrf, n, rnd):
    return timed_lookups("ours", n, rnd, lambda h: vrf.getaddrinfo(h, 80, type=socket.SOCK_STREAM))


def resolve_glibc_child(n, rnd):
    """In the child, under `ip vrf exec`: the timings as JSON."""
    lookup = lambda h: socket.getaddrinfo(h, 80, type=socket.SOCK_STREAM)  # noqa: E731
    print(json.dumps(timed_lookups("glibc", n, rnd, lookup)))


def resolve_glibc(vrf, n, rnd):
    r = subprocess.run(
        ["ip", "vrf", "exec", vrf.name, sys.executable, __file__, "glibc-child", str(n), str(rnd)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(r.stdout)


def main():
    if sys.argv[1] == "glibc-child":
        return resolve_glibc_child(int(sys.argv[2]), int(sys.argv[3]))
    vrf = vrf_socket.Vrf(sys.argv[1])
    n, rounds = int(sys.argv[2]), int(sys.argv[3])
    pairs = {
        "connect": (
            ("vrf.create_connection", lambda r: connect_ours(vrf, n)),
            ("socket + SO_BINDTODEVICE + connect", lambda r: connect_by_hand(vrf, n)),
            1.1,
        ),
        "resolve": (
            ("vrf.getaddrinfo", lambda r: resolve_ours(vrf, n, r)),
            ("socket.getaddrinfo under ip vrf exec", lambda r: resolve_glibc(vrf, n, r)),
            1.0,
        ),
    }
    # Warm-up: imports, the resolver, the peer's first accepts.
    connect_ours(vrf, 20)
    connect_by_hand(vrf, 20)
    print(f"python bench: {n} operations per round and variant, {rounds} rounds interleaved, VRF {vrf.name}")
    for what, ((ours, f_ours), (theirs, f_theirs), goal) in pairs.items():
        ratios, all_ours, all_theirs = [], [], []
        for rnd in range(1, rounds + 1):
            a = f_ours(rnd)
            b = f_theirs(rnd)
            all_ours += a
            all_theirs += b
            ratios.append(statistics.median(a) / statistics.median(b))
            print(
                f"  {what} round {rnd}: {ours} {statistics.median(a) * 1e6:.0f} µs, "
                f"{theirs} {statistics.median(b) * 1e6:.0f} µs, ratio {ratios[-1]:.3f}"
            )
        ratio = statistics.median(ratios)
        verdict = "goal met" if ratio <= goal else "GOAL MISSED"
        print(
            f"{what}: {ours} median {statistics.median(all_ours) * 1e6:.0f} µs, "
            f"{theirs} median {statistics.median(all_theirs) * 1e6:.0f} µs; "
            f"ratio {ratio:.3f} (median of {rounds} rounds; goal <= {goal}: {verdict})"
        )


if __name__ == "__main__":
    main()
