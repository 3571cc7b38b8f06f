//! Parses arbitrary text as a resolv.conf: it must never panic or fail, keep at most three name
//! servers (glibc's limit), point every warning at a real line, and parse its own output the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vrf_socket::dns::ResolvConf;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let conf = ResolvConf::parse(text);
    assert!(conf.name_servers.len() <= 3);
    let lines = text.lines().count();
    for w in &conf.warnings {
        assert!(w.line >= 1 && w.line <= lines, "warning for line {} of {lines}", w.line);
    }
    if let Some(t) = conf.timeout {
        assert!(t.as_secs() >= 1 && t.as_secs() <= 30);
    }
    assert!(conf.ndots.is_none_or(|n| n <= 15));
    assert!(conf.attempts.is_none_or(|a| (1..=5).contains(&a)));
    // What was understood, written back as resolv.conf lines, reads the same.
    let mut again = String::new();
    for ns in &conf.name_servers {
        again.push_str(&format!("nameserver {ns}\n"));
    }
    if !conf.search.is_empty() {
        again.push_str(&format!("search {}\n", conf.search.join(" ")));
    }
    let reparsed = ResolvConf::parse(&again);
    assert_eq!(reparsed.name_servers, conf.name_servers);
    assert_eq!(reparsed.search, conf.search);
    assert!(reparsed.warnings.is_empty(), "{:?} from {again:?}", reparsed.warnings);
});
