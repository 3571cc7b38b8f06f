//! Netlink over a blocking socket ([`Channel`]: requests, dumps that survive `ENOBUFS` and interruption),
//! and the rtnetlink queries: links (`RTM_GETLINK`) and routes (`RTM_GETROUTE`), the requests built
//! with netlink-packet-route's types, the replies read lean ([`Lean`]).

use std::fmt;
use std::io;

use netlink_packet_core::{
    DecodeError, Emitable, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkDeserializable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable, NlasIterator,
    ParseableParametrized,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVrf, LinkAttribute, LinkExtentMask, LinkFlags, LinkHeader, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::route::{RouteAttribute, RouteMessage};
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
    /// Reads an `RTM_NEWLINK` payload: the header, then only the attributes kept here.
    fn parse(payload: &[u8]) -> Result<LinkDesc, DecodeError> {
        let header = LinkHeader::parse(payload)?;
        let mut d = LinkDesc {
            index: header.index,
            name: String::new(),
            kind: None,
            table: None,
            master: None,
            up: header.flags.contains(LinkFlags::Up),
        };
        for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..).unwrap_or_default()) {
            let nla = nla?;
            match nla.kind() {
                IFLA_IFNAME | IFLA_MASTER | IFLA_LINKINFO => {}
                _ => continue,
            }
            match LinkAttribute::parse_with_param(&nla, header.interface_family)? {
                LinkAttribute::IfName(n) => d.name = n,
                LinkAttribute::Controller(i) => d.master = Some(i),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => d.kind = Some(kind_name(&k)),
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
        Ok(d)
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
/// The kernel is asked to leave out the devices' statistics, and of each reply only the name, master,
/// flags and link info are parsed: with thousands of devices, parsing every attribute of every device
/// costs more than the dump itself.
pub(crate) fn get_links(query: Query<'_>) -> io::Result<Vec<LinkDesc>> {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
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
    let mut channel = Channel::open(NETLINK_ROUTE, false)?;
    match channel.request(Exchange::<LinkDesc>::Request(msg), dump) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(Vec::new()),
        r => Ok(r?.into_iter().filter_map(Exchange::reply).collect()),
    }
}

/// A reply type read lean: only the fields we use, parsed from the payload by hand where the crate
/// would parse every attribute (with thousands of devices or routes, that parse costs more than the
/// dump). Requests are still built with netlink-packet-route's messages.
trait Lean: Sized + fmt::Debug {
    /// The request message (`LinkMessage`, `RouteMessage`).
    type Request: Emitable + fmt::Debug;
    /// `RTM_GET…`, the request's type.
    const GET: u16;
    /// `RTM_NEW…`, the replies' type.
    const NEW: u16;
    /// Reads a reply's payload.
    fn parse(payload: &[u8]) -> Result<Self, DecodeError>;
}

/// A request going out, or a reply coming in, of one [`Lean`] kind.
#[derive(Debug)]
enum Exchange<T: Lean> {
    Request(T::Request),
    Reply(T),
}

impl<T: Lean> Exchange<T> {
    fn reply(self) -> Option<T> {
        match self {
            Exchange::Reply(r) => Some(r),
            Exchange::Request(_) => None,
        }
    }
}

impl<T: Lean> NetlinkSerializable for Exchange<T> {
    fn message_type(&self) -> u16 {
        match self {
            Exchange::Request(_) => T::GET,
            Exchange::Reply(_) => T::NEW,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Exchange::Request(m) => m.buffer_len(),
            Exchange::Reply(_) => 0,
        }
    }

    fn serialize(&self, buffer: &mut [u8]) {
        if let Exchange::Request(m) = self {
            m.emit(buffer);
        }
    }
}

impl<T: Lean> NetlinkDeserializable for Exchange<T> {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        if header.message_type != T::NEW {
            return Err(DecodeError::from(format!(
                "unexpected rtnetlink message type {}",
                header.message_type
            )));
        }
        T::parse(payload).map(Exchange::Reply)
    }
}

/// `sizeof(struct ifinfomsg)`: the attributes follow it.
const LINK_HEADER_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;

impl Lean for LinkDesc {
    type Request = LinkMessage;
    const GET: u16 = 18; // RTM_GETLINK
    const NEW: u16 = 16; // RTM_NEWLINK

    fn parse(payload: &[u8]) -> Result<LinkDesc, DecodeError> {
        LinkDesc::parse(payload)
    }
}

/// A channel for a series of route dumps ([`get_routes_on`]): rtnetlink, strict checking on.
pub(crate) fn route_channel() -> io::Result<Channel> {
    Channel::open(NETLINK_ROUTE, true)
}

/// The routes of every table in one family, or `None` when there are more than `limit` of them (a
/// full Internet table in the default VRF): one dump instead of one per table, for a question about
/// thousands of tables.
pub(crate) fn get_all_routes_on(
    channel: &mut Channel,
    v6: bool,
    limit: usize,
) -> io::Result<Option<Vec<RouteDesc>>> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let replies = channel.request_limited(Exchange::<RouteDesc>::Request(msg), true, limit)?;
    Ok(replies.map(|r| {
        r.into_iter()
            .filter_map(Exchange::reply)
            .filter(|r| r.v6 == v6)
            .collect()
    }))
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
/// does not exist yet has no routes. Asked on a channel of [`route_channel`], for a series of tables.
pub(crate) fn get_routes_on(
    channel: &mut Channel,
    table: u32,
    v6: bool,
) -> io::Result<Vec<RouteDesc>> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.attributes.push(RouteAttribute::Table(table));
    let replies = match channel.request(Exchange::<RouteDesc>::Request(msg), true) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        r => r?,
    };
    Ok(replies
        .into_iter()
        .filter_map(Exchange::reply)
        .filter(|r| r.table == table && r.v6 == v6)
        .collect())
}

/// `sizeof(struct rtmsg)`.
const ROUTE_HEADER_LEN: usize = 12;
const RTA_TABLE: u16 = 15;
const RTN_THROW: u8 = 9;

impl Lean for RouteDesc {
    type Request = RouteMessage;
    const GET: u16 = 26; // RTM_GETROUTE
    const NEW: u16 = 24; // RTM_NEWROUTE

    fn parse(payload: &[u8]) -> Result<RouteDesc, DecodeError> {
        RouteDesc::parse(payload)
    }
}

impl RouteDesc {
    /// A default route of any type but `throw`: one that ends every lookup of its family in its table.
    pub(crate) fn ends_lookups(&self) -> bool {
        self.prefix_len == 0 && !self.throw
    }

    /// Reads an `RTM_NEWROUTE` payload: `struct rtmsg` (family, destination length, the table's low
    /// 8 bits, the route type), then only `RTA_TABLE`.
    fn parse(payload: &[u8]) -> Result<RouteDesc, DecodeError> {
        let Some(
            &[
                family,
                dst_len,
                _src_len,
                _tos,
                table8,
                _protocol,
                _scope,
                kind,
            ],
        ) = payload.first_chunk::<8>()
        else {
            return Err(DecodeError::buffer_too_small(
                payload.len(),
                ROUTE_HEADER_LEN,
            ));
        };
        let mut table = u32::from(table8);
        for nla in NlasIterator::new(payload.get(ROUTE_HEADER_LEN..).unwrap_or_default()) {
            let nla = nla?;
            if nla.kind() == RTA_TABLE {
                let v: [u8; 4] = nla
                    .value()
                    .try_into()
                    .map_err(|_| DecodeError::from("RTA_TABLE is not 4 bytes"))?;
                table = u32::from_ne_bytes(v);
            }
        }
        Ok(RouteDesc {
            v6: family == libc::AF_INET6 as u8,
            prefix_len: dst_len,
            table,
            throw: kind == RTN_THROW,
        })
    }
}

/// How many times a dump is started again after the kernel interrupted it (`NLM_F_DUMP_INTR`: the
/// objects changed while it was being sent) or the socket's receive buffer overflowed (`ENOBUFS`).
const DUMP_ATTEMPTS: usize = 4;

/// The receive buffer a dump gets after an `ENOBUFS` (the kernel doubles what it is given, and caps
/// it at `net.core.rmem_max` unless we may force it).
const LARGE_RCVBUF: usize = 4 << 20;

/// A netlink socket (rtnetlink or sock_diag) for a series of requests made by one query, so that a query
/// asking about thousands of VRFs opens one socket, not thousands. It asks the network namespace the
/// socket was opened in, which is why no socket outlives the query that opened it.
pub(crate) struct Channel {
    socket: Socket,
    protocol: isize,
    strict: bool,
    sequence: u32,
    buf: Vec<u8>,
}

impl Channel {
    /// A socket of netlink `protocol` (`NETLINK_ROUTE`, `NETLINK_SOCK_DIAG`). `strict` turns on
    /// `NETLINK_GET_STRICT_CHK`, so that the kernel applies a dump request's filters.
    pub(crate) fn open(protocol: isize, strict: bool) -> io::Result<Channel> {
        let mut socket = Socket::new(protocol)?;
        if strict {
            // Kernels before 4.20 do not know the option; they ignore the filters and send everything.
            let _ = socket.set_netlink_get_strict_chk(true);
        }
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Channel {
            socket,
            protocol,
            strict,
            sequence: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Sends one request and collects the replies: one message, or with `dump` every message until
    /// `NLMSG_DONE`. A netlink error comes back as the `io::Error` of its errno. A dump that overflows
    /// the receive buffer (`ENOBUFS`, seen with thousands of devices) is started again on a fresh socket
    /// with a larger buffer, a few times, then fails with that error. A dump the kernel marks
    /// interrupted (`NLM_F_DUMP_INTR`: the objects changed while it was sent) is started again too; the
    /// last attempt's replies are kept even if interrupted, as `ip` keeps them, since under constant
    /// change no dump is ever whole.
    pub(crate) fn request<M>(&mut self, msg: M, dump: bool) -> io::Result<Vec<M>>
    where
        M: NetlinkSerializable + NetlinkDeserializable + fmt::Debug,
    {
        Ok(self
            .request_limited(msg, dump, usize::MAX)?
            .unwrap_or_default())
    }

    /// [`Channel::request`] that gives up, with `Ok(None)`, once more than `limit` replies have come:
    /// for a dump that is only worth reading if it is small.
    pub(crate) fn request_limited<M>(
        &mut self,
        msg: M,
        dump: bool,
        limit: usize,
    ) -> io::Result<Option<Vec<M>>>
    where
        M: NetlinkSerializable + NetlinkDeserializable + fmt::Debug,
    {
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(msg));
        packet.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.sequence = self.sequence.wrapping_add(1);
            packet.header.sequence_number = self.sequence;
            packet.finalize();
            let mut out = vec![0; packet.buffer_len()];
            packet.serialize(&mut out);
            self.socket.send(&out, 0)?;
            let last = attempt == DUMP_ATTEMPTS;
            match self.collect(dump, limit, last) {
                Err(Retry::Again(e)) if !last => {
                    // Whatever is left of the broken dump stays on the old socket.
                    *self = Channel::open(self.protocol, self.strict)?;
                    if e.raw_os_error() == Some(libc::ENOBUFS) {
                        let _ = self.socket.set_rx_buf_sz(LARGE_RCVBUF);
                    }
                }
                Err(Retry::Again(e) | Retry::Fail(e)) => return Err(e),
                Err(Retry::TooMany) => {
                    *self = Channel::open(self.protocol, self.strict)?;
                    return Ok(None);
                }
                Ok(replies) => return Ok(Some(replies)),
            }
        }
    }

    /// Reads the replies to the request just sent (sequence `self.sequence`), at most `limit`; an
    /// interrupted dump is kept when it is the `last` attempt.
    fn collect<M>(&mut self, dump: bool, limit: usize, last: bool) -> Result<Vec<M>, Retry>
    where
        M: NetlinkDeserializable + fmt::Debug,
    {
        let mut replies = Vec::new();
        let mut interrupted = false;
        loop {
            let n = match self.socket.recv(&mut &mut self.buf[..], 0) {
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Err(Retry::Again(e)),
                r => r.map_err(Retry::Fail)?,
            };
            let mut off = 0;
            while off < n {
                let m: NetlinkMessage<M> =
                    NetlinkMessage::deserialize(&self.buf[off..n]).map_err(|e| {
                        Retry::Fail(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad netlink reply: {e}"),
                        ))
                    })?;
                let len = m.header.length as usize;
                if m.header.sequence_number != self.sequence {
                    // A late reply to an earlier request on this socket.
                } else {
                    interrupted |= m.header.flags & NLM_F_DUMP_INTR != 0;
                    match m.payload {
                        NetlinkPayload::InnerMessage(inner) => {
                            replies.push(inner);
                            if !dump {
                                return Ok(replies);
                            }
                            if replies.len() > limit {
                                return Err(Retry::TooMany);
                            }
                        }
                        NetlinkPayload::Error(e) if e.code.is_some() => {
                            return Err(Retry::Fail(e.to_io()));
                        }
                        NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => {
                            return if interrupted && !last {
                                Err(Retry::Again(io::Error::new(
                                    io::ErrorKind::Interrupted,
                                    "the kernel's netlink dump was interrupted by changes",
                                )))
                            } else {
                                Ok(replies)
                            };
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }
}

/// Why a request failed: worth starting again, or not.
enum Retry {
    Again(io::Error),
    Fail(io::Error),
    /// More replies than the caller wanted.
    TooMany,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host kernel (even without VRF support) has a `local` table with the loopback routes, and no
    /// table 3999: enough to test the table dump against a real kernel.
    #[test]
    fn dumps_one_table() {
        const LOCAL: u32 = 255;
        let mut ch = route_channel().unwrap();
        let mut get_routes = |table, v6| get_routes_on(&mut ch, table, v6);
        let local = get_routes(LOCAL, false).unwrap();
        assert!(
            local
                .iter()
                .any(|r| r.prefix_len == 8 || r.prefix_len == 32),
            "no loopback route in the local table: {local:?}"
        );
        assert!(local.iter().all(|r| r.table == LOCAL && !r.v6));
        let all = get_all_routes_on(&mut route_channel().unwrap(), false, usize::MAX)
            .unwrap()
            .unwrap();
        assert!(all.iter().any(|r| r.table == LOCAL), "{all:?}");
        assert!(all.iter().all(|r| !r.v6));
        assert_eq!(
            get_all_routes_on(&mut route_channel().unwrap(), false, 0).unwrap(),
            None,
            "more routes than the limit"
        );
        assert_eq!(get_routes(3999, false).unwrap(), []);
        assert_eq!(get_routes(3999, true).unwrap(), []);
    }
}
