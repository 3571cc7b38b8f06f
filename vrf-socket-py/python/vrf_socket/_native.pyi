"""Type stubs of the extension module ``vrf_socket._native`` (src/*.rs). Use the ``vrf_socket`` package;
these are its building blocks. Functions that wait release the GIL."""

from typing import List, Optional, Tuple, Union, final

@final
class VrfHandle:
    """A VRF as the kernel described it at lookup time, with its resolver (made on first use)."""

    @property
    def name(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def table(self) -> int: ...
    @property
    def is_up(self) -> bool: ...
    def slaves(self) -> List[Tuple[str, int, Optional[str], bool]]:
        """``(name, index, kind, is_up)`` of each enslaved device, in ifindex order."""
    def ensure_up(self) -> None:
        """Raises VrfDown unless the VRF is up now."""
    def open_socket(self, family: int, type: int, proto: int) -> int:
        """A new socket bound to the VRF; returns its descriptor, which the caller owns."""
    def connect(
        self, host: str, port: int, timeout: Optional[float] = None, source: Optional[str] = None
    ) -> Tuple[int, int]:
        """Connects over TCP (name resolved in the VRF, addresses raced); ``(descriptor, family)``."""
    def resolve(self, host: str) -> List[str]:
        """The IP addresses of ``host`` by the VRF's resolver, IPv6 first (``socket.gaierror``)."""

def lookup_name(name: str) -> VrfHandle: ...
def lookup_index(index: int) -> VrfHandle: ...
def list_vrfs() -> List[VrfHandle]: ...
def vrf_of_device(device: Union[str, int]) -> Optional[VrfHandle]: ...
def bound_vrf(fd: int) -> Optional[VrfHandle]:
    """The VRF the socket with descriptor ``fd`` is bound to, or None."""

@final
class Meta:
    """The metadata of one received datagram, for ``PktInfoCore.reply``."""

@final
class PktInfoCore:
    """A UDP socket with pktinfo on."""

    def __init__(self, family: int, host: str, port: int) -> None: ...
    def fileno(self) -> int: ...
    def getsockname(self) -> Union[Tuple[str, int], Tuple[str, int, int, int]]: ...
    def settimeout(self, timeout: Optional[float]) -> None: ...
    def recv(
        self, bufsize: int
    ) -> Tuple[
        bytes,
        Union[Tuple[str, int], Tuple[str, int, int, int]],
        Optional[Union[Tuple[str, int], Tuple[str, int, int, int]]],
        Optional[int],
        bool,
        Meta,
    ]:
        """``(data, source, destination, ifindex, truncated, meta)``."""
    def reply(self, meta: Meta, data: bytes) -> int: ...
    def send(
        self,
        data: bytes,
        host: str,
        port: int,
        flowinfo: int = 0,
        scope_id: int = 0,
        source: Optional[str] = None,
        ifindex: Optional[int] = None,
    ) -> int: ...
    def vrf_of(self, ifindex: Optional[int]) -> Optional[VrfHandle]: ...
    def clear_cache(self) -> None: ...
    def close(self) -> None: ...
