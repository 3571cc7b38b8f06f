//! The cgroup-v2 side of VRF association. The kernel runs a cgroup's sock-create hook (see [`crate::bpf`])
//! for every socket made by a process in that cgroup or below it; a process joins a cgroup by writing
//! its pid to the group's `cgroup.procs`, and its children are born in it. vrf-exec uses iproute2's
//! layout, so that `ip vrf identify/pids` and vrf-exec see each other's processes:
//!
//! `<cgroup2 mount><current cgroup without any /vrf/… suffix>[/<netns name>-ns]/vrf/<VRF>`
//!
//! The `-ns` level appears when the process runs in a named network namespace (`ip netns add`), so two
//! namespaces' VRFs of the same name do not share a cgroup. Where cgroup2 is mounted is
//! [`crate::namespace`]'s business.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

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

/// Fails unless `name` can be a VRF name, and so a directory under `vrf/`, before anything is touched
/// (`default` is the default VRF).
pub fn check_name(name: &str) -> Result<()> {
    if name != "default" {
        vrf_socket::validate_name(name).map_err(|e| anyhow!("invalid VRF name: {e}"))?;
    }
    if name.starts_with('-') {
        bail!("invalid VRF name {name:?}");
    }
    Ok(())
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
}
