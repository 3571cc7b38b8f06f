"""``getaddrinfo`` in the shape of the standard library's, around a resolver that gives IP addresses.

The resolver (``resolve(host) -> list of IP address strings``) is a VRF's (``Vrf.getaddrinfo``); this
module only does what glibc does around its lookups: services and ports, socket types and protocols,
families, IP literals, ``host=None``, and the flags. Nothing here sends a query.
"""

from __future__ import annotations

import operator
import socket
from typing import Callable, List, Optional, Sequence, Tuple, Union

__all__ = ["AddrInfo", "getaddrinfo", "port_number", "is_ip_literal"]

SockAddr = Union[Tuple[str, int], Tuple[str, int, int, int]]
#: One answer of getaddrinfo: ``(family, type, proto, canonname, sockaddr)``.
AddrInfo = Tuple[Union[socket.AddressFamily, int], Union[socket.SocketKind, int], int, str, SockAddr]
HostArg = Union[str, bytes, None]
PortArg = Union[int, str, bytes, None]

_TCP = int(socket.IPPROTO_TCP)
_UDP = int(socket.IPPROTO_UDP)
_SCTP = getattr(socket, "IPPROTO_SCTP", 132)
_UDPLITE = getattr(socket, "IPPROTO_UDPLITE", 136)
_STREAM = int(socket.SOCK_STREAM)
_DGRAM = int(socket.SOCK_DGRAM)
_RAW = int(socket.SOCK_RAW)
_SEQPACKET = int(socket.SOCK_SEQPACKET)
_AF_INET = int(socket.AF_INET)
_AF_INET6 = int(socket.AF_INET6)
# Flags a socket type may carry (SOCK_NONBLOCK, SOCK_CLOEXEC); they say nothing about addresses.
_TYPE_FLAGS = getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0)


def _gaierror(code: int, message: str) -> socket.gaierror:
    return socket.gaierror(code, message)


def _no_name(message: str = "Name or service not known") -> socket.gaierror:
    return _gaierror(socket.EAI_NONAME, message)


def _socktypes(type_: int, proto: int, has_service: bool) -> List[Tuple[int, int]]:
    """The (type, protocol) pairs to answer with, as glibc's table has them."""
    type_ &= ~_TYPE_FLAGS
    unsupported = _gaierror(socket.EAI_SOCKTYPE, "ai_socktype not supported")
    if type_ == 0:
        if proto == 0:
            return [(_STREAM, _TCP), (_DGRAM, _UDP), (_RAW, 0)]
        known = {
            _TCP: [(_STREAM, _TCP)],
            _UDP: [(_DGRAM, _UDP)],
            _SCTP: [(_STREAM, _SCTP), (_SEQPACKET, _SCTP)],
            _UDPLITE: [(_DGRAM, _UDPLITE)],
        }
        if proto in known:
            return known[proto]
        pairs: List[Tuple[int, int]] = [(_RAW, proto)]
    elif type_ == _STREAM:
        if proto not in (0, _TCP, _SCTP):
            raise unsupported
        return [(_STREAM, proto or _TCP)]
    elif type_ == _DGRAM:
        if proto not in (0, _UDP, _UDPLITE):
            raise unsupported
        return [(_DGRAM, proto or _UDP)]
    elif type_ == _SEQPACKET:
        if proto not in (0, _SCTP):
            raise unsupported
        return [(_SEQPACKET, _SCTP)]
    elif type_ == _RAW:
        pairs = [(_RAW, proto)]
    else:
        raise unsupported
    if has_service:
        # A raw socket has no ports.
        raise _gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
    return pairs


def port_number(port: PortArg, protocol: str = "tcp", flags: int = 0) -> int:
    """``port`` as a number: an int (0 to 65535), a string of digits, a service name of
    ``/etc/services`` for ``protocol`` (``"tcp"`` or ``"udp"``), or None (0).

    Raises ``socket.gaierror`` (``EAI_SERVICE``) for an unknown service or a port out of range, and
    ``TypeError`` for anything else.
    """
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if isinstance(port, str):
        text = port.strip()
        if text.isdigit() and text.isascii():
            number = int(text)
        elif flags & socket.AI_NUMERICSERV:
            raise _no_name()
        else:
            try:
                return socket.getservbyname(text, protocol)
            except OSError:
                raise _gaierror(
                    socket.EAI_SERVICE, f"Servname not supported for ai_socktype ({text!r}/{protocol})"
                ) from None
    elif isinstance(port, bool) or not hasattr(port, "__index__"):
        raise TypeError(f"port must be an int, a str or None, not {type(port).__name__}")
    else:
        number = operator.index(port)
    if not 0 <= number <= 65535:
        raise _gaierror(socket.EAI_SERVICE, f"port {number} is out of range (0 to 65535)")
    return number


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 (dotted quad) or IPv6 address, with or without a ``%scope``."""
    return _parse_literal(host) is not None


def _parse_literal(host: str) -> Optional[Tuple[int, str, int]]:
    """``(family, address text as inet_ntop writes it, scope id)`` of an IP literal, else None. An
    unknown scope (``fe80::1%nosuch``) is ``EAI_NONAME``."""
    try:
        return _AF_INET, socket.inet_ntop(_AF_INET, socket.inet_pton(_AF_INET, host)), 0
    except (OSError, ValueError):
        pass
    address, _, scope = host.partition("%")
    try:
        packed = socket.inet_pton(_AF_INET6, address)
    except (OSError, ValueError):
        return None
    scope_id = 0
    if scope:
        if scope.isdigit():
            scope_id = int(scope)
        else:
            try:
                scope_id = socket.if_nametoindex(scope)
            except OSError:
                raise _no_name(f"{host!r}: no device {scope!r} for the scope") from None
    return _AF_INET6, socket.inet_ntop(_AF_INET6, packed), scope_id


def _mapped(ipv4: str) -> str:
    return "::ffff:" + ipv4


def _enum(value: int, enum: Callable[[int], int]) -> int:
    try:
        return enum(value)
    except ValueError:
        return value


def getaddrinfo(
    resolve: Callable[[str], Sequence[str]],
    host: HostArg,
    port: PortArg,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> List[AddrInfo]:
    """``socket.getaddrinfo`` with names answered by ``resolve``.

    - IP literals (``10.0.0.1``, ``fe80::1%eth0``) and ``host=None`` (``AI_PASSIVE``: the wildcard
      addresses, else loopback) need no resolver; ``AI_NUMERICHOST`` with a name is ``EAI_NONAME``.
    - ``type=0`` answers once per ``SOCK_STREAM``, ``SOCK_DGRAM`` and ``SOCK_RAW``, as glibc does.
    - An IPv6 sockaddr is ``(host, port, flowinfo, scope_id)``.
    - ``AI_V4MAPPED`` (with ``AI_ALL``) maps IPv4 answers for ``AF_INET6``; ``AI_CANONNAME`` puts the name
      as given on the first answer (CNAME chains are not followed); ``AI_ADDRCONFIG`` is ignored.
    """
    for name, value in (("family", family), ("type", type), ("proto", proto), ("flags", flags)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"{name} must be an int, not {value.__class__.__name__}")
    family, type, proto, flags = (operator.index(v) for v in (family, type, proto, flags))
    if isinstance(host, bytes):
        host = host.decode("ascii")
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a str, bytes or None, not {host.__class__.__name__}")
    if port is not None and not isinstance(port, (str, bytes, int)):
        raise TypeError(f"port must be an int, a str or None, not {port.__class__.__name__}")
    # The errors in glibc's order.
    if host is None and port is None:
        raise _no_name()
    if host is None and flags & socket.AI_CANONNAME:
        raise _gaierror(socket.EAI_BADFLAGS, "Bad value for ai_flags (AI_CANONNAME needs a host)")
    if family not in (socket.AF_UNSPEC, _AF_INET, _AF_INET6):
        raise _gaierror(socket.EAI_FAMILY, "ai_family not supported")
    if isinstance(port, (str, bytes)) and flags & socket.AI_NUMERICSERV:
        text = port.decode("ascii", "replace") if isinstance(port, bytes) else port
        if not (text.strip().isdigit() and text.strip().isascii()):
            raise _no_name()
    pairs = _socktypes(type, proto, port is not None)
    ports = _ports(port, pairs, flags)

    # (family, address, scope id) of each answer.
    addresses: List[Tuple[int, str, int]] = []
    if host is None:
        if flags & socket.AI_PASSIVE:
            addresses = [(_AF_INET, "0.0.0.0", 0), (_AF_INET6, "::", 0)]
        else:
            addresses = [(_AF_INET6, "::1", 0), (_AF_INET, "127.0.0.1", 0)]
        addresses = [a for a in addresses if family in (socket.AF_UNSPEC, a[0])]
    elif not host:
        raise _no_name()
    else:
        literal = _parse_literal(host)
        if literal is not None:
            fam, text, scope = literal
            if family == _AF_INET and text.startswith("::ffff:") and "." in text:
                # An IPv4-mapped address asked for as IPv4: the IPv4 address, as glibc answers.
                fam, text, scope = literal = (_AF_INET, text[len("::ffff:") :], 0)
            if family == _AF_INET6 and fam == _AF_INET:
                if not flags & socket.AI_V4MAPPED:
                    raise _gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
                literal = (_AF_INET6, _mapped(text), 0)
            elif family == _AF_INET and fam == _AF_INET6:
                raise _gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
            addresses = [literal]
        elif flags & socket.AI_NUMERICHOST:
            raise _no_name()
        else:
            addresses = _select(host, list(resolve(host)), family, flags)

    canonname = host if (flags & socket.AI_CANONNAME and host is not None) else ""
    answers: List[AddrInfo] = []
    for fam, text, scope in addresses:
        for (stype, sproto), number in zip(pairs, ports):
            if number is None:
                continue
            sockaddr: SockAddr
            if fam == _AF_INET6:
                sockaddr = (text, number, 0, scope)
            else:
                sockaddr = (text, number)
            answers.append(
                (
                    _enum(fam, socket.AddressFamily),
                    _enum(stype, socket.SocketKind),
                    sproto,
                    canonname if not answers else "",
                    sockaddr,
                )
            )
    return answers


def _ports(port: PortArg, pairs: List[Tuple[int, int]], flags: int) -> List[Optional[int]]:
    """The port of each (type, protocol) pair; None where a service name has no port for the protocol."""
    if port is None or not isinstance(port, (str, bytes)):
        return [port_number(port)] * len(pairs)
    text = port.decode("ascii", "replace") if isinstance(port, bytes) else port
    if text.strip().isdigit() or flags & socket.AI_NUMERICSERV:
        return [port_number(text, flags=flags)] * len(pairs)
    ports: List[Optional[int]] = []
    for stype, _ in pairs:
        protocol = {_STREAM: "tcp", _DGRAM: "udp"}.get(stype)
        try:
            ports.append(port_number(text, protocol) if protocol else None)
        except socket.gaierror:
            ports.append(None)
    if all(p is None for p in ports):
        raise _gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
    return ports


def _select(host: str, ips: List[str], family: int, flags: int) -> List[Tuple[int, str, int]]:
    """The resolver's answers of ``family``; IPv4 ones mapped for ``AF_INET6`` with ``AI_V4MAPPED``."""
    v6: List[Tuple[int, str, int]] = [(_AF_INET6, ip, 0) for ip in ips if ":" in ip]
    v4: List[Tuple[int, str, int]] = [(_AF_INET, ip, 0) for ip in ips if ":" not in ip]
    chosen: List[Tuple[int, str, int]]
    if family == _AF_INET:
        chosen = v4
    elif family == _AF_INET6:
        chosen = v6
        if flags & socket.AI_V4MAPPED and (not v6 or flags & socket.AI_ALL):
            chosen = v6 + [(_AF_INET6, _mapped(ip), 0) for _, ip, _ in v4]
    else:
        return [(_AF_INET6 if ":" in ip else _AF_INET, ip, 0) for ip in ips]
    if not chosen:
        wanted = "IPv4" if family == _AF_INET else "IPv6"
        raise _no_name(f"{host!r} has no {wanted} address (it has {', '.join(ips)})")
    return chosen
