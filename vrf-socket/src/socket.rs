//! Opening TCP, UDP, raw and ICMP sockets scoped to a VRF.
//!
//! Each constructor makes the socket (close-on-exec), binds it to the VRF device before anything else
//! happens (one `setsockopt`), then binds a source address if one is given, then connects or listens.
//! The results are std types; see `vrf_socket::tokio` (feature `tokio`) for async ones.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::bind::bind_to_vrf;
use crate::family::AddressFamily;
use crate::vrf::Vrf;

/// Backlog of listeners made by [`Vrf::tcp_listen`].
const BACKLOG: i32 = 1024;

/// Options for [`Vrf::tcp_connect_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Source address to bind before connecting (port chosen by the kernel). It should be an address of a
    /// device in the VRF: the kernel accepts any local address here, and then the replies may not come back.
    pub source: Option<IpAddr>,
    /// Give up connecting after this long (`ErrorKind::TimedOut`).
    pub timeout: Option<Duration>,
}

impl ConnectOptions {
    /// Sets the source address.
    pub fn source(mut self, addr: IpAddr) -> Self {
        self.source = Some(addr);
        self
    }

    /// Sets the connect timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Which kind of ICMP socket [`Vrf::icmp_socket`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// `SOCK_DGRAM`/`IPPROTO_ICMP(V6)`: the kernel writes the echo identifier and checksum, and delivers only
    /// replies to this socket. Allowed when the caller's group is in `net.ipv4.ping_group_range`.
    Datagram,
    /// `SOCK_RAW`: every ICMP packet of the VRF; needs `CAP_NET_RAW`.
    Raw,
}

/// An ICMP socket bound to a VRF.
#[derive(Debug)]
pub struct IcmpSocket {
    /// The socket.
    pub socket: Socket,
    /// Datagram or raw.
    pub kind: IcmpKind,
}

impl IcmpKind {
    /// The socket type: `SOCK_DGRAM` or `SOCK_RAW`.
    pub fn socket_type(self) -> Type {
        match self {
            IcmpKind::Datagram => Type::DGRAM,
            IcmpKind::Raw => Type::RAW,
        }
    }
}

/// The domain, type and protocol of an ICMP socket of `family` and `kind`: `(AF_INET, SOCK_DGRAM,
/// IPPROTO_ICMP)` and so on.
pub fn icmp_socket_type(family: AddressFamily, kind: IcmpKind) -> (Domain, Type, Protocol) {
    let protocol = match family {
        AddressFamily::Ipv4 => Protocol::ICMPV4,
        AddressFamily::Ipv6 => Protocol::ICMPV6,
    };
    (family.domain(), kind.socket_type(), protocol)
}

/// A non-blocking TCP socket in `vrf` for connecting to `dst`, bound to `bind` if given, for tokio to
/// drive. Made synchronously, so in the calling thread's network namespace, whichever thread later
/// drives the connect.
#[cfg(feature = "tokio")]
pub(crate) fn nonblocking_tcp(
    vrf: &Vrf,
    dst: SocketAddr,
    bind: Option<SocketAddr>,
) -> io::Result<tokio::net::TcpSocket> {
    let s = vrf.socket(
        Domain::for_address(dst),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if let Some(bind) = bind {
        s.bind(&SockAddr::from(bind))?;
    }
    Ok(tokio::net::TcpSocket::from_std_stream(s.into()))
}

/// The error of a connect that ran out of time, naming the address and the VRF.
pub(crate) fn connect_timed_out(vrf: &Vrf, addr: SocketAddr, after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("connecting to {addr} in VRF {vrf} timed out after {after:?}"),
    )
}

impl Vrf {
    /// A new socket of the given domain, type and protocol, bound to this VRF.
    pub fn socket(
        &self,
        domain: Domain,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> io::Result<Socket> {
        let s = Socket::new(domain, ty, protocol)?;
        bind_to_vrf(&s, self)?;
        Ok(s)
    }

    /// Connects over TCP through this VRF.
    ///
    /// Costs two system calls more than [`TcpStream::connect`], between `socket` and `connect`: the
    /// `SO_BINDTOIFINDEX`, and its read-back that checks the VRF still exists ([`bind_to_vrf`]).
    ///
    /// ```no_run
    /// use std::io::Write;
    /// let blue = vrf_socket::Vrf::by_name("blue")?;
    /// let mut conn = blue.tcp_connect("10.99.0.2:80".parse().unwrap())?;
    /// conn.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tcp_connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.tcp_connect_with(addr, &ConnectOptions::default())
    }

    /// Connects over TCP through this VRF, from a chosen source address and/or with a timeout. A timeout
    /// is an error of kind [`TimedOut`](io::ErrorKind::TimedOut) that names the address and the VRF.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use vrf_socket::{ConnectOptions, Vrf};
    /// let red = Vrf::by_name("red")?;
    /// let opts = ConnectOptions::default().source("10.99.0.1".parse()?).timeout(Duration::from_secs(3));
    /// let conn = red.tcp_connect_with("10.99.0.2:22".parse()?, &opts)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tcp_connect_with(
        &self,
        addr: SocketAddr,
        opts: &ConnectOptions,
    ) -> io::Result<TcpStream> {
        let s = self.socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if let Some(src) = opts.source {
            s.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
        }
        match opts.timeout {
            Some(t) => s.connect_timeout(&addr.into(), t).map_err(|e| {
                if e.kind() == io::ErrorKind::TimedOut {
                    connect_timed_out(self, addr, t)
                } else {
                    e
                }
            })?,
            None => s.connect(&addr.into())?,
        }
        Ok(s.into())
    }

    /// A TCP listener on `addr` that accepts only connections arriving through this VRF.
    ///
    /// Several VRFs can listen on the same address and port at once: sockets bound to different devices do
    /// not conflict.
    pub fn tcp_listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let s = self.socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&addr.into())?;
        s.listen(BACKLOG)?;
        Ok(s.into())
    }

    /// A UDP socket on `addr` (port 0: any) that sends and receives only through this VRF.
    pub fn udp_bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let s = self.socket(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        s.bind(&addr.into())?;
        Ok(s.into())
    }

    /// An ICMP socket of `family` (ICMP or ICMPv6) in this VRF: a datagram ("ping") socket where
    /// `net.ipv4.ping_group_range` allows it, else a raw socket. The kernel's default range (`1 0`)
    /// allows nobody, root included, so the raw fallback is the common case.
    pub fn icmp_socket(&self, family: AddressFamily) -> io::Result<IcmpSocket> {
        match self.icmp_socket_of(family, IcmpKind::Datagram) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
                self.icmp_socket_of(family, IcmpKind::Raw)
            }
            r => r,
        }
    }

    /// An ICMP socket of `family` and exactly the given kind in this VRF.
    pub fn icmp_socket_of(&self, family: AddressFamily, kind: IcmpKind) -> io::Result<IcmpSocket> {
        let (domain, ty, protocol) = icmp_socket_type(family, kind);
        Ok(IcmpSocket {
            socket: self.socket(domain, ty, Some(protocol))?,
            kind,
        })
    }
}
