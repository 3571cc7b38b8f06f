"""The lab's side of the vrf_socket tests.

These tests run on real VRFs only: `cargo test -p vrf-lab --test suite -- python` builds a topology
(VRFs blue and red on the same addresses, each with a peer behind it that runs an HTTP and an HTTPS
server, a DNS server and sshd), then runs pytest in the router's namespace, once as root and once as
`nobody`, and hands the topology over in `VRFLAB_*` variables. Without them every test fails: there is
no kernel to test against, and a skipped test proves nothing.
"""

import dataclasses
import os
import subprocess

import pytest

PEER_V4 = "10.99.0.2"
PEER_V6 = "fd00:99::2"
ROUTER_V4 = "10.99.0.1"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: these tests need the lab's VRFs "
            "(cargo test -p vrf-lab --test suite -- python)"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Site:
    """One VRF of the router and the peer behind it."""

    label: str  # what the peer's HTTP server answers: "blue" or "red"
    vrf: str  # the VRF device's name
    dev: str  # the router's veth end, enslaved to the VRF
    ns: str  # the peer's network namespace
    table: int
    ttl: int  # the peer's IPv4 default TTL, which its sshd shell prints
    side: str  # what side.lab resolves to in this VRF only
    hostkey: str  # the public host key of the peer's sshd ("ssh-ed25519 AAAA…")

    def peer(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs argv in the peer's namespace (needs root)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def site(label: str) -> Site:
    up = label.upper()
    return Site(
        label=label,
        vrf=env(f"VRFLAB_{up}"),
        dev=env(f"VRFLAB_{up}_DEV"),
        ns=env(f"VRFLAB_{up}_NS"),
        table=int(env(f"VRFLAB_{up}_TABLE")),
        ttl=int(env(f"VRFLAB_{up}_TTL")),
        side=env(f"VRFLAB_{up}_SIDE"),
        hostkey=open(env(f"VRFLAB_{up}_HOSTKEY")).read().strip(),
    )


@pytest.fixture(scope="session")
def blue() -> Site:
    return site("blue")


@pytest.fixture(scope="session")
def red() -> Site:
    return site("red")


@pytest.fixture(scope="session", params=["blue", "red"])
def each(request) -> Site:
    """Each VRF in turn."""
    return site(request.param)


@pytest.fixture(scope="session")
def ca() -> str:
    """The lab CA's certificate (PEM), which signed both peers' HTTPS certificate for www.lab."""
    return env("VRFLAB_CA")


@pytest.fixture(scope="session")
def ssh_key() -> str:
    """A private key the peers' sshd accept for root."""
    return env("VRFLAB_SSH_KEY")


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (runs a client in a peer, raw sockets, sysctls)")
    config.addinivalue_line("markers", "nobody: checks what an unprivileged user is refused")

