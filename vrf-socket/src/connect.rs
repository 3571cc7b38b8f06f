//! Connecting to a host through a VRF: one address (tokio), every address of a name or of a list
//! happy-eyeballs style (RFC 8305: families interleaved, a new attempt every 250 ms or as soon as one
//! fails, the first to connect wins), std and tokio.
//!
//! Every socket is made in the VRF (bound before `connect`), so no attempt can leave through the default
//! VRF. Names are resolved inside the VRF by [`VrfResolver`](crate::dns::VrfResolver) (feature `dns`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[cfg(feature = "dns")]
use crate::dns::{VrfResolver, ip_literal};
use crate::family::AddressFamily;
use crate::socket::{self, ConnectOptions, nonblocking_tcp};
use crate::vrf::Vrf;

/// Delay between connection attempts to successive addresses (RFC 8305's recommended 250 ms).
const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects over TCP through `vrf`, from `opts.source` if given, giving up after `opts.timeout` (an
/// error of kind [`TimedOut`](io::ErrorKind::TimedOut) naming the address and the VRF). Also
/// `vrf_socket::tokio::connect`.
pub async fn connect(
    vrf: &Vrf,
    addr: SocketAddr,
    opts: &ConnectOptions,
) -> io::Result<tokio::net::TcpStream> {
    let socket = nonblocking_tcp(vrf, addr, opts.source.map(|ip| SocketAddr::new(ip, 0)))?;
    match opts.timeout {
        Some(t) => tokio::time::timeout(t, socket.connect(addr))
            .await
            .map_err(|_| socket::connect_timed_out(vrf, addr, t))?,
        None => socket.connect(addr).await,
    }
}

/// Resolves `host` inside `vrf` and connects to `port` over TCP asynchronously, trying every address
/// happy-eyeballs style; see [`Vrf::tcp_connect_host`]. Also `vrf_socket::tokio::connect_host`.
#[cfg(feature = "dns")]
pub async fn connect_host(
    vrf: &Vrf,
    host: &str,
    port: u16,
    opts: &ConnectOptions,
) -> io::Result<tokio::net::TcpStream> {
    if let Some(ip) = ip_literal(host) {
        return connect(vrf, SocketAddr::new(ip, port), opts).await;
    }
    vrf.resolver()?.connect(host, port, opts).await
}

/// Connects to `port` on the addresses `ips` (already resolved, e.g. by [`VrfResolver::lookup_ip`])
/// through `vrf`, happy-eyeballs style as [`Vrf::tcp_connect_host`] does; `host` only names the
/// destination in errors. The error of a failed race lists every address tried with its own error, and
/// its kind is the last attempt's (`TimedOut` when `opts.timeout` ran out). Also
/// `vrf_socket::tokio::connect_ips`.
///
/// The race: families interleaved (the first address's family first), a new attempt every 250 ms or as
/// soon as one fails; the first connection wins and the others are dropped.
pub async fn connect_ips(
    vrf: &Vrf,
    host: &str,
    port: u16,
    ips: &[IpAddr],
    opts: &ConnectOptions,
) -> io::Result<tokio::net::TcpStream> {
    let candidates: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| opts.source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4()))
        .collect();
    if candidates.is_empty() {
        let why = match opts.source {
            Some(src) => format!(
                "no {} address to go with source {src} (addresses: {ips:?})",
                AddressFamily::of(src)
            ),
            None => "no address to connect to".to_string(),
        };
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("connecting to {host:?} port {port} in VRF {vrf}: {why}"),
        ));
    }
    let order = interleave(&candidates);
    let attempts = happy_eyeballs(vrf, port, order, opts.source);
    match opts.timeout {
        None => attempts.await,
        Some(t) => tokio::time::timeout(t, attempts).await.unwrap_or_else(|_| {
            Err(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {t:?}"),
            )))
        }),
    }
    .map_err(
        |errors: Result<Vec<(SocketAddr, io::Error)>, io::Error>| match errors {
            Ok(errors) => connect_error(vrf, host, port, &errors),
            Err(e) => io::Error::new(
                e.kind(),
                format!("connecting to {host:?} port {port} in VRF {vrf}: {e}"),
            ),
        },
    )
}

#[cfg(feature = "dns")]
impl Vrf {
    /// Resolves `host` inside this VRF and connects to `port` over TCP, trying every address
    /// happy-eyeballs style (RFC 8305: AAAA and A interleaved, a new attempt every 250 ms or as soon as
    /// one fails, the first to connect wins). An IP literal (`10.0.0.1`, `2001:db8::1`, `[2001:db8::1]`)
    /// needs no DNS.
    ///
    /// `opts.source` keeps only the addresses of its family; `opts.timeout` bounds the connecting (all
    /// attempts), not the lookup. Builds a [`VrfResolver`] with the default options for the call; keep
    /// one and use [`VrfResolver::tcp_connect`] to connect many times.
    pub fn tcp_connect_host(
        &self,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
    ) -> io::Result<std::net::TcpStream> {
        if let Some(ip) = ip_literal(host) {
            return self.tcp_connect_with(SocketAddr::new(ip, port), opts);
        }
        self.resolver()?.tcp_connect(host, port, opts)
    }
}

#[cfg(feature = "dns")]
impl VrfResolver {
    /// Resolves `host` and connects to `port` asynchronously, trying every address happy-eyeballs
    /// style; see [`Vrf::tcp_connect_host`].
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
    ) -> io::Result<tokio::net::TcpStream> {
        let addrs = self.lookup_ip(host).await?;
        connect_ips(self.vrf(), host, port, &addrs, opts).await
    }

    /// Resolves `host` and connects to `port`, blocking; see [`Vrf::tcp_connect_host`].
    pub fn tcp_connect(
        &self,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
    ) -> io::Result<std::net::TcpStream> {
        let addrs = self.lookup_ip_blocking(host)?;
        let vrf = self.vrf();
        if let [ip] = addrs[..]
            && opts.source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4())
        {
            return vrf
                .tcp_connect_with(SocketAddr::new(ip, port), opts)
                .map_err(|e| connect_error(vrf, host, port, &[(SocketAddr::new(ip, port), e)]));
        }
        self.block_on(|_| async move {
            let stream = connect_ips(vrf, host, port, &addrs, opts).await?;
            let stream = stream.into_std()?;
            stream.set_nonblocking(false)?;
            Ok(stream)
        })
    }
}

/// AAAA and A alternated, starting with the family of the first address; each family's order kept.
fn interleave(ips: &[IpAddr]) -> Vec<IpAddr> {
    let first_v6 = ips.first().is_some_and(IpAddr::is_ipv6);
    let (mut a, mut b): (Vec<IpAddr>, Vec<IpAddr>) =
        ips.iter().partition(|ip| ip.is_ipv6() == first_v6);
    a.reverse();
    b.reverse();
    let mut out = Vec::with_capacity(ips.len());
    while !a.is_empty() || !b.is_empty() {
        out.extend(a.pop());
        out.extend(b.pop());
    }
    out
}

type Attempt = (SocketAddr, io::Result<tokio::net::TcpStream>);

/// The connection race. `Err(Ok(errors))`: every attempt failed, with its error.
async fn happy_eyeballs(
    vrf: &Vrf,
    port: u16,
    order: Vec<IpAddr>,
    source: Option<IpAddr>,
) -> Result<tokio::net::TcpStream, Result<Vec<(SocketAddr, io::Error)>, io::Error>> {
    let mut pending = order.into_iter().map(|ip| SocketAddr::new(ip, port));
    let mut running: tokio::task::JoinSet<Attempt> = tokio::task::JoinSet::new();
    let mut errors = Vec::new();
    // Starts the next attempt, if any; a socket that cannot even be made counts as a failed attempt.
    let mut start_next = |running: &mut tokio::task::JoinSet<Attempt>,
                          errors: &mut Vec<(SocketAddr, io::Error)>| {
        for addr in pending.by_ref() {
            match nonblocking_tcp(vrf, addr, source.map(|ip| SocketAddr::new(ip, 0))) {
                Ok(socket) => {
                    running.spawn(async move { (addr, socket.connect(addr).await) });
                    return true;
                }
                Err(e) => errors.push((addr, e)),
            }
        }
        false
    };
    let mut more = start_next(&mut running, &mut errors);
    loop {
        tokio::select! {
            done = running.join_next() => match done {
                Some(Ok((_, Ok(stream)))) => return Ok(stream),
                // A failure starts the next attempt at once.
                Some(Ok((addr, Err(e)))) => {
                    errors.push((addr, e));
                    more = start_next(&mut running, &mut errors);
                }
                Some(Err(join)) => return Err(Err(io::Error::other(join))),
                None => return Err(Ok(errors)),
            },
            () = tokio::time::sleep(CONNECTION_ATTEMPT_DELAY), if more => {
                more = start_next(&mut running, &mut errors);
            }
        }
    }
}

fn connect_error(
    vrf: &Vrf,
    host: &str,
    port: u16,
    errors: &[(SocketAddr, io::Error)],
) -> io::Error {
    let kind = errors
        .last()
        .map_or(io::ErrorKind::NotFound, |(_, e)| e.kind());
    let each: Vec<String> = errors.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    io::Error::new(
        kind,
        format!(
            "connecting to {host:?} port {port} in VRF {vrf}: {}",
            each.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving() {
        let ips: Vec<IpAddr> = ["fd00::1", "fd00::2", "fd00::3", "10.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let order: Vec<String> = interleave(&ips).iter().map(|i| i.to_string()).collect();
        assert_eq!(order, ["fd00::1", "10.0.0.1", "fd00::2", "fd00::3"]);
    }

    /// Connect futures are spawned on multi-thread runtimes.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn futures_are_send(vrf: &Vrf, opts: &ConnectOptions) {
        fn send_future<T: Send>(_: T) {}
        send_future(connect(vrf, "10.0.0.1:1".parse().unwrap(), opts));
        send_future(connect_ips(vrf, "x", 1, &[], opts));
        #[cfg(feature = "dns")]
        {
            send_future(connect_host(vrf, "x", 1, opts));
            send_future(vrf.resolver().unwrap().connect("x", 1, opts));
        }
    }
}
