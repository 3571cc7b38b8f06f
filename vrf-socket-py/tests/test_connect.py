"""Connecting from a VRF: by address and by name (resolved by the VRF's own DNS server), through the
standard library's clients (http.client, ssl, asyncio), requests and paramiko. Each peer's servers
answer with their own label, so every answer says which VRF the connection went through."""

import asyncio
import errno
import http.client
import socket
import ssl
import time

import paramiko
import pytest
import requests

import vrf_socket
from conftest import PEER_V4, PEER_V6, ROUTER_V4
from vrf_socket import Vrf
from vrf_socket.requests import VrfAdapter

GET = b"GET / HTTP/1.0\r\nHost: www.lab\r\n\r\n"


def body_of(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("host", [PEER_V4, PEER_V6, "www.lab"])
def test_create_connection_reaches_the_vrfs_own_peer(each, host):
    with Vrf(each.vrf).create_connection((host, 80), timeout=10) as s:
        assert type(s) is socket.socket
        assert s.gettimeout() == 10
        assert vrf_socket.bound_vrf(s) == Vrf(each.vrf)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0") == each.vrf.encode()
        s.sendall(GET)
        assert body_of(s) == f"{each.label}\n".encode()


def test_the_default_vrf_reaches_neither_peer():
    # The router's default VRF has no route to the peers: the binding is what reaches them.
    with pytest.raises(OSError):
        socket.create_connection((PEER_V4, 80), timeout=5)


def test_source_address(each):
    vrf = Vrf(each.vrf)
    with vrf.create_connection((PEER_V4, 80), timeout=10, source_address=(ROUTER_V4, 0)) as s:
        assert s.getsockname()[0] == ROUTER_V4
        s.sendall(GET)
        assert body_of(s) == f"{each.label}\n".encode()
    # An address the router does not have.
    with pytest.raises(OSError) as e:
        vrf.create_connection((PEER_V4, 80), timeout=10, source_address=("10.77.0.9", 0))
    assert e.value.errno == errno.EADDRNOTAVAIL


def test_connection_errors_are_the_standard_ones(each):
    vrf = Vrf(each.vrf)
    with pytest.raises(ConnectionRefusedError):
        vrf.create_connection((PEER_V4, 1), timeout=10)
    # The VRF's table ends in an unreachable route: an error at once, not a timeout.
    started = time.monotonic()
    with pytest.raises(OSError) as e:
        vrf.create_connection(("192.0.2.1", 80), timeout=10)
    assert e.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    assert time.monotonic() - started < 5
    with pytest.raises(socket.gaierror) as e:
        vrf.create_connection(("nosuch.lab", 80), timeout=10)
    assert e.value.errno == socket.EAI_NONAME


def test_getaddrinfo_answers_differ_by_vrf(blue, red):
    for site in (blue, red):
        got = Vrf(site.vrf).getaddrinfo("side.lab", 80, type=socket.SOCK_STREAM)
        assert got == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (site.side, 80))]
    assert blue.side != red.side


def test_getaddrinfo_has_the_standard_shape(each):
    vrf = Vrf(each.vrf)
    # IP literals need no DNS: the very same answer as the C library's.
    for host, port in [(PEER_V4, 80), (PEER_V6, "443"), (PEER_V4, None)]:
        assert vrf.getaddrinfo(host, port) == socket.getaddrinfo(host, port)
        assert vrf.getaddrinfo(host, port, type=socket.SOCK_DGRAM) == socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM
        )
    assert vrf.getaddrinfo(None, 80, flags=socket.AI_PASSIVE) == socket.getaddrinfo(
        None, 80, flags=socket.AI_PASSIVE
    )
    # A name, both families, every socket type.
    got = vrf.getaddrinfo("www.lab", 80)
    addrs = {(fam, sa[0]) for fam, _, _, _, sa in got}
    assert addrs == {(socket.AF_INET, PEER_V4), (socket.AF_INET6, PEER_V6)}
    assert {t for _, t, _, _, _ in got} == {socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW}
    for fam, _, _, _, sa in got:
        assert len(sa) == (4 if fam == socket.AF_INET6 else 2)
    v6 = vrf.getaddrinfo("www.lab", 80, family=socket.AF_INET6, type=socket.SOCK_STREAM)
    assert v6 == [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PEER_V6, 80, 0, 0))]
    with pytest.raises(socket.gaierror) as e:
        vrf.getaddrinfo("www.lab", 80, flags=socket.AI_NUMERICHOST)
    assert e.value.errno == socket.EAI_NONAME


def test_an_unknown_name_is_gaierror(each):
    with pytest.raises(socket.gaierror) as e:
        Vrf(each.vrf).getaddrinfo("nosuch.lab", 80)
    assert e.value.errno == socket.EAI_NONAME
    assert "nosuch.lab" in str(e.value)


@pytest.mark.root
def test_a_loopback_name_server_is_a_clear_error_not_a_timeout(red):
    path = f"/etc/vrf/{red.vrf}/resolv.conf"
    with open(path) as f:
        saved = f.read()
    try:
        with open(path, "w") as f:
            f.write("nameserver 127.0.0.53\n")
        started = time.monotonic()
        with pytest.raises(socket.gaierror) as e:
            Vrf(red.vrf).getaddrinfo("www.lab", 80)
        assert time.monotonic() - started < 5
        assert "loopback" in str(e.value)
    finally:
        with open(path, "w") as f:
            f.write(saved)


def test_http_client(each):
    vrf = Vrf(each.vrf)

    class VrfHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = vrf.create_connection((self.host, self.port), self.timeout)

    conn = VrfHTTPConnection("www.lab", 80, timeout=10)
    for _ in range(2):  # keep-alive: the second request on the same connection
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == f"{each.label}\n".encode()
    conn.close()


def test_ssl_over_a_vrf_socket(each, ca):
    ctx = ssl.create_default_context(cafile=ca)
    raw = Vrf(each.vrf).create_connection(("www.lab", 443), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="www.lab") as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        s.sendall(GET)
        assert body_of(s) == f"{each.label}\n".encode()
    # The certificate is checked: a name it does not carry is refused.
    raw = Vrf(each.vrf).create_connection(("www.lab", 443), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(raw, server_hostname="other.lab")
    raw.close()


def test_requests_through_the_adapter(each, ca):
    with requests.Session() as session:
        adapter = VrfAdapter(Vrf(each.vrf))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        for url in ("http://www.lab/", f"http://{PEER_V4}/", "http://[fd00:99::2]/"):
            r = session.get(url, timeout=10)
            assert r.status_code == 200 and r.text == f"{each.label}\n"
        r = session.get("https://www.lab/", timeout=10, verify=ca)
        assert r.text == f"{each.label}\n" and r.headers["x-site"] == each.label
        assert session.get("http://www.lab/redirect/2", timeout=10).text == f"{each.label} redirected\n"
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get("http://nosuch.lab/", timeout=10)
    # The lab CA is not in the system's store: refused (a new session, as requests 2.28 reuses a
    # verified connection without verifying again).
    with requests.Session() as session:
        session.mount("https://", VrfAdapter(Vrf(each.vrf)))
        with pytest.raises(requests.exceptions.SSLError):
            session.get("https://www.lab/", timeout=10)
    with requests.Session() as session:
        session.mount("http://", VrfAdapter(Vrf(each.vrf)))
        with pytest.raises(requests.exceptions.Timeout):
            session.get("http://www.lab/delay/5000", timeout=1)


def ssh(site, host, key_path):
    """Logs in to host (in site's VRF) and returns (host key, the peer's IPv4 default TTL, read over
    SFTP: the lab's sshd serves nothing else)."""
    sock = Vrf(site.vrf).create_connection((host, 22), timeout=10)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            host,
            username="root",
            key_filename=key_path,
            sock=sock,
            timeout=10,
            banner_timeout=10,
            auth_timeout=10,
            allow_agent=False,
            look_for_keys=False,
        )
        key = client.get_transport().get_remote_server_key()
        with client.open_sftp() as sftp, sftp.open("/proc/sys/net/ipv4/ip_default_ttl") as f:
            return f"{key.get_name()} {key.get_base64()}", f.read().decode().strip()
    finally:
        client.close()


@pytest.mark.parametrize("host", [PEER_V4, "ssh.lab"])
def test_paramiko_through_sock(each, host, ssh_key):
    key, ttl = ssh(each, host, ssh_key)
    # The peer's own host key, and a session in the peer's namespace.
    assert key == " ".join(each.hostkey.split()[:2])
    assert ttl == str(each.ttl)


def test_asyncio_streams(each, ca):
    async def fetch(**kw):
        port = 443 if kw else 80
        reader, writer = await asyncio.wait_for(Vrf(each.vrf).open_connection("www.lab", port, **kw), 20)
        try:
            assert vrf_socket.bound_vrf(writer.get_extra_info("socket")) == Vrf(each.vrf)
            writer.write(GET)
            data = await asyncio.wait_for(reader.read(), 20)
            return data.split(b"\r\n\r\n", 1)[1]
        finally:
            writer.close()
            await writer.wait_closed()

    async def both():
        ctx = ssl.create_default_context(cafile=ca)
        return await asyncio.gather(fetch(), fetch(ssl=ctx, server_hostname="www.lab"))

    assert asyncio.run(both()) == [f"{each.label}\n".encode()] * 2

