//! Scoping sockets to a VRF (or any device) and reading the scope back.
//!
//! A socket bound to a VRF device routes through the VRF's table and receives only traffic that arrived
//! in the VRF. The kernel offers two options: `SO_BINDTOIFINDEX` (Linux 5.0+, by index, no name lookup)
//! and `SO_BINDTODEVICE` (by name). Since Linux 5.7 either needs no privilege on a socket that is not yet
//! bound to a device; changing an existing binding needs `CAP_NET_RAW`.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsFd;

use socket2::SockRef;

use crate::error::VrfError;
use crate::netlink::{self, Query};
use crate::vrf::Vrf;

/// Binds `socket` to device `index`: `SO_BINDTOIFINDEX`, or `SO_BINDTODEVICE` by name on kernels older
/// than 5.0 (which answer `ENOPROTOOPT`).
pub fn bind_to_index(socket: impl AsFd, index: NonZeroU32) -> io::Result<()> {
    let s = SockRef::from(&socket);
    match s.bind_device_by_index_v4(Some(index)) {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            let link = netlink::get_links(Query::Index(index.get()))?
                .pop()
                .ok_or_else(|| io::Error::from(VrfError::NoSuchIndex(index)))?;
            s.bind_device(Some(link.name.as_bytes()))
        }
        r => r,
    }
}

/// Binds `socket` to `vrf`: from now on it routes and receives only through the VRF.
///
/// The kernel takes any index for `SO_BINDTOIFINDEX`, even one no device has any more: a `Vrf` looked up
/// before its device was deleted (or deleted and created again, with a new index) would give a socket
/// bound to nothing, which fails only later, at `connect` or never, for a listener. So the binding is read
/// back by name (`SO_BINDTODEVICE`), which makes the kernel look the index up: no device there, or a
/// device of another name, is `ENODEV` now, and the socket is not used.
pub fn bind_to_vrf(socket: impl AsFd, vrf: &Vrf) -> io::Result<()> {
    let socket = socket.as_fd();
    bind_to_index(socket, vrf.index())?;
    match SockRef::from(&socket).device() {
        Ok(Some(name)) if name == vrf.name().as_bytes() => Ok(()),
        Ok(_) => Err(io::Error::from_raw_os_error(libc::ENODEV)),
        Err(e) => Err(e),
    }
}

/// The index of the device `socket` is bound to (`SO_BINDTOIFINDEX`), `None` when unbound.
pub fn bound_index(socket: impl AsFd) -> io::Result<Option<NonZeroU32>> {
    SockRef::from(&socket).device_index_v4()
}

/// The VRF `socket` is scoped to: the VRF it is bound to, or the VRF of the enslaved device it is bound
/// to. `None` for an unbound socket or one bound to a device in the default VRF.
///
/// `socket` is anything with a file descriptor ([`AsFd`]): a std or socket2 socket, and tokio's
/// `TcpStream`, `TcpListener` and `UdpSocket` alike (`bound_vrf(&stream)`).
///
/// On an accepted TCP connection this tells which VRF it arrived in: with `net.ipv4.tcp_l3mdev_accept=1`
/// an unbound listener accepts connections from every VRF, and the kernel binds each accepted socket to
/// the VRF the SYN came through.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// let listener = std::net::TcpListener::bind("0.0.0.0:8080")?; // with tcp_l3mdev_accept=1
/// let (conn, peer) = listener.accept()?;
/// match vrf_socket::bound_vrf(&conn)? {
///     Some(vrf) => println!("{peer} came in through VRF {vrf}"),
///     None => println!("{peer} came in through the default VRF"),
/// }
/// # Ok(())
/// # }
/// ```
pub fn bound_vrf(socket: impl AsFd) -> Result<Option<Vrf>, VrfError> {
    match bound_index(socket)? {
        Some(index) => Vrf::of_device(index),
        None => Ok(None),
    }
}
