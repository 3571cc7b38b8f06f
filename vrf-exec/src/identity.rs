//! Who vrf-exec runs as, and who the command will run as.
//!
//! vrf-exec lets its caller choose the command, the user and the environment, so it must itself be run
//! by root: an install that raises a caller's privileges (set-user-ID, set-group-ID, file capabilities)
//! would make every user root. [`refuse_raised_privileges`] stops such a run before anything else.
//!
//! `--user` (and `--group`) name the [`Target`]: resolved before anything is created, so a bad name
//! leaves nothing behind; never uid 0, which could leave the VRF; and able to tell whether it may write a
//! file (a cgroup's `cgroup.procs`), which is what moving a process between cgroups takes.

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result, anyhow, bail};
use nix::unistd::{Gid, Group, Uid, User, getegid, geteuid, getgid, getgrouplist, getuid};

/// The capability sets of this process (`/proc/self/status`), as bit masks of capability numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub ambient: u64,
    pub inheritable: u64,
    pub bounding: u64,
}

impl Caps {
    /// Reads them from `/proc/self/status`.
    pub fn of_self() -> io::Result<Caps> {
        Ok(Caps::parse(&std::fs::read_to_string("/proc/self/status")?))
    }

    /// Reads them from the text of a `/proc/PID/status` (a missing line counts as an empty set).
    pub fn parse(status: &str) -> Caps {
        let set = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0)
        };
        Caps {
            effective: set("CapEff:"),
            permitted: set("CapPrm:"),
            ambient: set("CapAmb:"),
            inheritable: set("CapInh:"),
            bounding: set("CapBnd:"),
        }
    }

    /// Capabilities in the permitted set that are not ambient: right after `execve` by a user other
    /// than root, only the program file's capabilities put them there.
    pub fn raised_by_file(&self) -> u64 {
        self.permitted & !self.ambient
    }

    /// True when none of the three sets holds anything.
    pub fn is_empty(&self) -> bool {
        self.effective | self.permitted | self.ambient == 0
    }
}

/// Fails when this run of vrf-exec got privileges its caller does not have: installed set-user-ID or
/// set-group-ID (real and effective ids differ), or with file capabilities (permitted capabilities that
/// a caller other than root did not pass as ambient ones). Runs first, before any other work.
pub fn refuse_raised_privileges() -> Result<()> {
    let fix = |how: &str| {
        let path = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "vrf-exec".into());
        format!(
            "vrf-exec lets its caller choose the command, its user and its environment, so it must not \
             raise anyone's privileges: {how} {path}, and run vrf-exec as root (sudo vrf-exec …)"
        )
    };
    let (uid, euid, gid, egid) = (getuid(), geteuid(), getgid(), getegid());
    if uid != euid {
        bail!(
            "refusing to run set-user-ID (real uid {uid}, effective uid {euid}): {}",
            fix("remove the bit with chmod u-s,g-s")
        );
    }
    if gid != egid {
        bail!(
            "refusing to run set-group-ID (real gid {gid}, effective gid {egid}): {}",
            fix("remove the bit with chmod g-s")
        );
    }
    if uid.is_root() {
        return Ok(());
    }
    let caps = Caps::of_self().context(
        "reading /proc/self/status to check that vrf-exec has no file capabilities (mount /proc)",
    )?;
    if caps.raised_by_file() != 0 {
        bail!(
            "refusing to run with file capabilities (permitted set {:#x} for uid {uid}): file-capability \
             installs are not supported. {}",
            caps.permitted,
            fix("remove them with setcap -r")
        );
    }
    Ok(())
}

/// The user and groups a command runs as (`--user`, `--group`), looked up before the launch makes
/// anything.
#[derive(Debug, Clone)]
pub struct Target {
    pub user: User,
    /// The primary group: `--group`, else the user's own.
    pub gid: Gid,
    /// Every group the command will be in: the user's groups (as `initgroups` makes them) and `gid`.
    pub groups: Vec<Gid>,
}

impl Target {
    /// Resolves `--user` and `--group`; `None` when neither is given (the command runs as root).
    ///
    /// Refused: `--group` without `--user`, and a user with uid 0. Both leave the command with uid 0,
    /// which owns every root-owned `cgroup.procs` and so can move itself out of the VRF's group.
    pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Target>> {
        let user = match (user, group) {
            (None, None) => return Ok(None),
            (None, Some(g)) => bail!(
                "--group {g} needs --user: alone it leaves the command with uid 0, which may write \
                 every root-owned cgroup.procs and so leave the VRF (add --user USER; the command then \
                 runs as USER with group {g})"
            ),
            (Some(u), _) => lookup_user(u)?,
        };
        if user.uid.is_root() {
            bail!(
                "--user {} is uid 0, which may write every root-owned cgroup.procs and re-bind its \
                 sockets, and so leave the VRF: --user promises it cannot (leave out --user to run the \
                 command as root)",
                user.name
            );
        }
        let gid = match group {
            Some(g) => lookup_group(g)?,
            None => user.gid,
        };
        let name = CString::new(user.name.as_str())?;
        let groups = getgrouplist(&name, gid)
            .with_context(|| format!("reading the groups of user {}", user.name))?;
        Ok(Some(Target { user, gid, groups }))
    }

    /// True when the kernel's permission check would let this user write a file with metadata `m`:
    /// the owner's bits for its owner, the group's for a member of its group, the others' for anyone
    /// else (cgroup2 files have no ACLs, and the user has no capability to bypass the bits).
    pub fn may_write(&self, m: &std::fs::Metadata) -> bool {
        may_write(self.user.uid, &self.groups, m.uid(), m.gid(), m.mode())
    }

    /// The variables `runuser -u USER` sets for USER: HOME, USER and LOGNAME (it keeps SHELL, which
    /// names the shell of whoever started it: `runuser -u` runs no shell).
    pub fn login_env(&self) -> [(&'static str, OsString); 3] {
        [
            ("HOME", self.user.dir.clone().into_os_string()),
            ("USER", OsString::from(&self.user.name)),
            ("LOGNAME", OsString::from(&self.user.name)),
        ]
    }
}

/// The permission-bit check of a write by `uid` in `groups` to a file owned by `owner`:`group` with
/// mode `mode`.
fn may_write(uid: Uid, groups: &[Gid], owner: u32, group: u32, mode: u32) -> bool {
    if owner == uid.as_raw() {
        mode & 0o200 != 0
    } else if groups.iter().any(|g| g.as_raw() == group) {
        mode & 0o020 != 0
    } else {
        mode & 0o002 != 0
    }
}

fn lookup_user(u: &str) -> Result<User> {
    let found = match u.parse::<u32>() {
        Ok(id) => User::from_uid(Uid::from_raw(id))?,
        Err(_) => User::from_name(u)?,
    };
    found.ok_or_else(|| anyhow!("no such user {u:?} (see /etc/passwd, or `getent passwd {u}`)"))
}

fn lookup_group(g: &str) -> Result<Gid> {
    match g.parse::<u32>() {
        Ok(id) => Ok(Gid::from_raw(id)),
        Err(_) => Ok(Group::from_name(g)?
            .ok_or_else(|| anyhow!("no such group {g:?} (see /etc/group, or `getent group {g}`)"))?
            .gid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_capability_sets() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000201000\n\
                      CapEff:\t0000000000201000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000001000\n";
        let c = Caps::parse(status);
        assert_eq!(c.permitted, 0x20_1000);
        assert_eq!(c.effective, 0x20_1000);
        assert_eq!(c.ambient, 0x1000);
        assert_eq!(
            c.raised_by_file(),
            0x20_0000,
            "ambient capabilities are not raised by the file"
        );
        assert!(Caps::parse("Name:\tx\n").is_empty());
    }

    #[test]
    fn write_permission_follows_owner_then_group_then_others() {
        let (alice, staff, other) = (Uid::from_raw(1000), Gid::from_raw(50), Gid::from_raw(7));
        let groups = [Gid::from_raw(1000), staff];
        // systemd's delegation: owner alice, 0644.
        assert!(may_write(alice, &groups, 1000, 0, 0o644));
        // Root-owned 0644: only root.
        assert!(!may_write(alice, &groups, 0, 0, 0o644));
        // Group-writable, alice in the group / not in it.
        assert!(may_write(alice, &groups, 0, staff.as_raw(), 0o664));
        assert!(!may_write(alice, &groups, 0, other.as_raw(), 0o664));
        // World-writable.
        assert!(may_write(alice, &groups, 0, 0, 0o646));
        // The owner class decides for the owner, even when the group's bits would allow.
        assert!(!may_write(alice, &groups, 1000, staff.as_raw(), 0o464));
    }
}
