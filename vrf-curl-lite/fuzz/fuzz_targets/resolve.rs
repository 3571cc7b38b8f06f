//! `--resolve` entries ([`Pinned::parse`], [`Pinned::parse_all`], [`Pinned::find`]).
//!
//! Must not panic. An accepted entry has a lowercase host without `:` and at least one address,
//! and written back in canonical form (`+host:port:[addr],…` or `-host:port`) parses to the same
//! entry. Each line of the input is one `--resolve` argument for `parse_all`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vrf_curl_lite::cli::{Pinned, ResolveEntry};

fn canonical(e: &ResolveEntry) -> String {
    match e {
        ResolveEntry::Add(p) => {
            let addrs: Vec<String> = p.addrs.iter().map(|a| format!("[{a}]")).collect();
            // `+` (an add, which curl lets expire) keeps a host that starts with `-` or `+` intact.
            format!("+{}:{}:{}", p.host, p.port, addrs.join(","))
        }
        ResolveEntry::Remove { host, port } => format!("-{host}:{port}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(entry) = Pinned::parse(&s) {
        let host = match &entry {
            ResolveEntry::Add(p) => {
                assert!(!p.addrs.is_empty(), "{s:?}");
                &p.host
            }
            ResolveEntry::Remove { host, .. } => host,
        };
        assert!(
            !host.contains(':') && *host == host.to_ascii_lowercase(),
            "{s:?}"
        );
        let again = canonical(&entry);
        assert_eq!(
            Pinned::parse(&again).ok(),
            Some(entry),
            "{s:?} -> {again:?}"
        );
    }
    let args: Vec<String> = s.lines().map(str::to_string).collect();
    if let Ok(pins) = Pinned::parse_all(&args) {
        // URL hosts in brackets are IPv6 addresses, which have a `:` and so are never pinned.
        for p in pins.iter().filter(|p| !p.host.contains(['[', ']'])) {
            let found = Pinned::find(&pins, &p.host, p.port).expect("an entry finds itself");
            assert!(found.host == p.host || found.host == "*");
        }
    }
});
