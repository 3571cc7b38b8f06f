//! sock_diag (`NETLINK_SOCK_DIAG`, `SOCK_DIAG_BY_FAMILY`): the kernel's dump of the TCP, UDP and raw
//! sockets of the network namespace, what `ss` reads. Each socket comes with the device it is bound to
//! (`idiag_if`, the socket's `sk_bound_dev_if`), which is what places it in a VRF. The messages are
//! netlink-packet-sock-diag's.
//!
//! The kernel has no sock_diag handler for ICMP datagram ("ping") sockets; `inventory` finds those in
//! `/proc/net/icmp` instead.

use std::io;
use std::net::SocketAddr;

use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{AF_INET, AF_INET6, SockDiagMessage};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::netlink::Channel;

/// `IPPROTO_TCP`, `IPPROTO_UDP`, and `IPPROTO_RAW` (which asks for the raw sockets of every protocol).
pub(crate) const TCP: u8 = libc::IPPROTO_TCP as u8;
pub(crate) const UDP: u8 = libc::IPPROTO_UDP as u8;
pub(crate) const RAW: u8 = libc::IPPROTO_RAW as u8;

/// One socket as sock_diag describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiagSocket {
    pub v6: bool,
    /// The kernel's TCP state numbers, which UDP and raw sockets use too (`TCP_CLOSE`: unconnected).
    pub state: u8,
    /// For a raw socket, the port is its protocol (the kernel keeps it in `inet_num`).
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `sk_bound_dev_if`: 0 when unbound.
    pub bound_if: u32,
    pub uid: u32,
    /// 0 for sockets no file refers to (`TIME-WAIT`, half-open connections).
    pub inode: u32,
}

/// A sock_diag channel for a series of [`dump`]s.
pub(crate) fn channel() -> io::Result<Channel> {
    Channel::open(NETLINK_SOCK_DIAG, false)
}

/// Every socket of `protocol` ([`TCP`], [`UDP`], [`RAW`]) in one family, in every state. The kernel
/// loads the handler for UDP and raw sockets (modules `udp_diag`, `raw_diag`) on demand; where it has
/// none the dump fails with `ENOENT`.
pub(crate) fn dump(channel: &mut Channel, v6: bool, protocol: u8) -> io::Result<Vec<DiagSocket>> {
    let request = InetRequest {
        family: if v6 { AF_INET6 } else { AF_INET },
        protocol,
        extensions: ExtensionFlags::empty(),
        // Every state, `TCP_NEW_SYN_RECV` (12) included, which the crate's flags do not name.
        states: StateFlags::from_bits_retain(u32::MAX),
        socket_id: if v6 {
            SocketId::new_v6()
        } else {
            SocketId::new_v4()
        },
    };
    let replies = channel.request(SockDiagMessage::InetRequest(request), true)?;
    Ok(replies
        .into_iter()
        .filter_map(|m| match m {
            SockDiagMessage::InetResponse(r) => {
                let h = &r.header;
                let id = &h.socket_id;
                Some(DiagSocket {
                    v6: h.family == AF_INET6,
                    state: h.state,
                    local: SocketAddr::new(id.source_address, id.source_port),
                    remote: SocketAddr::new(id.destination_address, id.destination_port),
                    bound_if: id.interface_id,
                    uid: h.uid,
                    inode: h.inode,
                })
            }
            _ => None,
        })
        .collect())
}
