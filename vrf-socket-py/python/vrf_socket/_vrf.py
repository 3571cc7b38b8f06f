"""The ``Vrf`` class and the module-level functions: lookup, sockets, connect, resolve, listen, asyncio."""

from __future__ import annotations

import asyncio
import errno
import operator
import os
import socket as _socket
import threading
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    List,
    Optional,
    SupportsIndex,
    Tuple,
    Union,
)

from . import _addrinfo, _native
from ._errors import VrfNotFound
from ._native import VrfHandle

if TYPE_CHECKING:
    from ._addrinfo import AddrInfo, HostArg, PortArg

__all__ = ["Vrf", "Slave", "list_vrfs", "vrf_of_device", "bound_vrf"]

Address = Union[Tuple[Any, Any], Tuple[Any, Any, int, int]]
_DEFAULT = getattr(_socket, "_GLOBAL_DEFAULT_TIMEOUT", object())
_MAX_INDEX = 0xFFFFFFFF


@dataclass(frozen=True)
class Slave:
    """A device enslaved to a VRF (``ip link set DEV master VRF``), as the kernel described it."""

    name: str
    """The device name (``eth1``)."""
    index: int
    """Its interface index."""
    kind: Optional[str]
    """Its link kind (``veth``, ``dummy``, ``bridge`` …), or None."""
    is_up: bool
    """Administratively up (``IFF_UP``)."""


def _index(index: object) -> int:
    """An interface index; an index no device can have is ``VrfNotFound``."""
    if isinstance(index, bool) or not isinstance(index, SupportsIndex):
        raise TypeError(f"an interface index must be an int, not {index.__class__.__name__}")
    number = operator.index(index)
    if not 1 <= number <= _MAX_INDEX:
        error = VrfNotFound(errno.ENODEV, f"no device with ifindex {number} (ip link show lists the devices)")
        error.device = number
        raise error
    return number


def _timeout(timeout: object) -> Optional[float]:
    """The timeout a connect gets: None and ``socket._GLOBAL_DEFAULT_TIMEOUT`` mean
    ``socket.getdefaulttimeout()``."""
    if timeout is None or timeout is _DEFAULT:
        return _socket.getdefaulttimeout()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number or None, not {timeout.__class__.__name__}")
    value = float(timeout)
    if not value >= 0:
        raise ValueError("Timeout value out of range")
    if value == 0:
        raise ValueError(
            "create_connection needs a timeout > 0 or None; call setblocking(False) on the socket it returns"
        )
    return value


def _wrap_fd(fd: int, family: int, type_: int, proto: int) -> _socket.socket:
    """A ``socket.socket`` owning descriptor ``fd``; ``fd`` is closed if that fails."""
    try:
        return _socket.socket(family, type_, proto, fileno=fd)
    except BaseException:
        os.close(fd)
        raise


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise TypeError(f"{name} must be an int, not {value.__class__.__name__}")
    return operator.index(value)


def _host(host: object, what: str = "host") -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"{what} must be a str, not {host.__class__.__name__}")
    return host


class _Handoff:
    """Hands a socket from an executor thread to a coroutine that may have been cancelled meanwhile:
    whichever of the two comes second closes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._sock: Optional[_socket.socket] = None

    def deliver(self, sock: _socket.socket) -> _socket.socket:
        with self._lock:
            if self._cancelled:
                sock.close()
            else:
                self._sock = sock
        return sock

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._sock is not None:
                self._sock.close()


class Vrf:
    """A VRF (Virtual Routing and Forwarding) device: ``ip link add blue type vrf table 10``.

    ``Vrf("blue")`` looks the VRF up over rtnetlink (``VrfNotFound`` if there is no such device,
    ``NotAVrf`` if it is some other kind of device, ``InvalidVrfName`` for a name the kernel refuses);
    ``Vrf.by_index(7)`` by interface index. ``name``, ``index``, ``table`` and ``is_up`` are a snapshot
    taken at lookup time: look the VRF up again to see changes (``ensure_up()`` asks the kernel anew).

    Sockets made by a Vrf are bound to it (``SO_BINDTOIFINDEX``) before anything else: they route
    through the VRF's table and receive only traffic that arrived in the VRF. Names are resolved by the
    VRF's own name servers (``/etc/vrf/NAME/resolv.conf``, else ``/etc/resolv.conf``; ``/etc/hosts``
    first), whose queries leave through the VRF. The resolver is made on first use and kept by this
    object (thread-safe).

    ``repr(vrf)`` is ``Vrf(name='blue', index=7, table=10)``, ``str(vrf)`` the name; two Vrf objects
    are equal when their index and name are.
    """

    __slots__ = ("_handle", "__weakref__")
    _handle: VrfHandle

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            hint = f"; use Vrf.by_index({name!r}) for an interface index" if isinstance(name, int) else ""
            raise TypeError(f"Vrf() takes a VRF name (str), not {name.__class__.__name__}{hint}")
        self._handle = _native.lookup_name(name)

    @classmethod
    def by_index(cls, index: int) -> Vrf:
        """The VRF with interface index ``index`` (``VrfNotFound``, ``NotAVrf`` otherwise)."""
        return cls._wrap(_native.lookup_index(_index(index)))

    @classmethod
    def _wrap(cls, handle: VrfHandle) -> Vrf:
        vrf = cls.__new__(cls)
        vrf._handle = handle
        return vrf

    @property
    def name(self) -> str:
        """The device name (``blue``)."""
        return self._handle.name

    @property
    def index(self) -> int:
        """The interface index (what ``SO_BINDTOIFINDEX`` takes)."""
        return self._handle.index

    @property
    def table(self) -> int:
        """The routing table the VRF's l3mdev rule sends lookups to."""
        return self._handle.table

    @property
    def is_up(self) -> bool:
        """Administratively up (``IFF_UP``) at lookup time."""
        return self._handle.is_up

    def slaves(self) -> List[Slave]:
        """The devices enslaved to this VRF now, in ifindex order."""
        return [Slave(*s) for s in self._handle.slaves()]

    def ensure_up(self) -> None:
        """Raises ``VrfDown`` unless the VRF is up now (asks the kernel again; ``VrfNotFound`` if it is
        gone)."""
        self._handle.ensure_up()

    def __repr__(self) -> str:
        return f"Vrf(name={self.name!r}, index={self.index}, table={self.table})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vrf):
            return NotImplemented
        return (self.index, self.name) == (other.index, other.name)

    def __hash__(self) -> int:
        return hash((self.index, self.name))

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        # Unpickling looks the VRF up again, by name.
        return (Vrf, (self.name,))

    # -- sockets -----------------------------------------------------------------------------------

    def socket(
        self, family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM, proto: int = 0
    ) -> _socket.socket:
        """A new ``socket.socket`` bound to this VRF: any family, type and protocol the kernel allows
        (stream, datagram, raw, ICMP datagram ``(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`` …).

        The binding (``SO_BINDTOIFINDEX``) comes before anything else, so the socket never routes
        through another table. Since Linux 5.7 it needs no privilege. The socket gets the default timeout
        (``socket.getdefaulttimeout()``) as any new socket does.
        """
        family, type, proto = _int("family", family), _int("type", type), _int("proto", proto)
        fd = self._handle.open_socket(family, type, proto)
        return _wrap_fd(fd, family, type, proto)

    def create_connection(
        self,
        address: Address,
        timeout: Optional[float] = None,
        source_address: Optional[Tuple[Any, Any]] = None,
    ) -> _socket.socket:
        """Connects over TCP through this VRF, like ``socket.create_connection``; returns the socket.

        ``address`` is ``(host, port)``: an IP literal is used as it is, a host name is resolved by the
        VRF's name servers (a failure is ``socket.gaierror``), and every address is tried happy-eyeballs
        style (RFC 8305: IPv6 and IPv4 interleaved, a new attempt every 250 ms or as soon as one fails;
        the first to connect wins). The GIL is released meanwhile; Ctrl-C interrupts the connecting
        (``KeyboardInterrupt``), except that one address with a ``timeout`` is a plain blocking connect,
        which Ctrl-C ends only when the connect does (at most ``timeout``).

        ``timeout`` bounds the connecting (all attempts together; not the lookup) and is then set on the
        socket (``settimeout``). None, or ``socket._GLOBAL_DEFAULT_TIMEOUT``, means
        ``socket.getdefaulttimeout()`` (None unless set: block). A timeout is ``socket.timeout``
        (``TimeoutError``); a refused connection ``ConnectionRefusedError``, and so on.

        ``source_address`` is ``(host, port)`` to connect from: only addresses of the host's family are
        tried. With port 0 the kernel picks the port. A non-zero port is honoured too, but then the
        addresses are tried one after the other (as the standard library does), not raced.
        """
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError("address must be a (host, port) tuple")
        host = _host(address[0])
        port = _addrinfo.port_number(address[1], "tcp")
        seconds = _timeout(timeout)
        source_ip: Optional[str] = None
        source_port = 0
        if source_address is not None:
            if not isinstance(source_address, tuple) or len(source_address) < 2:
                raise TypeError("source_address must be a (host, port) tuple")
            source_host = _host(source_address[0], "source host")
            source_port = _addrinfo.port_number(source_address[1], "tcp")
            if source_host:
                source_ip = self._source_ip(source_host)
        if source_port:
            return self._connect_one_by_one(host, port, seconds, source_ip, source_port)
        fd, family = self._handle.connect(host, port, seconds, source_ip)
        sock = _wrap_fd(fd, family, _socket.SOCK_STREAM, _socket.IPPROTO_TCP)
        sock.settimeout(seconds)
        return sock

    def _source_ip(self, host: str) -> str:
        """A source host as an IP address (a name is resolved in the VRF)."""
        if _addrinfo.is_ip_literal(host):
            return host.partition("%")[0]
        return self._handle.resolve(host)[0]

    def _connect_one_by_one(
        self, host: str, port: int, timeout: Optional[float], source_ip: Optional[str], source_port: int
    ) -> _socket.socket:
        """``create_connection`` from a fixed source port: each address in turn, as the stdlib does."""
        error: Optional[OSError] = None
        for family, type_, proto, _, sockaddr in self.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
            if source_ip is not None and (":" in source_ip) != (family == _socket.AF_INET6):
                continue
            sock = self.socket(family, type_, proto)
            try:
                sock.settimeout(timeout)
                wildcard = "::" if family == _socket.AF_INET6 else "0.0.0.0"
                sock.bind((source_ip or wildcard, source_port))
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                sock.close()
                error = e
        if error is not None:
            raise error
        raise OSError(
            errno.EADDRNOTAVAIL,
            f"connecting to {host!r} port {port} in VRF {self.name}: "
            f"no address of the family of source {source_ip}",
        )

    def create_server(
        self,
        address: Address,
        *,
        family: int = _socket.AF_INET,
        backlog: Optional[int] = None,
        reuse_port: bool = False,
        dualstack_ipv6: bool = False,
    ) -> _socket.socket:
        """A TCP listening socket in this VRF, like ``socket.create_server``: ``SO_REUSEADDR`` on,
        ``SO_REUSEPORT`` if asked, ``IPV6_V6ONLY`` off with ``dualstack_ipv6=True`` (else on, for
        AF_INET6), bound to ``address`` and listening.

        It accepts only connections that arrive through this VRF; several VRFs can listen on the same
        address and port. A host name in ``address`` is resolved in the VRF; ``""`` is every address.
        """
        family = _int("family", family)
        if reuse_port and not hasattr(_socket, "SO_REUSEPORT"):
            raise ValueError("SO_REUSEPORT not supported on this platform")
        if dualstack_ipv6:
            if not _socket.has_dualstack_ipv6():
                raise ValueError("dualstack_ipv6 not supported on this platform")
            if family != _socket.AF_INET6:
                raise ValueError("dualstack_ipv6 requires AF_INET6 family")
        address = self._numeric(address, family, _socket.SOCK_STREAM)
        sock = self.socket(family, _socket.SOCK_STREAM)
        try:
            try:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            except OSError:
                pass
            if reuse_port:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
            if _socket.has_ipv6 and family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0 if dualstack_ipv6 else 1)
            try:
                sock.bind(address)
            except OSError as err:
                message = f"{err.strerror} (while attempting to bind on address {address!r} in VRF {self.name})"
                raise OSError(err.errno, message) from None
            if backlog is None:
                sock.listen()
            else:
                sock.listen(backlog)
            return sock
        except BaseException:
            sock.close()
            raise

    def _numeric(self, address: Address, family: int, type_: int) -> Address:
        """``address`` with a host name replaced by its first address in the VRF, so that the standard
        library (``bind``, ``connect``) never looks a name up itself, in the default VRF."""
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError("address must be a (host, port) tuple")
        host = address[0]
        if isinstance(host, bytes):
            host = host.decode("ascii")
        if host in ("", "<broadcast>") or (isinstance(host, str) and _addrinfo.is_ip_literal(host)):
            return address
        infos = self.getaddrinfo(host, address[1], family, type_, 0, _socket.AI_PASSIVE)
        return infos[0][4]

    # -- names -------------------------------------------------------------------------------------

    def getaddrinfo(
        self,
        host: HostArg,
        port: PortArg,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> List[AddrInfo]:
        """``socket.getaddrinfo`` answered by this VRF's name servers (the GIL is released meanwhile).

        Returns ``[(family, type, proto, canonname, sockaddr), ...]`` as the standard library does: an
        IPv6 sockaddr is ``(host, port, flowinfo, scope_id)``; ``type=0`` gives one entry each for
        SOCK_STREAM, SOCK_DGRAM and SOCK_RAW. ``port`` is an int, a string of digits, a service name or
        None. IP literals and ``host=None`` (``AI_PASSIVE``: the wildcard addresses, else loopback) need
        no lookup; ``AI_NUMERICHOST`` with a name is ``EAI_NONAME``.

        Names: ``/etc/hosts`` first, then A and AAAA queries, IPv6 answers first. A failure is
        ``socket.gaierror``: ``EAI_NONAME`` when the name does not exist or has no address,
        ``EAI_AGAIN`` when no name server answered (or none is usable from the VRF: a loopback
        server such as ``127.0.0.53`` is unreachable from a VRF), with a message naming the host, the
        VRF and the servers. ``AI_CANONNAME`` gives the name as asked (CNAMEs are not reported);
        ``AI_ADDRCONFIG`` is ignored.
        """
        return _addrinfo.getaddrinfo(self._handle.resolve, host, port, family, type, proto, flags)

    # -- asyncio -----------------------------------------------------------------------------------

    async def open_connection(
        self,
        host: str,
        port: PortArg,
        *,
        timeout: Optional[float] = None,
        local_addr: Optional[Tuple[Any, Any]] = None,
        **kwds: Any,
    ) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """``asyncio.open_connection`` through this VRF: returns ``(reader, writer)``.

        The name is resolved and the addresses raced (as ``create_connection`` does, with ``timeout``
        and ``local_addr`` as its ``timeout`` and ``source_address``) in the loop's default executor, so
        the event loop never blocks. The connected socket is handed to ``asyncio.open_connection(sock=…,
        **kwds)``: ``ssl=``, ``server_hostname=`` (default: ``host`` when ``ssl`` is set), ``limit=``,
        ``ssl_handshake_timeout=`` … work as there. Cancelling closes the socket, even one still being
        connected.
        """
        loop = asyncio.get_running_loop()
        handoff = _Handoff()

        def connect() -> _socket.socket:
            return handoff.deliver(self.create_connection((host, port), timeout, local_addr))

        try:
            sock = await loop.run_in_executor(None, connect)
        except asyncio.CancelledError:
            handoff.cancel()
            raise
        if kwds.get("ssl") and kwds.get("server_hostname") is None:
            kwds["server_hostname"] = host
        try:
            sock.setblocking(False)
            return await asyncio.open_connection(sock=sock, **kwds)
        except BaseException:
            sock.close()
            raise

    async def start_server(
        self,
        client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Optional[Awaitable[None]]],
        host: Optional[str] = None,
        port: PortArg = 0,
        *,
        family: int = _socket.AF_UNSPEC,
        backlog: int = 100,
        reuse_port: bool = False,
        dualstack_ipv6: bool = False,
        **kwds: Any,
    ) -> asyncio.AbstractServer:
        """``asyncio.start_server`` in this VRF: one listening socket made by ``create_server`` (on
        ``host``, by default every address; a name is resolved in the VRF, the first address taken), then
        ``asyncio.start_server(client_connected_cb, sock=…, backlog=backlog, **kwds)`` (``ssl=``,
        ``limit=``, ``start_serving=`` … work as there).

        ``family`` AF_UNSPEC means AF_INET6 for an IPv6 host or with ``dualstack_ipv6``, else AF_INET.
        """
        loop = asyncio.get_running_loop()
        number = _addrinfo.port_number(port, "tcp")
        if family == _socket.AF_UNSPEC:
            ipv6 = dualstack_ipv6 or (isinstance(host, str) and ":" in host)
            family = _socket.AF_INET6 if ipv6 else _socket.AF_INET
        address: Address = (host or "", number)
        if host and not _addrinfo.is_ip_literal(host):
            infos = await loop.run_in_executor(
                None, self.getaddrinfo, host, number, family, _socket.SOCK_STREAM, 0, _socket.AI_PASSIVE
            )
            address = infos[0][4]
        sock = self.create_server(
            address, family=family, backlog=backlog, reuse_port=reuse_port, dualstack_ipv6=dualstack_ipv6
        )
        try:
            sock.setblocking(False)
            return await asyncio.start_server(client_connected_cb, sock=sock, backlog=backlog, **kwds)
        except BaseException:
            sock.close()
            raise


def list_vrfs() -> List[Vrf]:
    """Every VRF of the network namespace, in ifindex order (``[]`` when there is none, or the kernel
    has no VRF support)."""
    return [Vrf._wrap(h) for h in _native.list_vrfs()]


def vrf_of_device(device: Union[str, int]) -> Optional[Vrf]:
    """The VRF a device is in, by name (``"eth1"``) or interface index: the device itself when it is a
    VRF, its master when that is a VRF, None when it is in the default VRF. ``VrfNotFound`` when there
    is no such device."""
    if isinstance(device, str):
        handle = _native.vrf_of_device(device)
    else:
        handle = _native.vrf_of_device(_index(device))
    return None if handle is None else Vrf._wrap(handle)


def bound_vrf(sock: Union[_socket.socket, int, Any]) -> Optional[Vrf]:
    """The VRF a socket is bound to (or the VRF of the device it is bound to), or None when it is not
    bound to one.

    ``sock`` is a socket, anything with ``fileno()`` (an accepted connection, an asyncio transport's
    ``get_extra_info("socket")``) or a descriptor. On an accepted connection this tells which VRF it
    arrived in: with ``net.ipv4.tcp_l3mdev_accept=1`` an unbound listener accepts from every VRF, and the
    kernel binds each accepted socket to the VRF it came through. A closed socket is
    ``OSError(EBADF)``; a descriptor that is not a socket ``OSError(ENOTSOCK)``.
    """
    if isinstance(sock, bool):
        raise TypeError("bound_vrf takes a socket, an object with fileno() or a descriptor, not bool")
    if isinstance(sock, int):
        fd = sock
    elif hasattr(sock, "fileno"):
        fd = sock.fileno()
        if not isinstance(fd, int):
            raise TypeError(f"{sock.__class__.__name__}.fileno() returned {fd.__class__.__name__}, not int")
    else:
        raise TypeError(
            f"bound_vrf takes a socket, an object with fileno() or a descriptor, not {sock.__class__.__name__}"
        )
    if fd < 0:
        raise OSError(errno.EBADF, f"bound_vrf: the socket is closed (fileno() is {fd})")
    handle = _native.bound_vrf(fd)
    return None if handle is None else Vrf._wrap(handle)
