//! The hickory-resolver runtime provider whose every socket is made in a VRF: UDP sockets for queries and
//! TCP connections for truncated answers, both bound to the VRF before anything is sent, in the family
//! of the name server, with the scope of link-local name servers put into their addresses.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider, TokioHandle, TokioTime};
use socket2::{Domain, Protocol, SockAddr, Type};

use crate::socket::nonblocking_tcp;
use crate::vrf::Vrf;

/// TCP connect timeout towards a name server when hickory gives none.
const NAME_SERVER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A hickory [`RuntimeProvider`] whose UDP sockets and TCP connections are made in a VRF.
///
/// Every runtime provider is a hickory `ConnectionProvider`, so this is all a hickory `Resolver` needs:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hickory_resolver::{Resolver, config::{NameServerConfig, ResolverConfig}};
/// use vrf_socket::{Vrf, dns::VrfRuntimeProvider};
///
/// let blue = Vrf::by_name("blue")?;
/// let config = ResolverConfig::from_name_servers(vec![NameServerConfig::udp_and_tcp("10.0.0.53".parse()?)]);
/// let resolver = Resolver::builder_with_config(config, VrfRuntimeProvider::new(blue)).build()?;
/// # Ok(())
/// # }
/// ```
///
/// Sockets are made in the network namespace of the thread that polls the query.
#[derive(Clone)]
pub struct VrfRuntimeProvider {
    vrf: Vrf,
    handle: TokioHandle,
    /// Interface index to put in every IPv6 address that needs one (link-local name servers).
    scopes: Scopes,
}

/// The interface index of each link-local name server, shared by a provider and its sockets.
pub(crate) type Scopes = Arc<HashMap<Ipv6Addr, NonZeroU32>>;

impl fmt::Debug for VrfRuntimeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VrfRuntimeProvider")
            .field("vrf", &self.vrf.name())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl VrfRuntimeProvider {
    /// A provider for `vrf`, spawning its background tasks on the current tokio runtime.
    pub fn new(vrf: Vrf) -> Self {
        VrfRuntimeProvider {
            vrf,
            handle: TokioHandle::default(),
            scopes: Arc::default(),
        }
    }

    /// Sends everything for `ip` (a link-local name server) through interface `ifindex`, which must be a
    /// device of the VRF (the kernel refuses others with `EINVAL`).
    pub fn with_scope(mut self, ip: Ipv6Addr, ifindex: NonZeroU32) -> Self {
        Arc::make_mut(&mut self.scopes).insert(ip, ifindex);
        self
    }

    /// Sends everything for each link-local name server through its interface (see [`Self::with_scope`]).
    pub(crate) fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// The VRF.
    pub fn vrf(&self) -> &Vrf {
        &self.vrf
    }

    fn scoped(&self, addr: SocketAddr) -> SocketAddr {
        scoped(&self.scopes, addr)
    }
}

fn scoped(scopes: &HashMap<Ipv6Addr, NonZeroU32>, addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if a.scope_id() == 0 => match scopes.get(a.ip()) {
            Some(&index) => SocketAddr::V6(SocketAddrV6::new(
                *a.ip(),
                a.port(),
                a.flowinfo(),
                index.get(),
            )),
            None => addr,
        },
        _ => addr,
    }
}

impl RuntimeProvider for VrfRuntimeProvider {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = VrfUdpSocket;
    type Tcp = AsyncIoTokioAsStd<tokio::net::TcpStream>;

    fn create_handle(&self) -> Self::Handle {
        self.handle.clone()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Tcp>>>> {
        let (vrf, server_addr) = (self.vrf.clone(), self.scoped(server_addr));
        Box::pin(async move {
            let socket = nonblocking_tcp(&vrf, server_addr, bind_addr)?;
            socket.set_nodelay(true)?;
            let wait = timeout.unwrap_or(NAME_SERVER_CONNECT_TIMEOUT);
            match tokio::time::timeout(wait, socket.connect(server_addr)).await {
                Ok(stream) => Ok(AsyncIoTokioAsStd(stream?)),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "TCP connect to name server {server_addr} in VRF {vrf} timed out after {wait:?}"
                    ),
                )),
            }
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Udp>>>> {
        let (vrf, scopes) = (self.vrf.clone(), self.scopes.clone());
        Box::pin(async move {
            let s = vrf.socket(
                Domain::for_address(local_addr),
                Type::DGRAM.nonblocking(),
                Some(Protocol::UDP),
            )?;
            s.bind(&SockAddr::from(local_addr))?;
            Ok(VrfUdpSocket {
                inner: tokio::net::UdpSocket::from_std(s.into())?,
                scopes,
            })
        })
    }
}

/// A UDP socket made by [`VrfRuntimeProvider`]: a tokio socket bound to the VRF that puts the scope of
/// link-local name servers into their addresses.
#[derive(Debug)]
pub struct VrfUdpSocket {
    inner: tokio::net::UdpSocket,
    scopes: Scopes,
}

impl VrfUdpSocket {
    /// The tokio socket.
    pub fn get_ref(&self) -> &tokio::net::UdpSocket {
        &self.inner
    }
}

impl DnsUdpSocket for VrfUdpSocket {
    type Time = TokioTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        match self.inner.poll_recv_from(cx, &mut buf) {
            Poll::Ready(Ok(from)) => Poll::Ready(Ok((buf.filled().len(), from))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_send_to(cx, buf, scoped(&self.scopes, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_put_into_link_local_addresses() {
        let mut m = HashMap::new();
        m.insert("fe80::1".parse().unwrap(), NonZeroU32::new(7).unwrap());
        let a: SocketAddr = "[fe80::1]:53".parse().unwrap();
        match scoped(&m, a) {
            SocketAddr::V6(v6) => assert_eq!(v6.scope_id(), 7),
            other => panic!("{other}"),
        }
        let b: SocketAddr = "[fe80::2]:53".parse().unwrap();
        assert_eq!(scoped(&m, b), b);
    }
}
