"""requests through a VRF: ``VrfAdapter``, a transport adapter to mount on a ``requests.Session``.

::

    import requests
    import vrf_socket
    from vrf_socket.requests import VrfAdapter

    session = requests.Session()
    adapter = VrfAdapter(vrf_socket.Vrf("blue"))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.get("https://app.example/")      # app.example resolved and reached through VRF blue

Every connection of the adapter's pools (HTTP and HTTPS, keep-alive and retries alike, and the
connection to an HTTP(S) proxy) is made by ``Vrf.create_connection``: the name is resolved by the VRF's
name servers and the addresses are raced happy-eyeballs style. TLS, certificate checks, timeouts
(``timeout=(connect, read)``), retries and ``source_address`` work as with the stock adapter; urllib3's
``socket_options`` (TCP_NODELAY …) are set right after the connection is made. SOCKS proxies are refused:
their connections would leave through the default VRF.

Works with urllib3 1.26 (Debian 12's python3-requests 2.28) and urllib3 2.x. Importing this module
imports requests; importing ``vrf_socket`` does not.
"""

from __future__ import annotations

import socket
import sys
from typing import Any, Dict, Optional

import requests.adapters
import requests.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import PoolManager

from ._vrf import Vrf

try:  # urllib3 2
    from urllib3.exceptions import NameResolutionError
except ImportError:  # urllib3 1.26
    NameResolutionError = None  # type: ignore[assignment,misc]

__all__ = ["VrfAdapter", "VrfHTTPConnection", "VrfHTTPSConnection"]


def _connect_timeout(timeout: Any) -> Optional[float]:
    """urllib3's connect timeout: a number, or its "default" marker (``socket._GLOBAL_DEFAULT_TIMEOUT``
    in 1.26, an enum member in 2.x), which means ``socket.getdefaulttimeout()``, as None does."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    return None


def _new_conn(conn: Any) -> socket.socket:
    """``HTTPConnection._new_conn`` through ``conn.vrf``, raising what urllib3's own raises."""
    host = getattr(conn, "_dns_host", conn.host)
    try:
        sock: socket.socket = conn.vrf.create_connection(
            (host, conn.port), _connect_timeout(conn.timeout), conn.source_address
        )
    except socket.gaierror as e:
        if NameResolutionError is not None:
            raise NameResolutionError(conn.host, conn, e) from e
        raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
    except socket.timeout as e:
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from e
    except OSError as e:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
    try:
        for option in conn.socket_options or ():
            sock.setsockopt(*option)
    except BaseException:
        sock.close()
        raise
    if hasattr(sys, "audit"):
        sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


class VrfHTTPConnection(HTTPConnection):
    """A urllib3 HTTP connection made through ``vrf`` (a class attribute, set by ``VrfAdapter`` on a
    subclass of its own)."""

    vrf: Vrf

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)


class VrfHTTPSConnection(HTTPSConnection):
    """A urllib3 HTTPS connection made through ``vrf``; TLS as urllib3 does it."""

    vrf: Vrf

    def _new_conn(self) -> socket.socket:
        return _new_conn(self)


def _pool_classes(vrf: Vrf) -> Dict[str, type]:
    """Pool classes whose connections are made through ``vrf``, for ``pool_classes_by_scheme``."""
    http = type("VrfHTTPConnection", (VrfHTTPConnection,), {"vrf": vrf, "__module__": __name__})
    https = type("VrfHTTPSConnection", (VrfHTTPSConnection,), {"vrf": vrf, "__module__": __name__})
    return {
        "http": type("VrfHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http, "__module__": __name__}),
        "https": type(
            "VrfHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https, "__module__": __name__}
        ),
    }


class VrfAdapter(requests.adapters.HTTPAdapter):
    """A ``requests`` transport adapter whose every connection goes through ``vrf``.

    ``VrfAdapter(vrf, pool_connections=10, pool_maxsize=10, max_retries=0, pool_block=False)``: the
    keyword arguments are ``HTTPAdapter``'s. Mount it for ``http://`` and ``https://`` (or for one host,
    ``session.mount("https://app.example/", adapter)``).
    """

    __attrs__ = requests.adapters.HTTPAdapter.__attrs__ + ["vrf"]

    def __init__(self, vrf: Vrf, **kwargs: Any) -> None:
        if not isinstance(vrf, Vrf):
            raise TypeError(f"VrfAdapter takes a vrf_socket.Vrf, not {vrf.__class__.__name__}")
        self.vrf = vrf
        super().__init__(**kwargs)

    def _pools(self) -> Dict[str, type]:
        pools: Optional[Dict[str, type]] = self.__dict__.get("_vrf_pools")
        if pools is None or pools["http"].ConnectionCls.vrf is not self.vrf:  # type: ignore[attr-defined]
            pools = _pool_classes(self.vrf)
            self.__dict__["_vrf_pools"] = pools
        return pools

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools()

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        if proxy.lower().startswith("socks"):
            raise requests.exceptions.InvalidSchema(
                f"VrfAdapter: SOCKS proxy {proxy} is not supported (its connections would leave through "
                f"the default VRF, not VRF {self.vrf.name})"
            )
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pools()
        return manager

    def __repr__(self) -> str:
        return f"<VrfAdapter vrf={self.vrf!r}>"
