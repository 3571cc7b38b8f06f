"""Serving in VRFs: one listener per VRF on the same port, the VRF of an accepted connection, and one
UDP socket (PktInfoSocket) that serves every VRF and replies through the VRF each datagram came in."""

import socket
import subprocess
import sys
import textwrap

import pytest

import vrf_socket
from conftest import PEER_V4, ROUTER_V4
from vrf_socket import PktInfoSocket, Vrf

# Linux's values; Python names neither.
IP_TTL = 2
IP_RECVTTL = 12

# A client in a peer: connects to the router over TCP or UDP, sends the peer's label, prints the answer.
CLIENT = textwrap.dedent(
    """
    import socket, sys
    proto, port, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if proto == "tcp":
        s = socket.create_connection(("10.99.0.1", port), timeout=10)
        addr = s.getpeername()
        s.sendall(label.encode())
        s.shutdown(socket.SHUT_WR)
        data = s.recv(1000)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.sendto(label.encode(), ("10.99.0.1", port))
        data, addr = s.recvfrom(1000)
    print(data.decode(), addr[0])
    """
)


def from_peer(site, proto, port):
    """Starts the client in site's peer."""
    return subprocess.Popen(
        ["ip", "netns", "exec", site.ns, sys.executable, "-c", CLIENT, proto, str(port), site.label],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def answer_of(client) -> str:
    out, err = client.communicate(timeout=30)
    assert client.returncode == 0, err
    return out.strip()


def test_one_port_in_each_vrf(blue, red):
    """Two listeners on the same port, one per VRF; a client bound to each VRF reaches its own."""
    servers = {s.label: Vrf(s.vrf).create_server(("", 7101)) for s in (blue, red)}
    try:
        for site in (blue, red):
            with Vrf(site.vrf).create_connection((ROUTER_V4, 7101), timeout=10) as c:
                server = servers[site.label]
                server.settimeout(10)
                conn, _ = server.accept()
                with conn:
                    assert vrf_socket.bound_vrf(conn) == Vrf(site.vrf)
                    conn.sendall(site.label.encode())
                assert c.recv(100) == site.label.encode()
        # The default VRF has none of them.
        with pytest.raises(OSError):
            socket.create_connection((ROUTER_V4, 7101), timeout=5)
    finally:
        for s in servers.values():
            s.close()


def test_create_server_like_the_standard_library(blue):
    vrf = Vrf(blue.vrf)
    with vrf.create_server(("", 0)) as s:
        assert s.type == socket.SOCK_STREAM and s.family == socket.AF_INET
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert vrf_socket.bound_vrf(s) == vrf
        port = s.getsockname()[1]
        # The port is taken in blue.
        with pytest.raises(OSError):
            vrf.create_server(("", port))
    with vrf.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True, reuse_port=True) as s:
        assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        port = s.getsockname()[1]
        with vrf.create_connection((ROUTER_V4, port), timeout=10):
            s.settimeout(10)
            conn, addr = s.accept()
            conn.close()
            assert addr[0] == f"::ffff:{ROUTER_V4}"
    with pytest.raises(ValueError):
        vrf.create_server(("", 0), family=socket.AF_INET, dualstack_ipv6=True)


def test_sockets_of_every_kind_are_bound(each):
    vrf = Vrf(each.vrf)
    for family, type_ in [
        (socket.AF_INET, socket.SOCK_STREAM),
        (socket.AF_INET, socket.SOCK_DGRAM),
        (socket.AF_INET6, socket.SOCK_STREAM),
        (socket.AF_INET6, socket.SOCK_DGRAM),
    ]:
        with vrf.socket(family, type_) as s:
            assert type(s) is socket.socket and s.family == family and s.type == type_
            assert vrf_socket.bound_vrf(s) == vrf
    # UDP out of the VRF: the peer's DNS server answers (a query for www.lab, A).
    with vrf.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        query = bytes.fromhex("abcd01000001000000000000") + b"\x03www\x03lab\x00\x00\x01\x00\x01"
        s.sendto(query, (PEER_V4, 53))
        reply, _ = s.recvfrom(512)
        assert reply[:2] == b"\xab\xcd" and reply.endswith(bytes([10, 99, 0, 2]))


@pytest.mark.root
def test_raw_sockets(each):
    vrf = Vrf(each.vrf)
    with vrf.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        assert vrf_socket.bound_vrf(s) == vrf


def test_icmp_datagram_sockets_ping_the_vrfs_own_peer(each):
    """An ICMP echo over a datagram socket (the lab allows them to every group): the peer's reply
    carries its own TTL."""
    with Vrf(each.vrf).socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as s:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        s.settimeout(10)
        s.sendto(b"\x08\x00\x00\x00\x00\x00\x00\x01vrf", (PEER_V4, 0))
        reply, ancillary, _, _ = s.recvmsg(100, 64)
        assert reply[0] == 0 and reply.endswith(b"vrf")
        ttls = [int.from_bytes(data, "little") for level, kind, data in ancillary if kind == IP_TTL]
        assert ttls == [each.ttl]


@pytest.mark.nobody
def test_raw_sockets_need_privilege(blue):
    with pytest.raises(PermissionError):
        Vrf(blue.vrf).socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)


@pytest.mark.root
def test_bound_vrf_of_connections_accepted_by_an_unbound_listener(blue, red):
    """Under tcp_l3mdev_accept=1 (the lab sets it) an unbound listener accepts from every VRF, and
    bound_vrf tells each connection's VRF."""
    with socket.create_server(("", 7102)) as server:
        server.settimeout(30)
        for site in (blue, red):
            client = from_peer(site, "tcp", 7102)
            conn, addr = server.accept()
            with conn:
                assert addr[0] == PEER_V4
                assert conn.recv(100) == site.label.encode()
                assert vrf_socket.bound_vrf(conn) == Vrf(site.vrf)
                conn.sendall(f"hello {vrf_socket.bound_vrf(conn).name}".encode())
            assert answer_of(client) == f"hello {site.vrf} {ROUTER_V4}"


@pytest.mark.root
def test_pktinfo_echo_for_both_vrfs_on_one_socket(blue, red):
    """Both peers are 10.99.0.2: only the ingress device tells them apart, and each reply must leave
    through the VRF its datagram came in, from the address it was sent to."""
    with PktInfoSocket(("0.0.0.0", 7103)) as server:
        server.settimeout(30)
        clients = {site.label: from_peer(site, "udp", 7103) for site in (blue, red)}
        seen = {}
        for _ in range(2):
            d = server.recv()
            seen[d.data.decode()] = d
            assert d.source[0] == PEER_V4
            assert d.destination[0] == ROUTER_V4
            server.reply(d, b"echo " + d.data + b" via " + d.vrf.name.encode())
        for site in (blue, red):
            d = seen[site.label]
            assert d.vrf == Vrf(site.vrf) and d.device == site.dev
            assert answer_of(clients[site.label]) == f"echo {site.label} via {site.vrf} {ROUTER_V4}"


def test_pktinfo_from_clients_in_the_vrfs(blue, red):
    """The same socket and VRF-bound clients on the router (no privilege needed)."""
    with PktInfoSocket(("0.0.0.0", 7104)) as server:
        server.settimeout(10)
        for site in (blue, red):
            with Vrf(site.vrf).socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.settimeout(10)
                c.sendto(site.label.encode(), (ROUTER_V4, 7104))
                d = server.recv()
                assert d.data == site.label.encode() and d.vrf == Vrf(site.vrf)
                server.reply(d, b"echo " + d.data)
                assert c.recv(100) == b"echo " + site.label.encode()


def test_pktinfo_waits_are_bounded(blue):
    with PktInfoSocket(("0.0.0.0", 0)) as server:
        server.settimeout(0.2)
        with pytest.raises((TimeoutError, socket.timeout)):
            server.recv()
    server.close()
    with pytest.raises(OSError):
        server.recv()
