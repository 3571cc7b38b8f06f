//! The mount namespace: what is mounted where (`/proc/self/mountinfo`), and the two mounts a launch may
//! make in a private mount namespace of its own, which the command inherits.
//!
//! `unshare(CLONE_NEWNS)` gives the process a copy of its mount table; marking every mount of the copy
//! a slave (`MS_REC | MS_SLAVE`, as `ip netns exec` does) keeps later mounts and unmounts of the host
//! arriving, while nothing mounted in the copy propagates back. In it, a launch mounts:
//! - cgroup2 on `/sys/fs/cgroup` when none is visible: `ip netns exec` remounts `/sys` for the
//!   namespace's view of sysfs, which hides the host's cgroup2 mount;
//! - `/etc/vrf/VRF/resolv.conf` bound over `/etc/resolv.conf`, so unmodified programs resolve names
//!   with the VRF's name servers (as `ip netns exec` does with `/etc/netns/NAME/`).

use std::fs;
use std::io;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

/// Where cgroup2 is usually mounted, and where a launch mounts it when it is hidden.
const USUAL_CGROUP2: &str = "/sys/fs/cgroup";

/// `(mount point, super options)` of every mount of file system type `fstype` in a mountinfo text.
pub fn mounts_of_type<'a>(mountinfo: &'a str, fstype: &str) -> Vec<(&'a str, &'a str)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let mut t = tail.split_whitespace();
            let (ty, _source, opts) = (t.next()?, t.next()?, t.next().unwrap_or(""));
            (ty == fstype).then(|| head.split_whitespace().nth(4).map(|dir| (dir, opts)))?
        })
        .collect()
}

/// Where cgroup2 is mounted in this mount namespace: `/sys/fs/cgroup` when it is there, else the first
/// cgroup2 mount in `/proc/self/mountinfo`, else `None`.
pub fn find_cgroup2() -> io::Result<Option<PathBuf>> {
    if statfs(USUAL_CGROUP2).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
        return Ok(Some(PathBuf::from(USUAL_CGROUP2)));
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mounts_of_type(&mountinfo, "cgroup2")
        .into_iter()
        .next()
        .map(|(dir, _)| PathBuf::from(dir)))
}

/// Where cgroup2 is mounted; when it is not visible (as under `ip netns exec`, which remounts `/sys`),
/// mounts it on `/sys/fs/cgroup` in a private mount namespace of this process, leaving the host's
/// mounts alone (the command inherits the namespace and sees it there too).
pub fn ensure_cgroup2() -> io::Result<PathBuf> {
    if let Some(m) = find_cgroup2()? {
        return Ok(m);
    }
    let no_mount = |e: nix::Error| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no cgroup2 file system is mounted, and mounting one failed: {e} (mount -t cgroup2 none {USUAL_CGROUP2})"
            ),
        )
    };
    private_mount_namespace().map_err(no_mount)?;
    mount(
        Some("cgroup2"),
        USUAL_CGROUP2,
        Some("cgroup2"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(no_mount)?;
    Ok(PathBuf::from(USUAL_CGROUP2))
}

/// What became of a VRF's own resolv.conf in a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvConf {
    /// The VRF has none: the command sees the host's `/etc/resolv.conf`.
    Absent,
    /// Bind-mounted over `/etc/resolv.conf`.
    Shown(String),
    /// It exists but could not be mounted over `/etc/resolv.conf` (typically missing, or a dangling
    /// symlink): the launch goes on without it, as `ip netns exec` goes on when a file of
    /// `/etc/netns/NAME/` cannot be bound. `why` says what failed and how to fix it.
    NotShown { conf: String, why: String },
}

/// If `/etc/vrf/<vrf>/resolv.conf` exists, gives the process a private mount namespace in which it is
/// bind-mounted over `/etc/resolv.conf`, so that unmodified programs resolve names with the VRF's name
/// servers. Only a failure to make the namespace is an error; a failed bind mount is reported as
/// [`ResolvConf::NotShown`].
pub fn use_vrf_resolv_conf(vrf: &str) -> Result<ResolvConf> {
    let conf = vrf_socket::paths::vrf_resolv_conf(vrf);
    if !conf.is_file() {
        return Ok(ResolvConf::Absent);
    }
    let conf = conf.display().to_string();
    private_mount_namespace().context("a private mount namespace for the VRF's resolv.conf")?;
    Ok(bind_over_etc_resolv_conf(conf))
}

/// [`use_vrf_resolv_conf`] for the seccomp mode, which may run without privilege: where a private mount
/// namespace cannot be made (no CAP_SYS_ADMIN), makes a user namespace with it, in which the process
/// keeps its uid and gid (each mapped to itself, so files and sockets keep their owners; other ids show
/// as the overflow id, `nobody`) and may mount. Never an error: what failed is [`ResolvConf::NotShown`].
pub fn use_vrf_resolv_conf_unprivileged(vrf: &str) -> ResolvConf {
    let conf = vrf_socket::paths::vrf_resolv_conf(vrf);
    if !conf.is_file() {
        return ResolvConf::Absent;
    }
    let shown = conf.display().to_string();
    let not_shown = |why: String| ResolvConf::NotShown {
        conf: shown.clone(),
        why,
    };
    if let Err(e) = private_mount_namespace() {
        if e != nix::errno::Errno::EPERM {
            return not_shown(format!("a private mount namespace: {e}"));
        }
        if let Err(e) = user_and_mount_namespace() {
            return not_shown(format!(
                "the kernel refused an unprivileged user and mount namespace ({e}; see the sysctls \
                 user.max_user_namespaces, kernel.unprivileged_userns_clone and \
                 kernel.apparmor_restrict_unprivileged_userns)"
            ));
        }
    }
    bind_over_etc_resolv_conf(shown)
}

/// Whether this process could make the user and mount namespace of
/// [`use_vrf_resolv_conf_unprivileged`]: a child process tries, and exits.
pub fn can_unshare_user_and_mount() -> Result<(), String> {
    match crate::sys::fork() {
        Ok(nix::unistd::ForkResult::Child) => {
            let ok = user_and_mount_namespace().is_ok();
            crate::sys::exit_now(if ok { 0 } else { 1 })
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(_) => Err("unshare(CLONE_NEWUSER | CLONE_NEWNS) was refused".into()),
                Err(e) => Err(format!("waitpid: {e}")),
            }
        }
        Err(e) => Err(format!("fork: {e}")),
    }
}

/// `unshare(CLONE_NEWUSER | CLONE_NEWNS)` with this process's uid and gid mapped to themselves
/// (`setgroups` denied, as the kernel requires of an unprivileged gid map), then mounts made slaves.
fn user_and_mount_namespace() -> io::Result<()> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)?;
    fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    fs::write("/proc/self/setgroups", "deny")?;
    fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )?;
    Ok(())
}

const ETC_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Bind-mounts `conf` over `/etc/resolv.conf` in this process's (private) mount namespace.
fn bind_over_etc_resolv_conf(conf: String) -> ResolvConf {
    match mount(
        Some(conf.as_str()),
        ETC_RESOLV_CONF,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        Ok(()) => ResolvConf::Shown(conf),
        Err(e) => ResolvConf::NotShown {
            why: format!(
                "bind-mounting it over {ETC_RESOLV_CONF} failed: {e}{}",
                target_state()
            ),
            conf,
        },
    }
}

/// Why `/etc/resolv.conf` cannot be a mount point, and the fix, when it is missing or dangling.
fn target_state() -> String {
    match fs::symlink_metadata(ETC_RESOLV_CONF) {
        Err(_) => format!(
            " ({ETC_RESOLV_CONF} does not exist: create it, e.g. `touch {ETC_RESOLV_CONF}`)"
        ),
        Ok(m) if m.file_type().is_symlink() && fs::metadata(ETC_RESOLV_CONF).is_err() => {
            let to = fs::read_link(ETC_RESOLV_CONF)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!(
                " ({ETC_RESOLV_CONF} is a symlink to {to}, which does not exist: start what makes it, or replace the link with a file)"
            )
        }
        Ok(_) => String::new(),
    }
}

/// Gives this process a mount namespace of its own whose mounts do not propagate back to the one it
/// came from (changes from there still arrive). The command inherits it.
fn private_mount_namespace() -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_by_type() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n\
                  31 1 0:27 / /sys/fs/cgroup/net_cls rw - cgroup cgroup rw,net_cls,net_prio\n";
        assert_eq!(
            mounts_of_type(mi, "cgroup2"),
            [("/sys/fs/cgroup", "rw,nsdelegate")]
        );
        assert_eq!(
            mounts_of_type(mi, "cgroup"),
            [("/sys/fs/cgroup/net_cls", "rw,net_cls,net_prio")]
        );
    }
}
