//! [`VrfResolver`]: a resolver scoped to one VRF, built from the VRF's resolv.conf and the hosts file, with
//! async and blocking lookups and errors that name the host, the VRF and the cause.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_resolver::Hosts;
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    ServerOrderingStrategy,
};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::conf::{ConfNameServer, ResolvConf};
use super::provider::{Scopes, VrfRuntimeProvider};
use crate::family::AddressFamily;
use crate::netlink::{self, Query as LinkQuery};
use crate::paths::{SYSTEM_HOSTS, resolv_conf_for};
use crate::vrf::Vrf;

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
    provider_scopes: Scopes,
    timeout: Duration,
    attempts: usize,
}

impl Recipe {
    fn build(&self, vrf: &Vrf) -> io::Result<Resolver<VrfRuntimeProvider>> {
        let provider =
            VrfRuntimeProvider::new(vrf.clone()).with_scopes(self.provider_scopes.clone());
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
                        scopes.insert(v6, index);
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
    pub(crate) fn block_on<'a, F, T>(
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
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_the_file_only_when_changed() {
        let o = ResolverOptions::default();
        assert_eq!((o.timeout, o.attempts), (DEFAULT_TIMEOUT, DEFAULT_ATTEMPTS));
        let o = o.timeout(Duration::from_millis(300)).attempts(1);
        assert_eq!((o.timeout, o.attempts), (Duration::from_millis(300), 1));
    }

    #[test]
    fn ip_literals() {
        assert_eq!(ip_literal("10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal("[fd00::1]"), Some("fd00::1".parse().unwrap()));
        assert_eq!(ip_literal("fd00::1"), Some("fd00::1".parse().unwrap()));
        assert_eq!(ip_literal("example.com"), None);
    }

    /// Resolvers are shared across threads and their futures spawned on multi-thread runtimes.
    #[allow(dead_code, clippy::let_underscore_future)]
    fn resolver_and_futures_are_send(r: &VrfResolver) {
        fn send<T: Send + Sync>(_: T) {}
        fn send_future<T: Send>(_: T) {}
        send(r.clone());
        send_future(r.lookup_ip("x"));
        send_future(r.lookup_addr(IpAddr::from([10, 0, 0, 1])));
    }
}
