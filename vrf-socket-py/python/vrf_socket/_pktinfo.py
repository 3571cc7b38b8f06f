"""``PktInfoSocket``: one UDP socket serving every VRF, and the ``Datagram`` it receives."""

from __future__ import annotations

import socket as _socket
from types import TracebackType
from typing import Any, Optional, Tuple, Type, Union

from . import _addrinfo, _native
from ._vrf import Vrf

__all__ = ["PktInfoSocket", "Datagram"]

SockAddr = Union[Tuple[str, int], Tuple[str, int, int, int]]
_UNSET: Any = object()


class Datagram:
    """One datagram received by ``PktInfoSocket.recv``, with where it came from and went to.

    - ``data``: the payload (bytes); ``truncated``: it was larger than the buffer and was cut.
    - ``source``: the sender, ``(host, port)`` or, on an AF_INET6 socket, ``(host, port, flowinfo,
      scope_id)`` (IPv4 senders as ``::ffff:a.b.c.d``).
    - ``destination``: the local address the datagram was sent to (``IP_PKTINFO``'s), in the shape of
      ``source``: ``(host, port)`` with the socket's port, or on an AF_INET6 socket ``(host, port, 0,
      scope_id)``; None if the kernel did not say.
    - ``ifindex``: the ingress device's interface index (for traffic in a VRF, the enslaved port, not
      the VRF), or None; ``device``: its name, looked up on first access (None if it is gone).
    - ``vrf``: the ``Vrf`` the datagram arrived in, None for the default VRF; looked up on first access,
      once per device for the socket (``PktInfoSocket.clear_cache()`` forgets).

    ``PktInfoSocket.reply(datagram, data)`` answers it through the same VRF from the same address.
    """

    __slots__ = ("data", "source", "destination", "ifindex", "truncated", "_meta", "_core", "_vrf", "_device")

    data: bytes
    source: SockAddr
    destination: Optional[SockAddr]
    ifindex: Optional[int]
    truncated: bool

    def __init__(
        self,
        data: bytes,
        source: SockAddr,
        destination: Optional[SockAddr],
        ifindex: Optional[int],
        truncated: bool,
        meta: _native.Meta,
        core: _native.PktInfoCore,
    ) -> None:
        self.data = data
        self.source = source
        self.destination = destination
        self.ifindex = ifindex
        self.truncated = truncated
        self._meta = meta
        self._core = core
        self._vrf: Any = _UNSET
        self._device: Any = _UNSET

    @property
    def vrf(self) -> Optional[Vrf]:
        """The VRF of the ingress device (None: the default VRF). May raise ``OSError`` if the kernel
        cannot be asked."""
        if self._vrf is _UNSET:
            handle = self._core.vrf_of(self.ifindex)
            self._vrf = None if handle is None else Vrf._wrap(handle)
        return self._vrf  # type: ignore[no-any-return]

    @property
    def device(self) -> Optional[str]:
        """The name of the ingress device, None if unknown or gone."""
        if self._device is _UNSET:
            name: Optional[str] = None
            if self.ifindex:
                try:
                    name = _socket.if_indextoname(self.ifindex)
                except OSError:
                    pass
            self._device = name
        return self._device  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"Datagram(data={self.data!r}, source={self.source!r}, destination={self.destination!r}, "
            f"ifindex={self.ifindex!r}, truncated={self.truncated!r})"
        )


def _payload(data: Union[bytes, bytearray, memoryview]) -> bytes:
    """Any bytes-like object as bytes (``bytes(5)`` would be five zero bytes: not here)."""
    if isinstance(data, bytes):
        return data
    return memoryview(data).tobytes()


def _ip(value: Union[str, Tuple[Any, ...], None], what: str) -> Optional[str]:
    """An IP address given as a string or as the first item of an address tuple."""
    if value is None:
        return None
    if isinstance(value, tuple):
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("ascii")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be an IP address (str), not {value.__class__.__name__}")
    if value and not _addrinfo.is_ip_literal(value):
        raise _socket.gaierror(
            _socket.EAI_NONAME, f"{what} {value!r} is not an IP address (PktInfoSocket looks up no names)"
        )
    return value.partition("%")[0]


class PktInfoSocket:
    """One UDP socket serving every VRF: it learns each datagram's VRF and answers through it.

    ``PktInfoSocket(("0.0.0.0", 5353))`` binds a UDP socket bound to no device and turns ``IP_PKTINFO``
    (``IPV6_RECVPKTINFO`` for AF_INET6; the family follows from an IPv6 address unless given) on: the
    kernel then reports each datagram's destination address and ingress device. With
    ``net.ipv4.udp_l3mdev_accept=1`` such a socket receives from every VRF. ``reply()`` sends from the
    address the datagram was sent to and out of the device it came in on, so the answer leaves through
    the same VRF even when several VRFs use the same addresses.

    Waits are bounded as a socket's: the timeout starts as ``socket.getdefaulttimeout()``;
    ``settimeout(seconds)`` makes ``recv`` and the sends raise ``socket.timeout`` (``TimeoutError``)
    after that long, 0 makes them non-blocking (``BlockingIOError``), None blocks. The GIL is released
    while waiting; ``close()`` from another thread wakes a blocked ``recv`` (``OSError(EBADF)``). Works as
    a context manager, and with ``selectors`` through ``fileno()``.
    """

    __slots__ = ("_core", "_family", "_timeout", "__weakref__")

    def __init__(self, address: Tuple[Any, Any] = ("0.0.0.0", 0), family: Optional[int] = None) -> None:
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError("address must be a (host, port) tuple")
        host = _ip(address[0], "PktInfoSocket address") or ""
        port = _addrinfo.port_number(address[1], "udp")
        if family is None:
            family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        if isinstance(family, bool) or not isinstance(family, int):
            raise TypeError(f"family must be an int, not {family.__class__.__name__}")
        self._core = _native.PktInfoCore(family, host, port)
        self._family = _socket.AddressFamily(family)
        self._timeout: Optional[float] = None
        self.settimeout(_socket.getdefaulttimeout())

    @property
    def family(self) -> _socket.AddressFamily:
        """AF_INET or AF_INET6."""
        return self._family

    @property
    def timeout(self) -> Optional[float]:
        """The timeout in seconds (None: blocking; 0.0: non-blocking)."""
        return self._timeout

    def gettimeout(self) -> Optional[float]:
        """The timeout in seconds, as ``socket.gettimeout``."""
        return self._timeout

    def settimeout(self, timeout: Optional[float]) -> None:
        """As ``socket.settimeout``: None blocks, 0 is non-blocking, else waits give up after that many
        seconds (``socket.timeout``)."""
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError(f"timeout must be a number or None, not {timeout.__class__.__name__}")
            timeout = float(timeout)
            if not timeout >= 0:
                raise ValueError("Timeout value out of range")
        self._core.settimeout(timeout)
        self._timeout = timeout

    def setblocking(self, flag: bool) -> None:
        """``setblocking(True)`` is ``settimeout(None)``, ``setblocking(False)`` ``settimeout(0)``."""
        self.settimeout(None if flag else 0.0)

    def fileno(self) -> int:
        """The socket's descriptor (for ``selectors``), -1 once closed."""
        return self._core.fileno()

    def getsockname(self) -> SockAddr:
        """The local address, as ``socket.getsockname``."""
        return self._core.getsockname()

    def recv(self, bufsize: int = 65535) -> Datagram:
        """Receives one datagram (at most ``bufsize`` bytes of it, and never more than 65535), waiting as
        the timeout says."""
        if isinstance(bufsize, bool) or not hasattr(bufsize, "__index__"):
            raise TypeError(f"bufsize must be an int, not {bufsize.__class__.__name__}")
        bufsize = bufsize.__index__()
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        data, source, destination, ifindex, truncated, meta = self._core.recv(bufsize)
        return Datagram(data, source, destination, ifindex, truncated, meta, self._core)

    def reply(self, received: Datagram, data: Union[bytes, bytearray, memoryview]) -> int:
        """Sends ``data`` to the sender of ``received``, from the address it was sent to (unless that was
        a multicast address) and out of the device it came in on: through the same VRF. Returns the number
        of bytes sent."""
        if not isinstance(received, Datagram):
            raise TypeError(f"reply() takes a Datagram from recv(), not {received.__class__.__name__}")
        return self._core.reply(received._meta, _payload(data))

    def send(
        self,
        data: Union[bytes, bytearray, memoryview],
        address: Tuple[Any, ...],
        *,
        source: Union[str, Tuple[Any, ...], None] = None,
        ifindex: Union[int, Vrf, None] = None,
    ) -> int:
        """Sends ``data`` to ``address`` (``(ip, port)`` or ``(ip, port, flowinfo, scope_id)``; no names).

        ``source`` (an IP address, or an address tuple whose port is ignored) is the address to send from;
        ``ifindex`` (an interface index or a ``Vrf``) the device to send out of: a VRF, or a device in
        one, routes the datagram through that VRF's table. Returns the number of bytes sent.
        """
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError("address must be a (host, port) tuple")
        host = _ip(address[0], "destination")
        if not host:
            raise _socket.gaierror(_socket.EAI_NONAME, "send() needs a destination IP address")
        port = _addrinfo.port_number(address[1], "udp")
        flowinfo = int(address[2]) if len(address) > 2 else 0
        scope_id = int(address[3]) if len(address) > 3 else 0
        if isinstance(ifindex, Vrf):
            ifindex = ifindex.index
        elif ifindex is not None and (isinstance(ifindex, bool) or not isinstance(ifindex, int)):
            raise TypeError(f"ifindex must be an int or a Vrf, not {ifindex.__class__.__name__}")
        src = _ip(source, "source")
        return self._core.send(_payload(data), host, port, flowinfo, scope_id, src, ifindex)

    def clear_cache(self) -> None:
        """Forgets which VRF each device is in (call it when devices move between VRFs)."""
        self._core.clear_cache()

    def close(self) -> None:
        """Closes the socket (wakes a ``recv`` blocked in another thread). Closing twice is allowed."""
        self._core.close()

    def __enter__(self) -> PktInfoSocket:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        fd = self.fileno()
        if fd < 0:
            return f"<PktInfoSocket [closed] family={self._family.name}>"
        return f"<PktInfoSocket fd={fd} family={self._family.name} laddr={self.getsockname()!r} timeout={self._timeout!r}>"
