"""The exceptions of vrf_socket (raised by the native module too, which imports them from here).

Every one is an ``OSError`` with an ``errno``, and its message is the Rust library's, which names the
device and, where there is one, the fix (``ip link add blue type vrf table N``).
"""

from __future__ import annotations

from typing import Optional, Union

__all__ = ["VrfError", "VrfNotFound", "NotAVrf", "VrfDown", "InvalidVrfName"]


class VrfError(OSError):
    """A VRF could not be found or used. The base class of the other VRF errors.

    ``device`` is the name or interface index that was asked about, when there is one.
    """

    device: Optional[Union[str, int]] = None


class VrfNotFound(VrfError):
    """No device has this name or index (errno ``ENODEV``).

    Raised by ``Vrf(name)``, ``Vrf.by_index(i)`` and ``vrf_of_device(...)``.
    """


class NotAVrf(VrfError):
    """The device exists but is not a VRF (errno ``EINVAL``).

    ``kind`` is its link kind (``"veth"``, ``"dummy"`` …, or None); ``master`` is the VRF it is enslaved
    to, if any: probably the VRF that was meant.
    """

    kind: Optional[str] = None
    master: Optional[str] = None


class VrfDown(VrfError):
    """The VRF is administratively down: nothing routes through it (errno ``ENETDOWN``).

    Raised by ``Vrf.ensure_up()``; the message says how to bring it up.
    """


class InvalidVrfName(VrfError, ValueError):
    """Not a valid interface name: empty, longer than 15 bytes, ``.``/``..``, or with ``/``, ``:`` or
    white space (errno ``EINVAL``). Also a ``ValueError``."""
