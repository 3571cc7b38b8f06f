//! rtnetlink queries over a blocking netlink socket, one request per call, parsed with
//! netlink-packet-route's types: links (`RTM_GETLINK`) and the routes of one table (`RTM_GETROUTE`).

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVrf, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// What we need to know of a network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkDesc {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND: `vrf`, `veth`, … (`None` for devices without rtnl_link_ops, such as `lo`).
    pub kind: Option<String>,
    /// IFLA_VRF_TABLE, for VRFs.
    pub table: Option<u32>,
    /// IFLA_MASTER: the device this one is enslaved to.
    pub master: Option<u32>,
    /// IFF_UP: administratively up.
    pub up: bool,
}

impl LinkDesc {
    fn from_message(m: &LinkMessage) -> LinkDesc {
        let mut d = LinkDesc {
            index: m.header.index,
            name: String::new(),
            kind: None,
            table: None,
            master: None,
            up: m.header.flags.contains(LinkFlags::Up),
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => d.name = n.clone(),
                LinkAttribute::Controller(i) => d.master = Some(*i),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => d.kind = Some(kind_name(k)),
                            LinkInfo::Data(InfoData::Vrf(v)) => {
                                d.table = v.iter().find_map(|x| match x {
                                    InfoVrf::TableId(t) => Some(*t),
                                    _ => None,
                                })
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        d
    }

    /// True when the device is a VRF.
    pub fn is_vrf(&self) -> bool {
        self.kind.as_deref() == Some("vrf")
    }
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Other(s) => s.clone(),
        k => k.to_string(),
    }
}

/// Which device(s) a request asks for.
pub(crate) enum Query<'a> {
    Name(&'a str),
    Index(u32),
    /// Every device enslaved to master `ifindex`: a dump the kernel filters by `IFLA_MASTER` (a kernel
    /// too old to filter sends every device, so callers still check the master).
    Slaves(u32),
    All,
}

/// Asks the kernel for one device (`Ok(None)` when it does not exist) or, with [`Query::All`], for all.
pub(crate) fn get_links(query: Query<'_>) -> io::Result<Vec<LinkDesc>> {
    let mut msg = LinkMessage::default();
    let dump = match query {
        Query::Name(n) => {
            msg.attributes.push(LinkAttribute::IfName(n.to_string()));
            false
        }
        Query::Index(i) => {
            msg.header.index = i;
            false
        }
        Query::Slaves(master) => {
            msg.attributes.push(LinkAttribute::Controller(master));
            true
        }
        Query::All => true,
    };
    let replies = match request(RouteNetlinkMessage::GetLink(msg), dump, false) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(Vec::new()),
        r => r?,
    };
    Ok(replies
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(LinkDesc::from_message(l)),
            _ => None,
        })
        .collect())
}

/// What we need to know of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteDesc {
    /// `AF_INET` or `AF_INET6`.
    pub v6: bool,
    /// The destination's prefix length: 0 for a default route.
    pub prefix_len: u8,
    /// The route's table (`RTA_TABLE`, or the header's 8-bit field).
    pub table: u32,
    /// `RTN_THROW`: the lookup goes on with the next rule, as if the table had no route.
    pub throw: bool,
}

/// The routes of `table` in one family (`RTM_GETROUTE` dump). With strict checking (Linux 4.20 and
/// later) the kernel walks only that table; older kernels send every table, filtered here. A table that
/// does not exist yet has no routes.
pub(crate) fn get_routes(table: u32, v6: bool) -> io::Result<Vec<RouteDesc>> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.attributes.push(RouteAttribute::Table(table));
    let replies = match request(RouteNetlinkMessage::GetRoute(msg), true, true) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        r => r?,
    };
    Ok(replies
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(RouteDesc::from_message(r)),
            _ => None,
        })
        .filter(|r| r.table == table && r.v6 == v6)
        .collect())
}

impl RouteDesc {
    fn from_message(m: &RouteMessage) -> RouteDesc {
        let table = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(u32::from(m.header.table));
        RouteDesc {
            v6: m.header.address_family == AddressFamily::Inet6,
            prefix_len: m.header.destination_prefix_length,
            table,
            throw: m.header.kind == RouteType::Throw,
        }
    }
}

/// Sends one rtnetlink request and collects the replies: one message, or with `dump` every message until
/// `NLMSG_DONE`. `strict` turns on `NETLINK_GET_STRICT_CHK`, so the kernel applies the request's filters
/// to a dump. A netlink error comes back as the `io::Error` of its errno.
fn request(
    msg: RouteNetlinkMessage,
    dump: bool,
    strict: bool,
) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
    packet.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut out = vec![0; packet.buffer_len()];
    packet.serialize(&mut out);

    let mut socket = Socket::new(NETLINK_ROUTE)?;
    if strict {
        // Kernels before 4.20 do not know the option; they ignore the filters and send everything.
        let _ = socket.set_netlink_get_strict_chk(true);
    }
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&out, 0)?;

    let mut replies = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = socket.recv(&mut &mut buf[..], 0)?;
        let mut off = 0;
        while off < n {
            let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&buf[off..n])
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad rtnetlink reply: {e}"),
                    )
                })?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => {
                    replies.push(inner);
                    if !dump {
                        return Ok(replies);
                    }
                }
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => return Ok(replies),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host kernel (even without VRF support) has a `local` table with the loopback routes, and no
    /// table 3999: enough to test the table dump against a real kernel.
    #[test]
    fn dumps_one_table() {
        const LOCAL: u32 = 255;
        let local = get_routes(LOCAL, false).unwrap();
        assert!(
            local
                .iter()
                .any(|r| r.prefix_len == 8 || r.prefix_len == 32),
            "no loopback route in the local table: {local:?}"
        );
        assert!(local.iter().all(|r| r.table == LOCAL && !r.v6));
        assert_eq!(get_routes(3999, false).unwrap(), []);
        assert_eq!(get_routes(3999, true).unwrap(), []);
    }
}
