//! Find Linux VRFs and open sockets scoped to them.
//!
//! A VRF (Virtual Routing and Forwarding) device is the kernel's l3mdev: `ip link add blue type vrf table
//! 10` creates one, `ip link set eth1 master blue` puts a device in it, and a socket bound to the VRF
//! device (`SO_BINDTOIFINDEX` / `SO_BINDTODEVICE`) routes through the VRF's table only.
//!
//! - [`Vrf`]: look a VRF up by name or index over rtnetlink, list VRFs and their slaves, find the VRF of a
//!   device.
//! - [`Vrf::tcp_connect`], [`Vrf::tcp_listen`], [`Vrf::udp_bind`], [`Vrf::icmp_socket`], [`Vrf::socket`]:
//!   sockets bound to a VRF, as std types; `vrf_socket::tokio` (feature `tokio`) for async ones.
//! - [`bound_vrf`]: the VRF a socket is scoped to, e.g. the VRF an accepted connection arrived in.
//! - [`pktinfo`]: one UDP socket serving many VRFs: learn each datagram's ingress device and VRF from
//!   `IP_PKTINFO`, and reply through the same VRF from the same address.
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
#[cfg(feature = "dns")]
pub mod dns;
mod error;
mod family;
pub mod name;
mod netlink;
pub mod paths;
pub mod pktinfo;
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
pub use vrf::{Device, Slave, Vrf, VrfMap};
