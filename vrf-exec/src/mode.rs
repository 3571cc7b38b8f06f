//! Which launch mechanism a launch uses: the cgroup mode (root: a BPF sock-create hook on the VRF's
//! cgroup, the command exec'd in place) or the seccomp mode (anyone: a supervisor binds each new socket,
//! see [`crate::seccomp`]). `--mode auto`, the default, takes the cgroup mode when this process can use
//! it and the seccomp mode otherwise; `vrf-exec check` says which and why.

use std::fs;
use std::path::Path;

use nix::sys::statvfs::{FsFlags, statvfs};

pub use crate::cli::ModeArg;
use crate::identity::Caps;
use crate::namespace;

/// A launch mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Cgroup,
    Seccomp,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Cgroup => "cgroup",
            Mode::Seccomp => "seccomp",
        })
    }
}

/// Linux capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// The mode a launch with `--mode arg` uses, and why.
pub fn choose(arg: ModeArg) -> (Mode, String) {
    match arg {
        ModeArg::Cgroup => (Mode::Cgroup, "--mode cgroup".into()),
        ModeArg::Seccomp => (Mode::Seccomp, "--mode seccomp".into()),
        ModeArg::Auto => match cgroup_unavailable() {
            None => (
                Mode::Cgroup,
                "root in the host's user namespace, cgroup2 writable".into(),
            ),
            Some(why) => (Mode::Seccomp, why),
        },
    }
}

/// Why this process cannot use the cgroup mode, `None` when it can (as far as can be told without
/// trying: a launch that then fails to attach still fails with 125, it never falls back).
pub fn cgroup_unavailable() -> Option<String> {
    if !in_initial_user_namespace() {
        return Some(
            "inside a user namespace (a rootless container or `unshare -U`): its capabilities do not \
             reach the host's cgroups and BPF"
                .into(),
        );
    }
    let caps = Caps::of_self().map_or(0, |c| c.effective);
    let has = |c: u32| caps & (1 << c) != 0;
    if !(has(CAP_SYS_ADMIN) && has(CAP_NET_ADMIN)) {
        return Some("not root (no CAP_SYS_ADMIN and CAP_NET_ADMIN)".into());
    }
    match namespace::find_cgroup2() {
        Ok(Some(m)) if read_only(&m) => Some(format!("cgroup2 ({}) is read-only", m.display())),
        // Hidden (under `ip netns exec`): the cgroup mode mounts it.
        _ => None,
    }
}

fn read_only(mount: &Path) -> bool {
    statvfs(mount).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
}

/// Whether this process is in the initial user namespace, where uid 0 is the host's root: its uid map
/// is the identity over the whole range.
pub fn in_initial_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| is_identity_map(&m))
}

fn is_identity_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_full_identity_map_is_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1000          1\n"));
        assert!(!is_identity_map("      1000       1000          1\n"));
        assert!(!is_identity_map(
            "0 0 4294967295\n0 0 1\n" // two lines: not the host's
        ));
    }
}
