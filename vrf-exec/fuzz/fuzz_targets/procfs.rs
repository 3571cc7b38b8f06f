//! What `vrf-exec identify` and `pids` read of other processes (`vrf-exec/src/procfs.rs`): any process
//! may name itself `vrf-exec` and write any command line and status text it likes.
//!
//! Must not panic; a command line read as a supervisor's names a VRF, never `default` or an empty one;
//! a stat line that parses has its command name between the first `(` and the last `)`.

#![no_main]

use libfuzzer_sys::fuzz_target;

// vrf-exec is a binary crate: its command line and /proc parsers are compiled in here as they are there.
#[path = "../../src/cli.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../../src/procfs.rs"]
#[allow(dead_code)]
mod procfs;

fuzz_target!(|data: &[u8]| {
    if let Some(vrf) = procfs::launched_vrf(data) {
        assert!(!vrf.is_empty() && vrf != "default", "{vrf:?} from {data:?}");
    }
    let text = String::from_utf8_lossy(data);
    if let Some(stat) = procfs::parse_stat(1, &text) {
        let open = text.find('(').unwrap();
        let close = text.rfind(')').unwrap();
        assert_eq!(stat.comm, text[open + 1..close]);
    }
    let _ = procfs::seccomp_filtered(&text);
});
