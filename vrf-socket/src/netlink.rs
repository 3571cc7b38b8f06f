//! rtnetlink link queries (RTM_GETLINK), over a blocking netlink socket: one request per call, parsed with
//! netlink-packet-route's types.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVrf, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
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
    All,
}

/// Asks the kernel for one device (`Ok(None)` when it does not exist) or, with [`Query::All`], for all.
pub(crate) fn get_links(query: Query<'_>) -> io::Result<Vec<LinkDesc>> {
    let mut msg = LinkMessage::default();
    let mut flags = NLM_F_REQUEST;
    match query {
        Query::Name(n) => msg.attributes.push(LinkAttribute::IfName(n.to_string())),
        Query::Index(i) => msg.header.index = i,
        Query::All => flags |= NLM_F_DUMP,
    }
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(msg)),
    );
    packet.header.flags = flags;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut out = vec![0; packet.buffer_len()];
    packet.serialize(&mut out);

    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&out, 0)?;

    let mut links = Vec::new();
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
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                    links.push(LinkDesc::from_message(&l));
                    if flags & NLM_F_DUMP == 0 {
                        return Ok(links);
                    }
                }
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    let err = e.to_io();
                    return match err.raw_os_error() {
                        Some(libc::ENODEV) => Ok(links),
                        _ => Err(err),
                    };
                }
                NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => return Ok(links),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}
