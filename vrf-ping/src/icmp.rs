//! ICMP and ICMPv6 echo packets: building requests, recognising our replies and our errors.
//!
//! Pure functions over byte slices (no sockets), unit-tested here.
//!
//! An echo request is the 8-byte ICMP header (type, code, checksum, identifier, sequence) followed by
//! `size` data bytes: the send time (16 bytes, a `struct timeval`, when `size >= 16`, so packet captures
//! show it as iputils' does), then this process's 8-byte cookie (when `size >= 24`), then the byte
//! pattern `i as u8` at offset `i`. The cookie tells our replies apart from those of another ping that
//! happens to use the same identifier on a raw socket.

use std::net::IpAddr;

/// ICMP echo reply.
pub const ECHO_REPLY_V4: u8 = 0;
/// ICMP echo request.
pub const ECHO_REQUEST_V4: u8 = 8;
/// ICMPv6 echo request.
pub const ECHO_REQUEST_V6: u8 = 128;
/// ICMPv6 echo reply.
pub const ECHO_REPLY_V6: u8 = 129;

/// Bytes of the ICMP echo header.
pub const HEADER_LEN: usize = 8;
/// Data bytes that carry the send time (`struct timeval`); smaller packets are not timed.
pub const TIMESTAMP_LEN: usize = 16;
/// Offset of the cookie in the data, and the data size from which it is sent.
const COOKIE_AT: usize = TIMESTAMP_LEN;
const COOKIE_LEN: usize = 8;

/// What identifies this process's echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    /// The echo identifier (for a datagram socket, the one the kernel writes: the socket's "port").
    pub id: u16,
    /// Random bytes carried in the data of requests with room for them.
    pub cookie: [u8; COOKIE_LEN],
}

/// Echo request builder: the packet is built once and only its sequence, time and checksum change.
#[derive(Debug, Clone)]
pub struct Request {
    packet: Vec<u8>,
    v6: bool,
}

impl Request {
    /// A request with `size` data bytes.
    pub fn new(v6: bool, ident: Ident, size: usize) -> Request {
        let mut packet = vec![0u8; HEADER_LEN + size];
        packet[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
        packet[4..6].copy_from_slice(&ident.id.to_be_bytes());
        for (i, b) in packet[HEADER_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        if size >= COOKIE_AT + COOKIE_LEN {
            packet[HEADER_LEN + COOKIE_AT..][..COOKIE_LEN].copy_from_slice(&ident.cookie);
        }
        Request { packet, v6 }
    }

    /// The packet for sequence `seq` sent at `now` (seconds and microseconds since the epoch). The
    /// checksum is filled in for ICMPv4; for ICMPv6 (and ICMPv4 datagram sockets) the kernel writes it.
    pub fn packet(&mut self, seq: u16, now: (u64, u32)) -> &[u8] {
        self.packet[6..8].copy_from_slice(&seq.to_be_bytes());
        if self.packet.len() >= HEADER_LEN + TIMESTAMP_LEN {
            let t = &mut self.packet[HEADER_LEN..HEADER_LEN + TIMESTAMP_LEN];
            t[..8].copy_from_slice(&now.0.to_ne_bytes());
            t[8..].copy_from_slice(&u64::from(now.1).to_ne_bytes());
        }
        if !self.v6 {
            self.packet[2..4].fill(0);
            let sum = checksum(&self.packet);
            self.packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        &self.packet
    }
}

/// The Internet checksum (RFC 1071) of `data`; 0 when `data` already holds a correct checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One of our echo replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Its sequence number.
    pub seq: u16,
    /// Bytes of ICMP (header and data), as iputils counts them.
    pub len: usize,
    /// TTL or hop limit from the IPv4 header (raw IPv4 sockets); otherwise from a control message.
    pub ttl: Option<u8>,
    /// The checksum does not add up (checked on raw IPv4 sockets only).
    pub bad_checksum: bool,
}

/// How [`parse_reply`] should read a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A raw IPv4 socket: the packet starts with the IP header.
    RawV4,
    /// An ICMPv4 datagram socket: the packet is the ICMP message.
    DatagramV4,
    /// An ICMPv6 socket of either kind: the packet is the ICMPv6 message.
    V6,
}

/// Our echo reply in `packet`, or `None` for anything else (another process's reply, another ICMP type,
/// a runt).
pub fn parse_reply(packet: &[u8], framing: Framing, ident: &Ident, size: usize) -> Option<Reply> {
    let (icmp, ttl) = match framing {
        Framing::RawV4 => {
            let ihl = usize::from(*packet.first()? & 0x0f) * 4;
            if ihl < 20 || packet.len() < ihl + HEADER_LEN {
                return None;
            }
            (&packet[ihl..], Some(packet[8]))
        }
        Framing::DatagramV4 | Framing::V6 => (packet, None),
    };
    if icmp.len() < HEADER_LEN {
        return None;
    }
    let want_type = if framing == Framing::V6 {
        ECHO_REPLY_V6
    } else {
        ECHO_REPLY_V4
    };
    if icmp[0] != want_type || !ours(icmp, ident, size) {
        return None;
    }
    Some(Reply {
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        len: icmp.len(),
        ttl,
        bad_checksum: framing == Framing::RawV4 && checksum(icmp) != 0,
    })
}

/// Whether the echo message `icmp` (request or reply) carries our identifier and, where both it and our
/// requests have room for it, our cookie.
fn ours(icmp: &[u8], ident: &Ident, size: usize) -> bool {
    if u16::from_be_bytes([icmp[4], icmp[5]]) != ident.id {
        return false;
    }
    let at = HEADER_LEN + COOKIE_AT;
    if size < COOKIE_AT + COOKIE_LEN || icmp.len() < at + COOKIE_LEN {
        return true;
    }
    icmp[at..at + COOKIE_LEN] == ident.cookie
}

/// The sequence number of our echo request quoted in an ICMP error from the socket's error queue
/// (`payload`: the original ICMP message as the kernel queued it; `original_dst`: its destination).
pub fn parse_error_payload(
    payload: &[u8],
    original_dst: Option<IpAddr>,
    dest: IpAddr,
    v6: bool,
    ident: &Ident,
    size: usize,
) -> Option<u16> {
    let want_type = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    if payload.len() < HEADER_LEN || payload[0] != want_type || original_dst != Some(dest) {
        return None;
    }
    ours(payload, ident, size).then(|| u16::from_be_bytes([payload[6], payload[7]]))
}

/// iputils' description of an ICMPv4 error (type, code; `info` is the MTU for "fragmentation needed").
pub fn describe_v4(kind: u8, code: u8, info: u32) -> String {
    let s = match (kind, code) {
        (3, 0) => "Destination Net Unreachable",
        (3, 1) => "Destination Host Unreachable",
        (3, 2) => "Destination Protocol Unreachable",
        (3, 3) => "Destination Port Unreachable",
        (3, 4) => return format!("Frag needed and DF set (mtu = {info})"),
        (3, 5) => "Source Route Failed",
        (3, 6) => "Destination Net Unknown",
        (3, 7) => "Destination Host Unknown",
        (3, 8) => "Source Host Isolated",
        (3, 9) => "Destination Net Prohibited",
        (3, 10) => "Destination Host Prohibited",
        (3, 11) => "Destination Net Unreachable for Type of Service",
        (3, 12) => "Destination Host Unreachable for Type of Service",
        (3, 13) => "Packet filtered",
        (3, 14) => "Precedence Violation",
        (3, 15) => "Precedence Cutoff",
        (3, c) => return format!("Dest Unreachable, Bad Code: {c}"),
        (4, _) => "Source Quench",
        (11, 0) => "Time to live exceeded",
        (11, 1) => "Frag reassembly time exceeded",
        (11, c) => return format!("Time exceeded, Bad Code: {c}"),
        (12, _) => return format!("Parameter problem: pointer = {info}"),
        (t, _) => return format!("Bad ICMP type: {t}"),
    };
    s.to_string()
}

/// iputils' description of an ICMPv6 error.
pub fn describe_v6(kind: u8, code: u8, info: u32) -> String {
    match kind {
        1 => {
            let what = match code {
                0 => "No route".to_string(),
                1 => "Administratively prohibited".to_string(),
                2 => "Beyond scope of source address".to_string(),
                3 => "Address unreachable".to_string(),
                4 => "Port unreachable".to_string(),
                5 => "Source address failed ingress/egress policy".to_string(),
                6 => "Reject route to destination".to_string(),
                c => format!("Unknown code {c}"),
            };
            format!("Destination unreachable: {what}")
        }
        2 if code != 0 => format!("Packet too big: mtu={info}, code={code}"),
        2 => format!("Packet too big: mtu={info}"),
        3 => match code {
            0 => "Time exceeded: Hop limit".to_string(),
            1 => "Time exceeded: Defragmentation failure".to_string(),
            c => format!("Time exceeded: code {c}"),
        },
        4 => {
            let what = match code {
                0 => "Wrong header field ".to_string(),
                1 => "Unknown header ".to_string(),
                2 => "Unknown option ".to_string(),
                c => format!("code {c} "),
            };
            format!("Parameter problem: {what}at {info}")
        }
        t => format!("unknown icmp type: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Ident = Ident {
        id: 0x1234,
        cookie: *b"cookie!!",
    };

    fn reply_of(request: &[u8], v6: bool) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        r[2..4].fill(0);
        let sum = checksum(&r);
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    fn with_ip_header(icmp: &[u8], ttl: u8) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 1, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1,
        ];
        p.extend_from_slice(icmp);
        p
    }

    #[test]
    fn checksum_of_a_known_packet() {
        // An echo request id 1 seq 1 with no data: type 8, sum = !(0x0800 + 1 + 1).
        let mut p = [8u8, 0, 0, 0, 0, 1, 0, 1];
        let sum = checksum(&p);
        assert_eq!(sum, !0x0802);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&p), 0);
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn request_layout() {
        let mut r = Request::new(false, ID, 56);
        let p = r.packet(7, (1, 2)).to_vec();
        assert_eq!(p.len(), 64);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&p[8..16], &1u64.to_ne_bytes());
        assert_eq!(&p[24..32], b"cookie!!");
        assert_eq!(p[32], 24, "pattern byte i at data offset i");
        assert_eq!(checksum(&p), 0);
        assert_eq!(
            Request::new(true, ID, 0).packet(1, (0, 0))[0],
            ECHO_REQUEST_V6
        );
    }

    #[test]
    fn our_replies_are_recognised_in_every_framing() {
        let mut r = Request::new(false, ID, 56);
        let reply = reply_of(r.packet(3, (5, 6)), false);
        let want = Reply {
            seq: 3,
            len: 64,
            ttl: Some(101),
            bad_checksum: false,
        };
        assert_eq!(
            parse_reply(&with_ip_header(&reply, 101), Framing::RawV4, &ID, 56),
            Some(want)
        );
        assert_eq!(
            parse_reply(&reply, Framing::DatagramV4, &ID, 56),
            Some(Reply { ttl: None, ..want })
        );
        let mut r6 = Request::new(true, ID, 56);
        let reply6 = reply_of(r6.packet(9, (0, 0)), true);
        assert_eq!(
            parse_reply(&reply6, Framing::V6, &ID, 56).map(|r| r.seq),
            Some(9)
        );
        let mut corrupt = with_ip_header(&reply, 64);
        corrupt[40] ^= 1;
        assert!(
            parse_reply(&corrupt, Framing::RawV4, &ID, 56)
                .unwrap()
                .bad_checksum
        );
    }

    #[test]
    fn other_processes_replies_are_not_ours() {
        let mut r = Request::new(false, ID, 56);
        let reply = reply_of(r.packet(3, (0, 0)), false);
        let other_id = Ident { id: 0x4321, ..ID };
        assert_eq!(
            parse_reply(&reply, Framing::DatagramV4, &other_id, 56),
            None
        );
        let same_id_other_cookie = Ident {
            cookie: *b"otherone",
            ..ID
        };
        assert_eq!(
            parse_reply(&reply, Framing::DatagramV4, &same_id_other_cookie, 56),
            None
        );
        // Too small for a cookie: the identifier alone decides.
        let mut small = Request::new(false, ID, 8);
        let reply = reply_of(small.packet(1, (0, 0)), false);
        assert!(parse_reply(&reply, Framing::DatagramV4, &same_id_other_cookie, 8).is_some());
        // Requests, runts and bad IP headers are ignored.
        assert_eq!(
            parse_reply(r.packet(3, (0, 0)), Framing::DatagramV4, &ID, 56),
            None
        );
        assert_eq!(parse_reply(&[0, 0, 0], Framing::DatagramV4, &ID, 56), None);
        assert_eq!(parse_reply(&[0x41; 30], Framing::RawV4, &ID, 56), None);
        assert_eq!(parse_reply(&[], Framing::RawV4, &ID, 56), None);
    }

    #[test]
    fn errors_quote_our_request() {
        let dest: IpAddr = "10.99.0.3".parse().unwrap();
        let mut r = Request::new(false, ID, 56);
        let req = r.packet(4, (0, 0)).to_vec();
        assert_eq!(
            parse_error_payload(&req, Some(dest), dest, false, &ID, 56),
            Some(4)
        );
        // Only the header quoted (a remote router may quote 8 bytes): the identifier decides.
        assert_eq!(
            parse_error_payload(&req[..8], Some(dest), dest, false, &ID, 56),
            Some(4)
        );
        let other: IpAddr = "10.99.0.4".parse().unwrap();
        assert_eq!(
            parse_error_payload(&req, Some(other), dest, false, &ID, 56),
            None
        );
        assert_eq!(parse_error_payload(&req, None, dest, false, &ID, 56), None);
        assert_eq!(
            parse_error_payload(&req, Some(dest), dest, true, &ID, 56),
            None
        );
    }

    #[test]
    fn error_texts_are_iputils() {
        assert_eq!(describe_v4(3, 1, 0), "Destination Host Unreachable");
        assert_eq!(
            describe_v4(3, 4, 1400),
            "Frag needed and DF set (mtu = 1400)"
        );
        assert_eq!(describe_v4(11, 0, 0), "Time to live exceeded");
        assert_eq!(
            describe_v6(1, 3, 0),
            "Destination unreachable: Address unreachable"
        );
        assert_eq!(describe_v6(2, 0, 1280), "Packet too big: mtu=1280");
        assert_eq!(describe_v6(3, 0, 0), "Time exceeded: Hop limit");
        assert_eq!(
            describe_v6(4, 1, 6),
            "Parameter problem: Unknown header at 6"
        );
    }
}
