//! `vrf_socket._native`: the extension module under the Python package `vrf_socket`.
//!
//! A thin layer over the `vrf-socket` library: VRF lookup over rtnetlink, sockets bound to a VRF,
//! connect-by-name with the VRF's own resolver and happy eyeballs, name resolution inside the VRF, the
//! VRF of a socket, and one UDP socket serving every VRF (pktinfo). Sockets leave as descriptors that
//! the Python layer (`python/vrf_socket/__init__.py`) wraps in `socket.socket`; the stdlib-shaped API
//! (`create_connection`, `getaddrinfo`, asyncio, requests) is Python built on these functions.
//!
//! Built by maturin (`pip install ./vrf-socket-py`), which sets `PYO3_BUILD_EXTENSION_MODULE` so the
//! module does not link libpython; abi3, so one wheel serves CPython 3.9 and later.

mod errors;
mod pktinfo;
mod sys;
mod vrf;

use pyo3::prelude::*;

/// Native core of vrf_socket (use the vrf_socket package, not this module).
///
/// The GIL is relied on: `bound_vrf` borrows a descriptor that Python code could otherwise close
/// meanwhile.
#[pymodule(gil_used = true)]
mod _native {
    #[pymodule_export]
    use super::pktinfo::{Meta, PktInfoCore};
    #[pymodule_export]
    use super::vrf::{VrfHandle, bound_vrf, list_vrfs, lookup_index, lookup_name, vrf_of_device};
}
