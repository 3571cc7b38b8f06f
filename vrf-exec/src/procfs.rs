//! What vrf-exec reads of other processes in `/proc` to find the seccomp mode's supervised processes:
//! `stat` (parent, command name), `status` (`Seccomp:`) and a supervisor's `cmdline`. Any process may
//! name itself `vrf-exec` and write any command line, so these parsers take hostile text: they never
//! panic (fuzzed: `vrf-exec/fuzz`), and what they find only ever names a VRF for `identify` and `pids`
//! to report, it grants nothing.

use std::ffi::OsString;

use crate::cli::{self, ModeArg};

/// What is read of `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
}

/// `PID (COMM) STATE PPID …`: the command name may hold spaces and parentheses, so it ends at the last
/// `)`.
pub fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Stat { pid, ppid, comm })
}

/// Whether a `/proc/PID/status` text says the process runs under a seccomp filter (`Seccomp: 2`).
pub fn seccomp_filtered(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .is_some_and(|v| v.trim() == "2")
}

/// The VRF a vrf-exec process with command line `cmdline` (NUL-separated, as `/proc/PID/cmdline`)
/// supervises in the seccomp mode: its launch's VRF, unless it is `default` (nothing to supervise) or
/// the launch asked for the cgroup mode (which execs in place and supervises nothing). `None` for
/// anything that is not a launch.
pub fn launched_vrf(cmdline: &[u8]) -> Option<String> {
    let argv: Vec<OsString> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| OsString::from(String::from_utf8_lossy(a).into_owned()))
        .collect();
    // The program, a VRF and a command at least.
    if argv.len() < 3 {
        return None;
    }
    let args = cli::launch_of(argv)?;
    if args.mode == ModeArg::Cgroup {
        return None;
    }
    args.vrf.filter(|v| v != "default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let s = parse_stat(42, "42 (a) b) (c) S 7 42 42 0 -1").unwrap();
        assert_eq!((s.ppid, s.comm.as_str()), (7, "a) b) (c"));
        assert!(parse_stat(1, "1 (init S 0").is_none());
        assert!(parse_stat(1, ")(").is_none());
    }

    #[test]
    fn supervisors_are_launches_into_a_vrf() {
        assert_eq!(
            launched_vrf(b"vrf-exec\0blue\0sleep\x009\0"),
            Some("blue".into())
        );
        assert_eq!(
            launched_vrf(b"/usr/bin/vrf-exec\0--mode\0seccomp\0-v\0red\0sh\0"),
            Some("red".into())
        );
        assert_eq!(launched_vrf(b"vrf-exec\0--mode=cgroup\0red\0sh\0"), None);
        assert_eq!(launched_vrf(b"vrf-exec\0default\0sh\0"), None);
        assert_eq!(launched_vrf(b"vrf-exec\0pids\0blue\0"), None);
        assert_eq!(launched_vrf(b"vrf-exec\0--help\0"), None);
        assert_eq!(launched_vrf(b""), None);
    }

    #[test]
    fn seccomp_line() {
        assert!(seccomp_filtered(
            "Name:\tsh\nSeccomp:\t2\nSeccomp_filters:\t1\n"
        ));
        assert!(!seccomp_filtered("Seccomp:\t0\n"));
        assert!(!seccomp_filtered("Name:\tsh\n"));
    }
}
