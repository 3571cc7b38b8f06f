//! The `/proc` texts the socket inventory parses: `/proc/net/icmp` and `icmp6` tables (the first byte
//! picks the family) and `/proc/PID/fd` link targets. Any bytes must parse without panicking; what
//! parses must be consistent: a line gives at most one socket, and IPv4 tables give IPv4 addresses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vrf_socket::inventory::{parse_ping_sockets, parse_socket_link};

fuzz_target!(|input: &[u8]| {
    let Some((first, rest)) = input.split_first() else {
        return;
    };
    if parse_socket_link(rest).is_some() {
        assert!(rest.starts_with(b"socket:[") && rest.ends_with(b"]"));
    }
    let text = String::from_utf8_lossy(rest);
    let v6 = first & 1 == 1;
    let found = parse_ping_sockets(&text, v6);
    assert!(found.len() <= text.lines().count().saturating_sub(1));
    for s in found {
        assert_eq!(s.local.is_ipv6(), v6);
        assert_eq!(s.remote.is_ipv6(), v6);
    }
});
