//! Find Linux VRFs and open sockets scoped to them.
//!
//! A VRF (Virtual Routing and Forwarding) device is the kernel's l3mdev: `ip link add blue type vrf table
//! 10` creates one, `ip link set eth1 master blue` puts a device in it, and a socket bound to the VRF
//! device (`SO_BINDTOIFINDEX` / `SO_BINDTODEVICE`) routes through the VRF's table only.
//!
//! - [`Vrf`]: look a VRF up by name or index over rtnetlink, list VRFs and their slaves, find the VRF of a
//!   device by name or index ([`Vrf::of_device`]); [`VrfMap`] caches that answer per device. A `Vrf`
//!   displays as its device name (`format!("VRF {vrf}")` gives `VRF blue`).
//! - [`Vrf::tcp_connect`], [`Vrf::tcp_listen`], [`Vrf::udp_bind`], [`Vrf::icmp_socket`], [`Vrf::socket`]:
//!   sockets bound to a VRF, as std types.
//! - [`bound_vrf`]: the VRF a socket is scoped to, e.g. the VRF an accepted connection arrived in. It
//!   takes anything with a file descriptor (`AsFd`): std, socket2 and tokio sockets alike.
//! - [`pktinfo`]: one UDP socket serving many VRFs: learn each datagram's ingress device and VRF from
//!   `IP_PKTINFO`, and reply through the same VRF from the same address ([`cmsg`] is the codec).
//! - [`cmsg`]: the workspace's one control-message codec (pktinfo, `SCM_TIMESTAMPNS`, `IP_TTL`,
//!   `IPV6_HOPLIMIT`, `IP_RECVERR`/`IPV6_RECVERR` with the offender) and [`cmsg::recvmsg`], one message
//!   with its control data and the caller's flags (`MSG_ERRQUEUE`, `MSG_DONTWAIT` …).
//! - [`AddressFamily`]: IPv4 or IPv6, the one vocabulary for `-4`/`-6`, socket domains and DNS records.
//! - [`paths`]: where a VRF's configuration files live (`/etc/vrf/NAME/resolv.conf`).
//!
//! Features:
//!
//! - `tokio`: async versions in `vrf_socket::tokio` (connect, listen, UDP, pktinfo). The feature brings
//!   no runtime: the application depends on tokio itself with the runtime features it uses (`rt` or
//!   `rt-multi-thread`, and `macros` for `#[tokio::main]`); see `examples/tokio_hello.rs`.
//! - `dns` (enables `tokio`): `dns`, a resolver whose queries leave through the VRF, configured
//!   from the VRF's own resolv.conf, and connect-by-name (`Vrf::tcp_connect_host`,
//!   `tokio::connect_host`) that tries every address happy-eyeballs style.
//!
//! Interface indexes are `NonZeroU32` everywhere (`Vrf::index`, `Vrf::by_index`, `Vrf::of_device`,
//! [`VrfMap::vrf_of`], `RecvMeta::ifindex`, [`bound_index`]): the kernel never gives a device index 0.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use vrf_socket::Vrf;
//!
//! let blue = Vrf::by_name("blue")?;
//! blue.ensure_up()?;
//! let listener = blue.tcp_listen("0.0.0.0:7000".parse().unwrap())?;
//! let (mut conn, peer) = listener.accept()?;
//! conn.write_all(b"hello from VRF blue\n")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

pub mod bind;
pub mod cmsg;
#[cfg(feature = "tokio")]
mod connect;
#[cfg(feature = "dns")]
pub mod dns;
mod error;
mod family;
pub mod inventory;
pub mod name;
mod netlink;
pub mod paths;
pub mod pktinfo;
mod sock_diag;
mod socket;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
mod vrf;

pub use bind::{bind_to_index, bind_to_vrf, bound_index, bound_vrf};
#[cfg(feature = "dns")]
pub use dns::{ResolverOptions, VrfResolver};
pub use error::VrfError;
pub use family::AddressFamily;
pub use name::{InvalidName, validate_name};
pub use socket::{ConnectOptions, IcmpKind, IcmpSocket, icmp_socket_type};
pub use vrf::{Device, Slave, Vrf, VrfMap, VrfSnapshot};
