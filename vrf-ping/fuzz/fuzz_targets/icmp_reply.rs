//! vrf-ping's ICMP parsers on arbitrary packets: `parse_reply` (raw IPv4 with its IP header, ICMPv4
//! and ICMPv6 datagram framing) and `parse_error_payload` must never panic, and a reply they accept must
//! be ours; and a request built by `Request`, turned into a reply, must be recognised with its sequence.
//!
//! Input: framing selector, identifier (2), cookie (8), data size (2), sequence (2), then the packet.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;

// vrf-ping is a binary crate: its pure ICMP module is compiled here as it is.
#[allow(dead_code)]
#[path = "../../src/icmp.rs"]
mod icmp;

use icmp::{Framing, Ident, Request};

fuzz_target!(|input: &[u8]| {
    if input.len() < 15 {
        return;
    }
    let (head, packet) = input.split_at(15);
    let framing = match head[0] % 3 {
        0 => Framing::RawV4,
        1 => Framing::DatagramV4,
        _ => Framing::V6,
    };
    let ident = Ident {
        id: u16::from_be_bytes([head[1], head[2]]),
        cookie: head[3..11].try_into().unwrap(),
    };
    let size = usize::from(u16::from_be_bytes([head[11], head[12]]) % 2048);
    let seq = u16::from_be_bytes([head[13], head[14]]);

    // Arbitrary packets.
    if let Some(r) = icmp::parse_reply(packet, framing, &ident, size) {
        assert!(r.len <= packet.len());
        assert_eq!(r.ttl.is_some(), framing == Framing::RawV4);
    }
    let dest = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 2));
    let _ = icmp::parse_error_payload(packet, Some(dest), dest, head[0] & 1 == 1, &ident, size);

    // Our own request, answered: the reply is recognised, with its sequence.
    let v6 = framing == Framing::V6;
    let mut request = Request::new(v6, ident, size);
    let mut reply = request.packet(seq, (1, 2)).to_vec();
    reply[0] = if v6 { icmp::ECHO_REPLY_V6 } else { icmp::ECHO_REPLY_V4 };
    let framed = if framing == Framing::RawV4 {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1];
        ip.extend_from_slice(&reply);
        ip
    } else {
        reply
    };
    let r = icmp::parse_reply(&framed, framing, &ident, size).expect("our own reply");
    assert_eq!(r.seq, seq);
    assert_eq!(r.len, icmp::HEADER_LEN + size);
});
