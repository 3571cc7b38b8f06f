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
//! - [`Vrf::tcp_connect_host`] (std) and [`connect_host`](crate::tokio::connect_host) (tokio):
//!   resolve in the VRF and connect, trying every address happy-eyeballs style (RFC 8305);
//!   [`connect_ips`](crate::tokio::connect_ips) races addresses resolved beforehand.
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
//! [`Vrf::resolver`]: crate::Vrf::resolver
//! [`Vrf::resolver_with`]: crate::Vrf::resolver_with
//! [`Vrf::tcp_connect_host`]: crate::Vrf::tcp_connect_host
//! [`Vrf::socket`]: crate::Vrf::socket
//! [`io::ErrorKind::AddrNotAvailable`]: std::io::ErrorKind::AddrNotAvailable
//!
//! # Layout
//!
//! - `conf`: reading resolv.conf ([`ResolvConf`]).
//! - `provider`: the hickory runtime provider whose sockets are bound to the VRF ([`VrfRuntimeProvider`]).
//! - `resolver`: [`VrfResolver`], its options, lookups and errors.

mod conf;
mod provider;
mod resolver;

pub use conf::{ConfNameServer, ConfWarning, ResolvConf};
pub use provider::{VrfRuntimeProvider, VrfUdpSocket};
pub(crate) use resolver::ip_literal;
pub use resolver::{ResolverOptions, SkippedServer, VrfResolver};
