//! The cgroup-v2 side of VRF association, in iproute2's layout so that `ip vrf identify/pids` and
//! vrf-exec see each other's processes:
//!
//! `<cgroup2 mount><current cgroup without any /vrf/… suffix>[/<netns name>-ns]/vrf/<VRF>`
//!
//! The `-ns` level appears when the process runs in a named network namespace (`ip netns add`), so two
//! namespaces' VRFs of the same name do not share a cgroup.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

const USUAL: &str = "/sys/fs/cgroup";

/// Where cgroup2 is mounted in this mount namespace: `/sys/fs/cgroup` when it is there, else the first
/// cgroup2 mount in `/proc/self/mountinfo`, else `None`.
pub fn find_mount() -> io::Result<Option<PathBuf>> {
    if statfs(USUAL).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
        return Ok(Some(PathBuf::from(USUAL)));
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
pub fn mount_point() -> io::Result<PathBuf> {
    if let Some(m) = find_mount()? {
        return Ok(m);
    }
    let no_mount = |e: nix::Error| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no cgroup2 file system is mounted, and mounting one failed: {e} (mount -t cgroup2 none {USUAL})"
            ),
        )
    };
    private_mount_namespace().map_err(no_mount)?;
    mount(
        Some("cgroup2"),
        USUAL,
        Some("cgroup2"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(no_mount)?;
    Ok(PathBuf::from(USUAL))
}

/// Gives this process a mount namespace of its own whose mounts do not propagate back to the one it
/// came from (changes from there still arrive). The command inherits it.
pub fn private_mount_namespace() -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
}

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

/// The cgroup-v2 path of a process from its `/proc/PID/cgroup` text (the `0::` line).
pub fn v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The VRF a cgroup path belongs to: what follows `/vrf/`, as `ip vrf identify` reads it.
pub fn vrf_of_path(path: &str) -> Option<&str> {
    path.find("/vrf/")
        .map(|i| &path[i + 5..])
        .filter(|v| !v.is_empty())
}

/// The base for VRF cgroups: the cgroup path with any `/vrf…` part removed, `""` for the root.
pub fn base_of_path(path: &str) -> &str {
    let base = path.find("/vrf").map_or(path, |i| &path[..i]);
    if base == "/" { "" } else { base }
}

/// The name of the network namespace we are in, as `ip netns` knows it (`None` when it has no name).
pub fn netns_name() -> Option<String> {
    let me = fs::metadata("/proc/self/ns/net").ok()?;
    fs::read_dir("/run/netns")
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let m = fs::metadata(e.path()).ok()?;
            (m.dev() == me.dev() && m.ino() == me.ino())
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
}

/// The cgroup directory for processes of VRF `vrf` launched by this process (`vrf` empty: the `vrf/`
/// directory itself, which is the default VRF).
pub fn vrf_dir(mount: &Path, vrf: &str) -> io::Result<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let path = v2_path(&own).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "this process has no cgroup-v2 path in /proc/self/cgroup",
        )
    })?;
    let mut base = base_of_path(path).to_string();
    let mut dir = mount.to_path_buf();
    let ns = netns_name().map(|n| format!("{n}-ns"));
    // Launched from inside the same netns level already: do not add it twice.
    if let Some(ns) = &ns
        && base.rsplit('/').next() == Some(ns.as_str())
    {
        base.truncate(base.len() - ns.len());
    }
    dir.push(base.trim_start_matches('/'));
    if let Some(ns) = ns {
        dir.push(ns);
    }
    dir.push("vrf");
    if !vrf.is_empty() {
        dir.push(vrf);
    }
    Ok(dir)
}

/// Moves the calling process into cgroup directory `dir`.
pub fn join(dir: &Path) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("cgroup.procs"))?;
    f.write_all(std::process::id().to_string().as_bytes())
}

/// The VRF process `pid` runs in (per its cgroup), `None` when none.
pub fn identify(pid: u32) -> io::Result<Option<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    Ok(v2_path(&text).and_then(vrf_of_path).map(str::to_string))
}

/// Every process in VRF `vrf`'s cgroups, wherever in the tree they were made (by us or by iproute2),
/// limited to our network namespace's level as `ip vrf pids` does.
pub fn pids(mount: &Path, vrf: &str) -> io::Result<Vec<u32>> {
    let ns = netns_name().map(|n| format!("{n}-ns"));
    let mut found = Vec::new();
    walk(mount, &mut |dir| {
        let vrf_dir = dir.join("vrf");
        if !vrf_dir.is_dir() {
            return;
        }
        let parent = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if ns
            .as_ref()
            .is_none_or(|ns| parent.as_deref() == Some(ns.as_str()))
            && let Ok(text) = fs::read_to_string(vrf_dir.join(vrf).join("cgroup.procs"))
        {
            found.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
    })?;
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// Calls `f` on `dir` and every directory below it, skipping `vrf` directories themselves.
fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> io::Result<()> {
    f(dir);
    for e in fs::read_dir(dir)?.filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != "vrf" {
            let _ = walk(&e.path(), f);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_v2_line_and_the_vrf() {
        let text = "12:net_cls,net_prio:/\n0::/user.slice/vrf/blue\n";
        assert_eq!(v2_path(text), Some("/user.slice/vrf/blue"));
        assert_eq!(vrf_of_path("/user.slice/vrf/blue"), Some("blue"));
        assert_eq!(vrf_of_path("/ns1-ns/vrf/red"), Some("red"));
        assert_eq!(vrf_of_path("/vrf/"), None);
        assert_eq!(vrf_of_path("/user.slice"), None);
    }

    #[test]
    fn base_drops_the_vrf_part() {
        assert_eq!(base_of_path("/"), "");
        assert_eq!(base_of_path("/vrf/blue"), "");
        assert_eq!(
            base_of_path("/user.slice/session-1.scope"),
            "/user.slice/session-1.scope"
        );
        assert_eq!(base_of_path("/a/ns1-ns/vrf/blue"), "/a/ns1-ns");
    }

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
