//! Async (tokio) versions of the VRF sockets: the same system calls, registered with tokio's reactor.
//!
//! Enabled by the `tokio` feature, which brings no runtime: these functions register their sockets
//! with the runtime they are called from, so the application adds tokio with the runtime features it
//! uses (`rt` or `rt-multi-thread`; `macros` for `#[tokio::main]`). [`bound_vrf`](crate::bound_vrf)
//! works on the tokio sockets too (they are `AsFd`). A complete program: `examples/tokio_hello.rs`.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use tokio::io::AsyncWriteExt;
//! use vrf_socket::{ConnectOptions, Vrf};
//!
//! let blue = Vrf::by_name("blue")?;
//! let mut conn = vrf_socket::tokio::connect(&blue, "10.99.0.2:80".parse().unwrap(), &ConnectOptions::default()).await?;
//! conn.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::pktinfo::{self, RecvMeta, Transmit};
use crate::sys;
use crate::vrf::Vrf;

/// Resolves a host name inside the VRF and connects to it (feature `dns`).
#[cfg(feature = "dns")]
pub use crate::connect::connect_host;
pub use crate::connect::{connect, connect_ips};

/// A TCP listener on `addr` that accepts only connections arriving through `vrf`.
pub fn listen(vrf: &Vrf, addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let l = vrf.tcp_listen(addr)?;
    l.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(l)
}

/// A UDP socket on `addr` that sends and receives only through `vrf`.
pub fn udp_bind(vrf: &Vrf, addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let u = vrf.udp_bind(addr)?;
    u.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(u)
}

/// A UDP socket with pktinfo on, serving many VRFs asynchronously (see [`crate::pktinfo`]).
#[derive(Debug)]
pub struct PktInfoSocket {
    inner: AsyncFd<std::net::UdpSocket>,
}

impl PktInfoSocket {
    /// Takes `socket`, turns pktinfo on and makes it non-blocking.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Self> {
        pktinfo::enable(&socket)?;
        socket.set_nonblocking(true)?;
        Ok(PktInfoSocket {
            inner: sys::register_async(socket)?,
        })
    }

    /// The socket.
    pub fn get_ref(&self) -> &std::net::UdpSocket {
        self.inner.get_ref()
    }

    /// Receives one datagram with its metadata.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        self.inner
            .async_io(Interest::READABLE, |s| pktinfo::recv(s, buf))
            .await
    }

    /// Receives up to `bufs.len()` datagrams (one `recvmmsg`).
    pub async fn recv_batch(&self, bufs: &mut [&mut [u8]]) -> io::Result<Vec<RecvMeta>> {
        self.inner
            .async_io(Interest::READABLE, |s| pktinfo::recv_batch(s, bufs))
            .await
    }

    /// Sends one datagram from the address and through the device `t` names.
    pub async fn send(&self, t: &Transmit<'_>) -> io::Result<usize> {
        self.inner
            .async_io(Interest::WRITABLE, |s| pktinfo::send(s, t))
            .await
    }

    /// Sends datagrams with one `sendmmsg`; returns how many the kernel took.
    pub async fn send_batch(&self, ts: &[Transmit<'_>]) -> io::Result<usize> {
        self.inner
            .async_io(Interest::WRITABLE, |s| pktinfo::send_batch(s, ts))
            .await
    }
}
