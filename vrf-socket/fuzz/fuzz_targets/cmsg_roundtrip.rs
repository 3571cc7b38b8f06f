//! Encodes arbitrary pktinfo messages with `CmsgWriter`, as `pktinfo::send` does, and decodes them
//! again: whatever fits must come back exactly, in order, and what does not fit must be refused whole.
//!
//! Input: a list of 21-byte records (`kind`, `ifindex`, 16 address bytes), then the buffer size.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrf_socket::cmsg::{self, Cmsg, CmsgError, CmsgWriter};

fuzz_target!(|input: &[u8]| {
    let Some((&size, records)) = input.split_last() else {
        return;
    };
    let mut buf = vec![0xa5u8; usize::from(size)];
    let mut w = CmsgWriter::new(&mut buf);
    let mut written = Vec::new();
    for r in records.chunks_exact(21) {
        let ifindex = u32::from_ne_bytes([r[1], r[2], r[3], r[4]]);
        let addr: [u8; 16] = r[5..21].try_into().unwrap();
        let before = w.len();
        let (result, msg) = if r[0] % 2 == 0 {
            let a = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
            let m = Cmsg::PktInfoV4 {
                ifindex,
                spec_dst: a,
                addr: Ipv4Addr::UNSPECIFIED,
            };
            (w.pktinfo_v4(ifindex, a), m)
        } else {
            let a = Ipv6Addr::from(addr);
            (w.pktinfo_v6(ifindex, a), Cmsg::PktInfoV6 { ifindex, addr: a })
        };
        match result {
            Ok(()) => written.push(format!("{msg:?}")),
            Err(CmsgError::NoSpace { needed, available }) => {
                assert_eq!(w.len(), before, "a refused message wrote something");
                assert!(needed > available);
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let n = w.len();
    assert!(n <= buf.len());
    let decoded: Vec<String> = cmsg::decode(&buf[..n], 0)
        .map(|c| format!("{:?}", c.expect("what the writer wrote decodes")))
        .collect();
    assert_eq!(decoded, written);
});
