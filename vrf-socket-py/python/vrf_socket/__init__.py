"""Sockets, connections and name lookups inside Linux VRFs.

A VRF (``ip link add blue type vrf table 10``; ``ip link set eth1 master blue``) is the kernel's
l3mdev: a socket bound to the VRF device routes through the VRF's table only. This package wraps the
Rust library vrf-socket: VRF lookup over rtnetlink, sockets bound to a VRF before anything else,
name lookups sent to the VRF's own name servers from inside the VRF, happy-eyeballs connects, and one
UDP socket serving every VRF. Every socket it returns is a real ``socket.socket``, so ``ssl``,
``selectors``, ``asyncio``, ``http.client`` and paramiko take it as they take any other.

Quick tour::

    import socket, vrf_socket

    blue = vrf_socket.Vrf("blue")        # VrfNotFound / NotAVrf otherwise
    blue.name, blue.index, blue.table, blue.is_up, blue.slaves()
    vrf_socket.list_vrfs()                # [Vrf(name='blue', index=7, table=10), ...]
    vrf_socket.vrf_of_device("eth1")      # the VRF eth1 is in, or None

    # Connect by name: resolved by blue's name servers (/etc/vrf/blue/resolv.conf, else
    # /etc/resolv.conf; /etc/hosts first), every address tried happy-eyeballs style.
    sock = blue.create_connection(("app.example", 443), timeout=10)

    # The same answers socket.getaddrinfo would give, from inside the VRF.
    blue.getaddrinfo("app.example", 443, type=socket.SOCK_STREAM)

    # Any socket, bound to the VRF: stream, datagram, raw, ICMP datagram ...
    udp = blue.socket(socket.AF_INET, socket.SOCK_DGRAM)

    # A server that accepts only what arrives through blue.
    server = blue.create_server(("", 8080))
    conn, peer = server.accept()
    vrf_socket.bound_vrf(conn)            # Vrf(name='blue', ...): the VRF a socket is bound to

    # One UDP socket for every VRF (net.ipv4.udp_l3mdev_accept=1): answer through the VRF asked.
    with vrf_socket.PktInfoSocket(("0.0.0.0", 5353)) as s:
        s.settimeout(5)
        d = s.recv()                      # d.data, d.source, d.destination, d.ifindex, d.device, d.vrf
        s.reply(d, b"answer")

    # asyncio: resolve and connect without blocking the loop; ssl= works as usual.
    reader, writer = await blue.open_connection("app.example", 443, ssl=True)
    server = await blue.start_server(handle, port=8080)

    # requests: every connection of the session (HTTP, HTTPS, keep-alive pools) made in the VRF.
    import requests
    from vrf_socket.requests import VrfAdapter
    session = requests.Session()
    adapter = VrfAdapter(blue)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.get("https://app.example/")

    # paramiko: hand it the connected socket.
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    sock = blue.create_connection(("router1", 22), timeout=10)
    client.connect("router1", sock=sock)

Errors are ``OSError`` subclasses with an errno: ``VrfNotFound`` (``ENODEV``), ``NotAVrf`` (``EINVAL``),
``VrfDown`` (``ENETDOWN``) and ``InvalidVrfName`` (``EINVAL``, also a ``ValueError``), all
``VrfError``; failed lookups are ``socket.gaierror`` (``EAI_NONAME``: no such name or no address;
``EAI_AGAIN``: no answer, or no name server usable from the VRF); the rest is the matching ``OSError``
subclass (``ConnectionRefusedError``, ``socket.timeout`` ...). Messages name the VRF and the fix.

Sockets are opened in the calling thread's network namespace. ``Vrf`` attributes are a snapshot taken
at lookup time. Importing this package does not import requests; ``vrf_socket.requests`` does.
"""

from __future__ import annotations

from ._errors import InvalidVrfName, NotAVrf, VrfDown, VrfError, VrfNotFound
from ._pktinfo import Datagram, PktInfoSocket
from ._vrf import Slave, Vrf, bound_vrf, list_vrfs, vrf_of_device

__all__ = [
    "Vrf",
    "Slave",
    "list_vrfs",
    "vrf_of_device",
    "bound_vrf",
    "PktInfoSocket",
    "Datagram",
    "VrfError",
    "VrfNotFound",
    "NotAVrf",
    "VrfDown",
    "InvalidVrfName",
]

for _name in __all__:
    # help(vrf_socket) and pickles name the package, not the private module a class lives in.
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("vrf_socket._"):
        _obj.__module__ = __name__
del _name, _obj
