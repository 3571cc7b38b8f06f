//! Name resolution inside a VRF: a [hickory-resolver] whose every UDP and TCP socket is bound to the VRF,
//! configured from the VRF's own `resolv.conf`, and connect-by-name helpers built on it.
//!
//! Enabled by the `dns` feature (which enables `tokio`).
//!
//! Nothing else resolves names inside a VRF properly: glibc's `getaddrinfo` sends its queries from an
//! unbound socket (the default VRF) unless the whole process runs under `ip vrf exec`, systemd-resolved's
//! stub (`127.0.0.53`) lives in the default VRF, and a plain hickory `Resolver` opens unbound sockets.
//!
//! - [`Vrf::resolver`] / [`Vrf::resolver_with`]: a [`VrfResolver`]; [`VrfResolver::lookup_ip`] (async) and
//!   [`VrfResolver::lookup_ip_blocking`] give the A and AAAA addresses of a name,
//!   [`VrfResolver::lookup_addr`] / [`VrfResolver::lookup_addr_blocking`] the names of an address.
//! - [`Vrf::tcp_connect_host`] (std) and [`connect_host`] (tokio, also `vrf_socket::tokio::connect_host`):
//!   resolve in the VRF and connect, trying every address happy-eyeballs style (RFC 8305).
//! - [`VrfRuntimeProvider`]: the hickory runtime provider underneath, for building your own hickory
//!   `Resolver` (every runtime provider is also a hickory connection provider).
//!
//! # Configuration
//!
//! - **resolv.conf:** `/etc/vrf/NAME/resolv.conf` when it exists, else `/etc/resolv.conf` (the file
//!   `vrf-exec` shows a command of VRF `NAME` as its `/etc/resolv.conf`), or
//!   [`ResolverOptions::resolv_conf`]. It is parsed line by line ([`ResolvConf::parse`]): `nameserver`
//!   (at most 3, as glibc), `domain`, `search`, `options ndots: timeout: attempts: rotate use-vc`. A line
//!   that cannot be parsed is skipped and reported in [`ResolvConf::warnings`], never fatal.
//! - **hosts:** `/etc/hosts`, or [`ResolverOptions::hosts`], is looked up first, as glibc's `files` before
//!   `dns`: a name found there (in either family) is answered without any query.
//! - **Loopback name servers** (`127.0.0.53`, `::1` …) are unreachable from a VRF: the route to them
//!   (through the main `local` table, `dev lo`) leaves the VRF, and the answer, arriving on `lo`, is not
//!   delivered to a socket bound to the VRF. The exception is a server inside the VRF on an address of
//!   the VRF's own (`ip addr add 127.0.0.53/8 dev blue`). So when the resolver is made, each loopback
//!   server is probed by binding a UDP socket in the VRF to its address (which succeeds only when the
//!   address is local in the VRF's table; nothing is sent); the others are skipped, and a lookup with
//!   no other server fails at once with [`io::ErrorKind::AddrNotAvailable`], naming the server and the
//!   fix, instead of timing out.
//! - **Scoped IPv6 name servers** (`nameserver fe80::1%eth0`): used when the device (`eth0`, or an
//!   interface index) is enslaved to this VRF, the scope being set on every packet to it; skipped, with
//!   the reason in [`VrfResolver::skipped`], when the device is in another VRF or does not exist.
//! - `LOCALDOMAIN` and `RES_OPTIONS` in the environment are not read.
//!
//! # Sockets
//!
//! Every socket is made in the VRF ([`Vrf::socket`], `SO_BINDTOIFINDEX` before anything else) and
//! non-blocking from the start, in the family of the name server: IPv4 and IPv6 servers both work.
//! Socket reuse is hickory's: one new UDP socket per query, on a random source port (the defence against
//! response spoofing), and TCP connections (taken when an answer is truncated, or with `use-vc`) kept
//! open and reused for later queries to the same server.
//!
//! # Runtimes
//!
//! The async methods run on the caller's tokio runtime; a resolver's open connections belong to the
//! runtime that opened them, so use one resolver from one runtime. The blocking methods use a
//! current-thread runtime (and a resolver instance) of their own, made on first use and kept for the
//! life of the [`VrfResolver`]; they also work when called from inside a tokio runtime (on a helper
//! thread then).
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use vrf_socket::{ConnectOptions, Vrf};
//!
//! let blue = Vrf::by_name("blue")?;
//! let resolver = blue.resolver()?;                      // /etc/vrf/blue/resolv.conf or /etc/resolv.conf
//! for warning in &resolver.conf().warnings {
//!     eprintln!("warning: {warning}");
//! }
//! let addrs = resolver.lookup_ip_blocking("app.example")?;  // queries sent from VRF blue
//! let conn = blue.tcp_connect_host("app.example", 443, &ConnectOptions::default())?;
//! # Ok(())
//! # }
//! ```
//!
//! [hickory-resolver]: https://docs.rs/hickory-resolver

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_resolver::Hosts;
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider, TokioHandle, TokioTime};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use socket2::{Domain, Protocol, SockAddr, Type};

pub use crate::family::AddressFamily;
use crate::netlink::{self, Query as LinkQuery};
use crate::paths::{SYSTEM_HOSTS, resolv_conf_for};
use crate::socket::ConnectOptions;
use crate::vrf::Vrf;

/// glibc's limit on name servers (`MAXNS`): later `nameserver` lines are ignored.
const MAX_NAME_SERVERS: usize = 3;
/// Delay between connection attempts to successive addresses (RFC 8305's recommended 250 ms).
const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// TCP connect timeout towards a name server when hickory gives none.
const NAME_SERVER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

// --- options ------------------------------------------------------------------------------------

/// How [`Vrf::resolver_with`] builds a resolver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolverOptions {
    /// The resolv.conf to read; `None`: `/etc/vrf/NAME/resolv.conf` if it exists, else
    /// `/etc/resolv.conf` (a missing system file counts as an empty one; a missing file named here is an
    /// error).
    pub resolv_conf: Option<PathBuf>,
    /// The hosts file to read; `None`: `/etc/hosts` (missing counts as empty).
    pub hosts: Option<PathBuf>,
    /// How long one attempt waits for an answer (default 2 s). Left at the default, the resolv.conf's
    /// `options timeout:N` applies, as in glibc; any other value wins over the file.
    pub timeout: Duration,
    /// How many times a query is tried before giving up (default 2; at least 1). Left at the default, the
    /// resolv.conf's `options attempts:N` applies; any other value wins over the file.
    pub attempts: usize,
    /// Only this address family (`-4`/`-6` in the tools): only A or only AAAA queries, and only those
    /// hosts-file entries. `None` (default): both, AAAA and A in parallel.
    pub family: Option<AddressFamily>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_ATTEMPTS: usize = 2;

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            resolv_conf: None,
            hosts: None,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            family: None,
        }
    }
}

impl ResolverOptions {
    /// Reads this resolv.conf instead of the VRF's.
    pub fn resolv_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.resolv_conf = Some(path.into());
        self
    }

    /// Reads this hosts file instead of `/etc/hosts`.
    pub fn hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.hosts = Some(path.into());
        self
    }

    /// Sets the time one attempt waits for an answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many times a query is tried.
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts;
        self
    }

    /// Resolves to addresses of `family` only.
    pub fn family(mut self, family: AddressFamily) -> Self {
        self.family = Some(family);
        self
    }
}

// --- resolv.conf --------------------------------------------------------------------------------

/// A name server line of a resolv.conf: an address and, for IPv6, an optional scope (`%eth0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConfNameServer {
    /// The address.
    pub ip: IpAddr,
    /// The device (name or interface index) after `%`, if any.
    pub scope: Option<String>,
}

impl fmt::Display for ConfNameServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(s) => write!(f, "{}%{s}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// A resolv.conf line that was skipped or only partly used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfWarning {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why it was skipped.
    pub reason: String,
}

impl fmt::Display for ConfWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}`: {}", self.line, self.text, self.reason)
    }
}

/// A parsed resolv.conf: what glibc would use, plus the lines it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvConf {
    /// Where it was read from (`None` when parsed from text, or when the system file does not exist).
    pub path: Option<PathBuf>,
    /// `nameserver` lines, in order (at most 3).
    pub name_servers: Vec<ConfNameServer>,
    /// The search list: the last `search` or `domain` line wins, as in glibc.
    pub search: Vec<String>,
    /// `options ndots:N` (capped at 15).
    pub ndots: Option<usize>,
    /// `options timeout:N` (seconds, capped at 30).
    pub timeout: Option<Duration>,
    /// `options attempts:N` (capped at 5).
    pub attempts: Option<usize>,
    /// `options rotate`: spread queries over the servers.
    pub rotate: bool,
    /// `options use-vc`: TCP only.
    pub use_vc: bool,
    /// Lines skipped or partly used, with the reason.
    pub warnings: Vec<ConfWarning>,
}

impl ResolvConf {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> io::Result<ResolvConf> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        let mut conf = ResolvConf::parse(&text);
        conf.path = Some(path.to_path_buf());
        Ok(conf)
    }

    /// Parses resolv.conf text. Never fails: a line that cannot be used is skipped and described in
    /// [`ResolvConf::warnings`]. Unknown `options` are ignored silently, as glibc does.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        let mut warnings = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let mut warn = |reason: String| {
                conf_warning(&mut warnings, i + 1, raw, reason);
            };
            // Everything from a `#` or `;` on is a comment (glibc only knows them at the line's start).
            let line = raw.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let args: Vec<&str> = words.collect();
            match keyword {
                "nameserver" => match args.first() {
                    None => warn("no address after `nameserver`".into()),
                    Some(addr) => match parse_name_server(addr) {
                        Err(reason) => warn(reason),
                        Ok(_) if conf.name_servers.len() >= MAX_NAME_SERVERS => warn(format!(
                            "more than {MAX_NAME_SERVERS} name servers: ignored, as glibc does"
                        )),
                        Ok(ns) => conf.name_servers.push(ns),
                    },
                },
                "domain" | "search" => {
                    let mut list = Vec::new();
                    for d in &args {
                        match Name::from_str(d) {
                            Ok(_) => list.push(d.trim_end_matches('.').to_string()),
                            Err(e) => warn(format!("{d:?} is not a domain name ({e}): skipped")),
                        }
                    }
                    if keyword == "domain" {
                        list.truncate(1);
                    }
                    if list.is_empty() && args.is_empty() {
                        warn(format!("no domain after `{keyword}`"));
                    }
                    conf.search = list;
                }
                "options" => {
                    for opt in &args {
                        if let Err(reason) = conf.apply_option(opt) {
                            warn(reason);
                        }
                    }
                }
                // Address sorting is not done (hickory's order is the server's, AAAA first).
                "sortlist" => {}
                other => warn(format!("unknown keyword {other:?}: line ignored")),
            }
        }
        conf.warnings = warnings;
        conf
    }

    fn apply_option(&mut self, opt: &str) -> Result<(), String> {
        let number = |value: &str, max: usize| -> Result<usize, String> {
            value
                .parse::<usize>()
                .map(|n| n.min(max))
                .map_err(|_| format!("option {opt:?}: {value:?} is not a number"))
        };
        match opt.split_once(':') {
            Some(("ndots", v)) => self.ndots = Some(number(v, 15)?),
            Some(("timeout", v)) => {
                self.timeout = Some(Duration::from_secs(number(v, 30)?.max(1) as u64))
            }
            Some(("attempts", v)) => self.attempts = Some(number(v, 5)?.max(1)),
            None if opt == "rotate" => self.rotate = true,
            None if opt == "use-vc" || opt == "usevc" => self.use_vc = true,
            _ => {}
        }
        Ok(())
    }
}

fn conf_warning(warnings: &mut Vec<ConfWarning>, line: usize, text: &str, reason: String) {
    warnings.push(ConfWarning {
        line,
        text: text.trim().to_string(),
        reason,
    });
}

/// `10.0.0.1`, `2001:db8::1`, `fe80::1%eth0`.
fn parse_name_server(addr: &str) -> Result<ConfNameServer, String> {
    let (ip, scope) = match addr.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (addr, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    match scope {
        Some("") => Err(format!("{addr:?}: empty scope after `%`")),
        Some(_) if ip.is_ipv4() => Err(format!("{addr:?}: a scope (`%dev`) is for IPv6 only")),
        scope => Ok(ConfNameServer {
            ip,
            scope: scope.map(str::to_string),
        }),
    }
}

// --- the runtime provider -----------------------------------------------------------------------

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
    scopes: Arc<HashMap<Ipv6Addr, u32>>,
}

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
        Arc::make_mut(&mut self.scopes).insert(ip, ifindex.get());
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

fn scoped(scopes: &HashMap<Ipv6Addr, u32>, addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) if a.scope_id() == 0 => match scopes.get(a.ip()) {
            Some(&index) => {
                SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), a.flowinfo(), index))
            }
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
            let s = vrf.socket(
                Domain::for_address(server_addr),
                Type::STREAM.nonblocking(),
                Some(Protocol::TCP),
            )?;
            if let Some(bind) = bind_addr {
                s.bind(&SockAddr::from(bind))?;
            }
            s.set_tcp_nodelay(true)?;
            let socket = tokio::net::TcpSocket::from_std_stream(s.into());
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
    scopes: Arc<HashMap<Ipv6Addr, u32>>,
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

// --- the resolver -------------------------------------------------------------------------------

/// A name server of the configuration that the resolver does not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedServer {
    /// The server as the resolv.conf names it.
    pub server: ConfNameServer,
    /// Why it is not used.
    pub reason: String,
}

impl fmt::Display for SkippedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "name server {} {}", self.server, self.reason)
    }
}

/// A resolver scoped to one VRF: every query leaves through the VRF. Cheap to clone (shared state).
///
/// Made by [`Vrf::resolver`] or [`Vrf::resolver_with`]. Errors are [`io::Error`]s whose message names
/// the host, the VRF and the cause:
///
/// | cause | kind |
/// |---|---|
/// | the name does not exist (NXDOMAIN) | [`NotFound`](io::ErrorKind::NotFound) |
/// | the name exists but has no address (NODATA) | [`NotFound`](io::ErrorKind::NotFound) |
/// | no answer in time (names the servers tried) | [`TimedOut`](io::ErrorKind::TimedOut) |
/// | no usable name server (e.g. only `127.0.0.53`, which is on loopback) | [`AddrNotAvailable`](io::ErrorKind::AddrNotAvailable) |
/// | not a valid host name | [`InvalidInput`](io::ErrorKind::InvalidInput) |
/// | a server answered with an error (SERVFAIL, REFUSED …) | [`Other`](io::ErrorKind::Other) |
#[derive(Clone)]
pub struct VrfResolver {
    inner: Arc<Inner>,
}

struct Inner {
    vrf: Vrf,
    conf: ResolvConf,
    /// The resolv.conf that was read (or would have been), for messages.
    conf_path: PathBuf,
    hosts: Hosts,
    servers: Vec<SocketAddr>,
    skipped: Vec<SkippedServer>,
    /// What the hickory resolvers are built from.
    recipe: Recipe,
    /// For the async methods, on the caller's runtime.
    resolver: Resolver<VrfRuntimeProvider>,
    /// For the blocking methods: a runtime and a resolver of their own, made on first use.
    blocking: OnceLock<Blocking>,
    /// [`ResolverOptions::family`].
    family: Option<AddressFamily>,
}

#[derive(Clone)]
struct Recipe {
    config: ResolverConfig,
    opts: ResolverOpts,
    provider_scopes: Arc<HashMap<Ipv6Addr, u32>>,
    timeout: Duration,
    attempts: usize,
}

impl Recipe {
    fn build(&self, vrf: &Vrf) -> io::Result<Resolver<VrfRuntimeProvider>> {
        let mut provider = VrfRuntimeProvider::new(vrf.clone());
        provider.scopes = self.provider_scopes.clone();
        Resolver::builder_with_config(self.config.clone(), provider)
            .with_options(self.opts.clone())
            .build()
            .map_err(|e| io::Error::other(format!("building the resolver of VRF {vrf}: {e}")))
    }
}

struct Blocking {
    runtime: Option<tokio::runtime::Runtime>,
    resolver: Resolver<VrfRuntimeProvider>,
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Allowed anywhere, even inside another runtime (a plain drop would panic there).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for VrfResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("VrfResolver")
            .field("vrf", &i.vrf.name())
            .field("resolv_conf", &i.conf_path)
            .field("servers", &i.servers)
            .field("skipped", &i.skipped)
            .field("search", &i.conf.search)
            .field("timeout", &i.recipe.timeout)
            .field("attempts", &i.recipe.attempts)
            .finish_non_exhaustive()
    }
}

impl Vrf {
    /// A resolver for this VRF with [`ResolverOptions::default`]: the VRF's resolv.conf
    /// (`/etc/vrf/NAME/resolv.conf`, else `/etc/resolv.conf`) and `/etc/hosts`.
    pub fn resolver(&self) -> io::Result<VrfResolver> {
        self.resolver_with(&ResolverOptions::default())
    }

    /// A resolver for this VRF. Reads the configuration files now; fails only when a file named in
    /// `opts` cannot be read. Unusable name servers are reported by [`VrfResolver::skipped`] and in the
    /// lookup errors.
    pub fn resolver_with(&self, opts: &ResolverOptions) -> io::Result<VrfResolver> {
        VrfResolver::new(self, opts)
    }

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

/// Resolves `host` inside `vrf` and connects to `port` over TCP asynchronously, trying every address
/// happy-eyeballs style; see [`Vrf::tcp_connect_host`]. Also `vrf_socket::tokio::connect_host`.
pub async fn connect_host(
    vrf: &Vrf,
    host: &str,
    port: u16,
    opts: &ConnectOptions,
) -> io::Result<tokio::net::TcpStream> {
    if let Some(ip) = ip_literal(host) {
        return crate::tokio::connect(vrf, SocketAddr::new(ip, port), opts).await;
    }
    vrf.resolver()?.connect(host, port, opts).await
}

/// Connects to `port` on the addresses `ips` (already resolved, e.g. by [`VrfResolver::lookup_ip`])
/// through `vrf`, happy-eyeballs style as [`Vrf::tcp_connect_host`] does; `host` only names the
/// destination in errors. The error of a failed race lists every address tried with its own error, and
/// its kind is the last attempt's (`TimedOut` when `opts.timeout` ran out). Also
/// `vrf_socket::tokio::connect_ips`.
pub async fn connect_ips(
    vrf: &Vrf,
    host: &str,
    port: u16,
    ips: &[IpAddr],
    opts: &ConnectOptions,
) -> io::Result<tokio::net::TcpStream> {
    connect_any(vrf, host, port, ips, opts).await
}

impl VrfResolver {
    fn new(vrf: &Vrf, opts: &ResolverOptions) -> io::Result<VrfResolver> {
        let (conf, conf_path) = match &opts.resolv_conf {
            Some(p) => (ResolvConf::read(p)?, p.clone()),
            None => {
                let p = resolv_conf_for(vrf.name());
                match ResolvConf::read(&p) {
                    Ok(c) => (c, p),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => (ResolvConf::default(), p),
                    Err(e) => return Err(e),
                }
            }
        };
        let hosts = match &opts.hosts {
            Some(p) => read_hosts(p)?,
            None => match read_hosts(Path::new(SYSTEM_HOSTS)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Hosts::default(),
                r => r?,
            },
        };

        let mut servers = Vec::new();
        let mut skipped = Vec::new();
        let mut scopes = HashMap::new();
        for ns in &conf.name_servers {
            match usable(vrf, ns) {
                Ok(scope) => {
                    if let (IpAddr::V6(v6), Some(index)) = (ns.ip, scope) {
                        scopes.insert(v6, index.get());
                    }
                    servers.push(ns.ip);
                }
                Err(reason) => skipped.push(SkippedServer {
                    server: ns.clone(),
                    reason,
                }),
            }
        }

        let timeout = if opts.timeout == DEFAULT_TIMEOUT {
            conf.timeout.unwrap_or(DEFAULT_TIMEOUT)
        } else {
            opts.timeout
        };
        let attempts = if opts.attempts == DEFAULT_ATTEMPTS {
            conf.attempts.unwrap_or(DEFAULT_ATTEMPTS)
        } else {
            opts.attempts
        }
        .max(1);
        let name_servers: Vec<NameServerConfig> = servers
            .iter()
            .map(|&ip| {
                if conf.use_vc {
                    NameServerConfig::tcp(ip)
                } else {
                    NameServerConfig::udp_and_tcp(ip)
                }
            })
            .collect();
        let search = conf
            .search
            .iter()
            .filter_map(|d| Name::from_str(d).ok())
            .collect();
        let config = ResolverConfig::from_parts(None, search, name_servers);
        let mut ropts = ResolverOpts::default();
        ropts.ndots = conf.ndots.unwrap_or(1);
        ropts.timeout = timeout;
        // hickory counts retries after the first try; resolv.conf (and we) count tries.
        ropts.attempts = attempts - 1;
        // The hosts file is looked up before any query (see `lookup_ip`), not by hickory.
        ropts.use_hosts_file = ResolveHosts::Never;
        if conf.rotate {
            ropts.server_ordering_strategy = ServerOrderingStrategy::RoundRobin;
        }
        ropts.ip_strategy = match opts.family {
            Some(AddressFamily::Ipv4) => LookupIpStrategy::Ipv4Only,
            Some(AddressFamily::Ipv6) => LookupIpStrategy::Ipv6Only,
            None => LookupIpStrategy::Ipv6AndIpv4,
        };
        let recipe = Recipe {
            config,
            opts: ropts,
            provider_scopes: Arc::new(scopes),
            timeout,
            attempts,
        };
        let resolver = recipe.build(vrf)?;
        Ok(VrfResolver {
            inner: Arc::new(Inner {
                vrf: vrf.clone(),
                conf,
                conf_path,
                hosts,
                servers: servers.iter().map(|&ip| SocketAddr::new(ip, 53)).collect(),
                skipped,
                recipe,
                resolver,
                blocking: OnceLock::new(),
                family: opts.family,
            }),
        })
    }

    /// The VRF the queries go through.
    pub fn vrf(&self) -> &Vrf {
        &self.inner.vrf
    }

    /// The resolv.conf as parsed, with the lines that were skipped ([`ResolvConf::warnings`]).
    pub fn conf(&self) -> &ResolvConf {
        &self.inner.conf
    }

    /// The resolv.conf that was read; when it did not exist, the path that was tried.
    pub fn conf_path(&self) -> &Path {
        &self.inner.conf_path
    }

    /// The name servers in use (port 53), in the configuration's order.
    pub fn name_servers(&self) -> &[SocketAddr] {
        &self.inner.servers
    }

    /// Name servers of the configuration that are not used (loopback ones unreachable from the VRF,
    /// scoped ones on a device of another VRF), with the reason.
    pub fn skipped(&self) -> &[SkippedServer] {
        &self.inner.skipped
    }

    /// The IPv6 and IPv4 addresses of `host`, AAAA first: an IP literal as it is; a name in the hosts
    /// file from there, without a query; otherwise A and AAAA queries (in parallel) through the VRF.
    pub async fn lookup_ip(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        match self.local_answer(host)? {
            Some(ips) => Ok(ips),
            None => self.dns_lookup(&self.inner.resolver, host).await,
        }
    }

    /// [`VrfResolver::lookup_ip`] for code without a tokio runtime (it works inside one too).
    pub fn lookup_ip_blocking(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        if let Some(ips) = self.local_answer(host)? {
            return Ok(ips);
        }
        self.block_on(|r| async move { self.dns_lookup(r, host).await })
    }

    /// The names of `ip` (PTR records), without the final dot: from the hosts file if it has the address,
    /// else a query through the VRF. Fails with [`NotFound`](io::ErrorKind::NotFound) when there is none.
    pub async fn lookup_addr(&self, ip: IpAddr) -> io::Result<Vec<String>> {
        match self.local_names(ip) {
            Some(names) => Ok(names),
            None => self.dns_reverse(&self.inner.resolver, ip).await,
        }
    }

    /// [`VrfResolver::lookup_addr`] for code without a tokio runtime (it works inside one too).
    pub fn lookup_addr_blocking(&self, ip: IpAddr) -> io::Result<Vec<String>> {
        if let Some(names) = self.local_names(ip) {
            return Ok(names);
        }
        self.block_on(|r| async move { self.dns_reverse(r, ip).await })
    }

    /// Resolves `host` and connects to `port` asynchronously, trying every address happy-eyeballs
    /// style; see [`Vrf::tcp_connect_host`].
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
    ) -> io::Result<tokio::net::TcpStream> {
        let addrs = self.lookup_ip(host).await?;
        connect_any(&self.inner.vrf, host, port, &addrs, opts).await
    }

    /// Resolves `host` and connects to `port`, blocking; see [`Vrf::tcp_connect_host`].
    pub fn tcp_connect(
        &self,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
    ) -> io::Result<std::net::TcpStream> {
        let addrs = self.lookup_ip_blocking(host)?;
        let vrf = &self.inner.vrf;
        if let [ip] = addrs[..]
            && opts.source.is_none_or(|s| s.is_ipv4() == ip.is_ipv4())
        {
            return vrf
                .tcp_connect_with(SocketAddr::new(ip, port), opts)
                .map_err(|e| connect_error(vrf, host, port, &[(SocketAddr::new(ip, port), e)]));
        }
        self.block_on(|_| async move {
            let stream = connect_any(vrf, host, port, &addrs, opts).await?;
            let stream = stream.into_std()?;
            stream.set_nonblocking(false)?;
            Ok(stream)
        })
    }

    /// An IP literal, or the hosts file's answer.
    fn local_answer(&self, host: &str) -> io::Result<Option<Vec<IpAddr>>> {
        if let Some(ip) = ip_literal(host) {
            return Ok(Some(vec![ip]));
        }
        let name = self.name(host)?;
        let mut ips = Vec::new();
        let types: &[RecordType] = match self.inner.family {
            Some(AddressFamily::Ipv4) => &[RecordType::A],
            Some(AddressFamily::Ipv6) => &[RecordType::AAAA],
            None => &[RecordType::AAAA, RecordType::A],
        };
        for &ty in types {
            if let Some(lookup) = self
                .inner
                .hosts
                .lookup_static_host(&Query::query(name.clone(), ty))
            {
                ips.extend(lookup.answers().iter().filter_map(|r| r.data.ip_addr()));
            }
        }
        Ok((!ips.is_empty()).then_some(ips))
    }

    /// The hosts file's names for `ip`.
    fn local_names(&self, ip: IpAddr) -> Option<Vec<String>> {
        let query = Query::query(Name::from(ip), RecordType::PTR);
        let lookup = self.inner.hosts.lookup_static_host(&query)?;
        let names = ptr_names(lookup.answers());
        (!names.is_empty()).then_some(names)
    }

    async fn dns_reverse(
        &self,
        resolver: &Resolver<VrfRuntimeProvider>,
        ip: IpAddr,
    ) -> io::Result<Vec<String>> {
        let host = ip.to_string();
        if self.inner.servers.is_empty() {
            return Err(self.no_server_error(&host));
        }
        match resolver.reverse_lookup(Name::from(ip)).await {
            Ok(lookup) => {
                let names = ptr_names(lookup.answers());
                if names.is_empty() {
                    return Err(self.error(
                        &host,
                        io::ErrorKind::NotFound,
                        "no name (no PTR record)",
                    ));
                }
                Ok(names)
            }
            Err(e) if e.is_no_records_found() => {
                Err(self.error(&host, io::ErrorKind::NotFound, "no name (no PTR record)"))
            }
            Err(e) => Err(self.lookup_error(&host, &e)),
        }
    }

    fn name(&self, host: &str) -> io::Result<Name> {
        if host.is_empty() {
            return Err(self.error(host, io::ErrorKind::InvalidInput, "empty host name"));
        }
        Name::from_str(&host.to_ascii_lowercase()).map_err(|e| {
            self.error(
                host,
                io::ErrorKind::InvalidInput,
                format!("not a valid host name ({e})"),
            )
        })
    }

    async fn dns_lookup(
        &self,
        resolver: &Resolver<VrfRuntimeProvider>,
        host: &str,
    ) -> io::Result<Vec<IpAddr>> {
        if self.inner.servers.is_empty() {
            return Err(self.no_server_error(host));
        }
        let name = self.name(host)?;
        match resolver.lookup_ip(name).await {
            Ok(lookup) => {
                let mut ips: Vec<IpAddr> = Vec::new();
                for ip in lookup.iter() {
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                if ips.is_empty() {
                    return Err(self.error(
                        host,
                        io::ErrorKind::NotFound,
                        "the name has no address (no A or AAAA record)",
                    ));
                }
                Ok(ips)
            }
            Err(e) => Err(self.lookup_error(host, &e)),
        }
    }

    /// Runs `f(resolver)` on the blocking runtime, on this thread or, inside another runtime, on a
    /// helper thread (which inherits this thread's network namespace).
    fn block_on<'a, F, T>(
        &'a self,
        f: impl FnOnce(&'a Resolver<VrfRuntimeProvider>) -> F,
    ) -> io::Result<T>
    where
        F: Future<Output = io::Result<T>> + Send,
        T: Send,
    {
        let b = self.blocking()?;
        let runtime = b.runtime.as_ref().expect("runtime lives until drop");
        let fut = f(&b.resolver);
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| runtime.block_on(fut))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            runtime.block_on(fut)
        }
    }

    fn blocking(&self) -> io::Result<&Blocking> {
        if let Some(b) = self.inner.blocking.get() {
            return Ok(b);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // The resolver only records the runtime's handle when it spawns, inside `block_on`.
        let resolver = self.inner.recipe.build(&self.inner.vrf)?;
        // A racing thread may have won: then this one is dropped (shut down in the background).
        let _ = self.inner.blocking.set(Blocking {
            runtime: Some(runtime),
            resolver,
        });
        Ok(self.inner.blocking.get().expect("just set"))
    }

    fn error(&self, host: &str, kind: io::ErrorKind, cause: impl fmt::Display) -> io::Error {
        io::Error::new(
            kind,
            format!("resolving {host:?} in VRF {}: {cause}", self.inner.vrf),
        )
    }

    /// No name server left to ask: say why, and where the VRF's servers go.
    fn no_server_error(&self, host: &str) -> io::Error {
        let vrf = self.inner.vrf.name();
        let fix = format!(
            "put the VRF's servers in {}",
            crate::paths::vrf_resolv_conf(vrf).display()
        );
        let cause = if self.inner.skipped.is_empty() {
            format!(
                "no name server in {}: {fix}",
                self.inner.conf_path.display()
            )
        } else {
            let why: Vec<String> = self.inner.skipped.iter().map(|s| s.to_string()).collect();
            format!("{}: {fix}", why.join("; "))
        };
        self.error(host, io::ErrorKind::AddrNotAvailable, cause)
    }

    fn servers_text(&self) -> String {
        let list: Vec<String> = self
            .inner
            .servers
            .iter()
            .map(|s| s.ip().to_string())
            .collect();
        let mut text = format!(
            "name server{} {}",
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        );
        if !self.inner.skipped.is_empty() {
            let why: Vec<String> = self.inner.skipped.iter().map(|s| s.to_string()).collect();
            text.push_str(&format!(" (skipped: {})", why.join("; ")));
        }
        text
    }

    fn lookup_error(&self, host: &str, e: &NetError) -> io::Error {
        use io::ErrorKind as K;
        if e.is_nx_domain() {
            return self.error(host, K::NotFound, "name does not exist (NXDOMAIN)");
        }
        if e.is_no_records_found() {
            return self.error(
                host,
                K::NotFound,
                "the name has no address (no A or AAAA record)",
            );
        }
        let r = &self.inner.recipe;
        let timed_out = || {
            self.error(
                host,
                K::TimedOut,
                format!(
                    "no answer from {} (timeout {:?}, {} attempt{})",
                    self.servers_text(),
                    r.timeout,
                    r.attempts,
                    if r.attempts == 1 { "" } else { "s" }
                ),
            )
        };
        match e {
            NetError::Timeout => timed_out(),
            NetError::Io(io) if io.kind() == K::TimedOut => timed_out(),
            NetError::Io(io) => self.error(
                host,
                io.kind(),
                format!("asking {}: {io}", self.servers_text()),
            ),
            NetError::Dns(DnsError::ResponseCode(code)) => self.error(
                host,
                K::Other,
                format!(
                    "{} answered {}",
                    self.servers_text(),
                    response_code_text(*code)
                ),
            ),
            NetError::NoConnections => self.error(
                host,
                K::AddrNotAvailable,
                format!("no connection to {}", self.servers_text()),
            ),
            other => self.error(
                host,
                K::Other,
                format!("asking {}: {other}", self.servers_text()),
            ),
        }
    }
}

/// The names of PTR records, without the final dot, each once.
fn ptr_names(records: &[hickory_resolver::proto::rr::Record]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in records {
        if let RData::PTR(ptr) = &r.data {
            let n = ptr.0.to_string().trim_end_matches('.').to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

fn response_code_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL (server failure)".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::FormErr => "FORMERR (format error)".into(),
        ResponseCode::NotImp => "NOTIMP (not implemented)".into(),
        other => other.to_string(),
    }
}

fn read_hosts(path: &Path) -> io::Result<Hosts> {
    let file = std::fs::File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    let mut hosts = Hosts::default();
    hosts
        .read_hosts_conf(file)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    Ok(hosts)
}

/// Whether `ns` can be used from `vrf`: `Ok(scope)` with the interface index of a scoped server, or the
/// reason it cannot.
fn usable(vrf: &Vrf, ns: &ConfNameServer) -> Result<Option<NonZeroU32>, String> {
    let scope = match &ns.scope {
        None => None,
        Some(dev) => Some(scope_in_vrf(vrf, dev)?),
    };
    if ns.ip.is_loopback() && !local_in_vrf(vrf, ns.ip) {
        return Err(format!("is on loopback, unreachable from VRF {vrf}"));
    }
    Ok(scope)
}

/// The interface index of `dev` (a name or an index), if it is a device of `vrf`.
fn scope_in_vrf(vrf: &Vrf, dev: &str) -> Result<NonZeroU32, String> {
    let index = match dev.parse::<u32>() {
        Ok(i) => Some(i),
        Err(_) => netlink::get_links(LinkQuery::Name(dev))
            .ok()
            .and_then(|mut l| l.pop())
            .map(|l| l.index),
    }
    .and_then(NonZeroU32::new)
    .ok_or_else(|| format!("has scope {dev:?}, which is not a device"))?;
    match Vrf::of_device(index) {
        Ok(Some(v)) if v.index() == vrf.index() => Ok(index),
        Ok(Some(v)) => Err(format!(
            "is on device {dev}, which is in VRF {v}, not {vrf}"
        )),
        Ok(None) => Err(format!(
            "is on device {dev}, which is in the default VRF, not {vrf}"
        )),
        Err(e) => Err(format!("has scope {dev:?}: {e}")),
    }
}

/// Whether `ip` is an address of the VRF itself: `bind` of a UDP socket in the VRF looks the address up in
/// the VRF's table (nothing is sent). A `connect` would not tell: the main `local` table, consulted
/// before the VRF's, routes every loopback address through `lo`, out of the VRF.
fn local_in_vrf(vrf: &Vrf, ip: IpAddr) -> bool {
    vrf.udp_bind(SocketAddr::new(ip, 0)).is_ok()
}

/// `host` as an IP address: `10.0.0.1`, `2001:db8::1` or `[2001:db8::1]`.
fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// Happy eyeballs (RFC 8305) over `ips`: families interleaved (the first address's first), a new attempt
/// every 250 ms or as soon as one fails; the first connection wins and the others are dropped.
async fn connect_any(
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
        let want = if opts.source.is_some_and(|s| s.is_ipv4()) {
            "IPv4"
        } else {
            "IPv6"
        };
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "connecting to {host:?} port {port} in VRF {vrf}: no {want} address to go with source {} (addresses: {ips:?})",
                opts.source.map_or(String::new(), |s| s.to_string())
            ),
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

/// A non-blocking TCP socket in `vrf` for `addr`, from `source` if given. Made synchronously, so in the
/// calling thread's network namespace, whichever thread later drives the connect.
fn tcp_socket(
    vrf: &Vrf,
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<tokio::net::TcpSocket> {
    let s = vrf.socket(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if let Some(src) = source {
        s.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
    }
    Ok(tokio::net::TcpSocket::from_std_stream(s.into()))
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
            match tcp_socket(vrf, addr, source) {
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
    fn parses_a_resolv_conf_and_keeps_going_past_bad_lines() {
        let c = ResolvConf::parse(
            "# generated\n\
             nameserver 10.0.0.53\n\
             nameserver fe80::1%eth0\n\
             nameserver bogus\n\
             nameserver\n\
             nameserver 10.1.1.1%eth0\n\
             nameserver 2001:db8::53   # v6\n\
             nameserver 10.9.9.9\n\
             ; comment\n\
             search a.example b.example\n\
             options ndots:3 timeout:40 attempts:x rotate edns0 use-vc\n\
             frobnicate yes\n\
             sortlist 10.0.0.0/8\n",
        );
        let ips: Vec<String> = c.name_servers.iter().map(|n| n.to_string()).collect();
        assert_eq!(ips, ["10.0.0.53", "fe80::1%eth0", "2001:db8::53"]);
        assert_eq!(c.search, ["a.example", "b.example"]);
        assert_eq!(c.ndots, Some(3));
        assert_eq!(
            c.timeout,
            Some(Duration::from_secs(30)),
            "capped as glibc does"
        );
        assert_eq!(c.attempts, None);
        assert!(c.rotate && c.use_vc);
        let lines: Vec<usize> = c.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [4, 5, 6, 8, 11, 12], "{:#?}", c.warnings);
        assert!(c.warnings[0].reason.contains("not an IP address"));
        assert!(c.warnings[2].reason.contains("IPv6 only"));
        assert!(c.warnings[3].reason.contains("more than 3"));
        assert!(c.warnings[4].to_string().contains("attempts:x"));
        assert!(c.warnings[5].reason.contains("unknown keyword"));
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        let c = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(c.search, ["c.example"]);
        let c = ResolvConf::parse("domain c.example\nsearch x.example.\n");
        assert_eq!(c.search, ["x.example"]);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn ip_literals_and_interleaving() {
        assert_eq!(ip_literal("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal("[fd00::1]"), Some("fd00::1".parse().unwrap()));
        assert_eq!(ip_literal("fd00::1"), Some("fd00::1".parse().unwrap()));
        assert_eq!(ip_literal("example.com"), None);
        let ips: Vec<IpAddr> = ["fd00::1", "fd00::2", "fd00::3", "10.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let order: Vec<String> = interleave(&ips).iter().map(|i| i.to_string()).collect();
        assert_eq!(order, ["fd00::1", "10.0.0.1", "fd00::2", "fd00::3"]);
    }

    #[test]
    fn options_override_the_file_only_when_changed() {
        let o = ResolverOptions::default();
        assert_eq!((o.timeout, o.attempts), (DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS));
        let o = o.timeout(Duration::from_millis(300)).attempts(1);
        assert_eq!((o.timeout, o.attempts), (Duration::from_millis(300), 1));
    }

    /// Resolvers are shared across threads and their futures spawned on multi-thread runtimes.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn resolver_and_futures_are_send(r: &VrfResolver, vrf: &Vrf, opts: &ConnectOptions) {
        fn send<T: Send + Sync>(_: T) {}
        fn send_future<T: Send>(_: T) {}
        send(r.clone());
        send(VrfRuntimeProvider::new(vrf.clone()));
        send_future(r.lookup_ip("x"));
        send_future(r.lookup_addr(IpAddr::from([10, 0, 0, 1])));
        send_future(r.connect("x", 1, opts));
        send_future(connect_host(vrf, "x", 1, opts));
    }

    #[test]
    fn scopes_are_put_into_link_local_addresses() {
        let mut m = HashMap::new();
        m.insert("fe80::1".parse().unwrap(), 7);
        let a: SocketAddr = "[fe80::1]:53".parse().unwrap();
        match scoped(&m, a) {
            SocketAddr::V6(v6) => assert_eq!(v6.scope_id(), 7),
            other => panic!("{other}"),
        }
        let b: SocketAddr = "[fe80::2]:53".parse().unwrap();
        assert_eq!(scoped(&m, b), b);
    }
}
