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

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

/// The cgroup-v2 path of a process from its `/proc/PID/cgroup` text (the `0::` line).
pub fn v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The VRF a cgroup path belongs to: the component after the first `vrf` component (`/a/vrf/blue` is in
/// `blue`), as `ip vrf identify` reads iproute2's layout. Components are compared whole: `/vrfaudit/x`
/// is in no VRF.
pub fn vrf_of_path(path: &str) -> Option<&str> {
    let mut components = path.split('/').filter(|c| !c.is_empty());
    components.by_ref().find(|c| *c == "vrf")?;
    components.next()
}

/// The base for VRF cgroups: the cgroup path up to its first `vrf` component (a whole component:
/// `/vrfaudit/inner` is its own base), `""` for the root.
pub fn base_of_path(path: &str) -> &str {
    let mut start: usize = 0;
    let mut end = path.len();
    for c in path.split('/') {
        if c == "vrf" {
            // The '/' before the component, if any.
            end = start.saturating_sub(1);
            break;
        }
        start += c.len() + 1;
    }
    let base = &path[..end];
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

/// The first `cgroup.procs` above cgroup directory `dir`, up to the cgroup2 mount `mount`, that
/// `may_write` allows to write (groups that do not exist yet are skipped). A process in `dir` that may
/// write it can move itself there, out of `dir` and its hook: the kernel lets a process migrate one
/// when it may write the `cgroup.procs` of the common ancestor of the two groups and of the destination,
/// and such an ancestor is both.
pub fn writable_ancestor(
    mount: &Path,
    dir: &Path,
    may_write: impl Fn(&fs::Metadata) -> bool,
) -> io::Result<Option<PathBuf>> {
    for above in dir.ancestors().skip(1) {
        if !above.starts_with(mount) {
            break;
        }
        let procs = above.join("cgroup.procs");
        match fs::metadata(&procs) {
            Ok(m) if may_write(&m) => return Ok(Some(procs)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The VRF process `pid` runs in (per its cgroup), `None` when none.
pub fn identify(pid: u32) -> io::Result<Option<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    Ok(v2_path(&text).and_then(vrf_of_path).map(str::to_string))
}

/// Every process in VRF `vrf`'s cgroups, wherever in the tree they were made (by us or by iproute2),
/// limited to our network namespace's level as `ip vrf pids` does.
pub fn pids(mount: &Path, vrf: &str) -> io::Result<Vec<u32>> {
    let mut found = Vec::new();
    walk_vrf_dirs(mount, &mut |vrf_dir| {
        if let Ok(text) = fs::read_to_string(vrf_dir.join(vrf).join("cgroup.procs")) {
            found.extend(parse_procs(&text));
        }
    })?;
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// [`pids`] of every VRF that has processes, in one walk of the tree (what `list` needs: a walk per
/// VRF would be thousands of walks on a router with thousands of VRFs).
pub fn pids_by_vrf(mount: &Path) -> io::Result<HashMap<String, Vec<u32>>> {
    let mut found: HashMap<String, Vec<u32>> = HashMap::new();
    walk_vrf_dirs(mount, &mut |vrf_dir| {
        for e in fs::read_dir(vrf_dir).into_iter().flatten().flatten() {
            if let (Some(name), Ok(text)) = (
                e.file_name().to_str(),
                fs::read_to_string(e.path().join("cgroup.procs")),
            ) {
                found
                    .entry(name.to_string())
                    .or_default()
                    .extend(parse_procs(&text));
            }
        }
    })?;
    for pids in found.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    Ok(found)
}

fn parse_procs(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.lines().filter_map(|l| l.trim().parse::<u32>().ok())
}

/// Calls `f` on every `vrf` directory of the tree at our network namespace's level (as `ip vrf pids`
/// reads them).
fn walk_vrf_dirs(mount: &Path, f: &mut dyn FnMut(&Path)) -> io::Result<()> {
    let ns = netns_name().map(|n| format!("{n}-ns"));
    walk(mount, &mut |dir| {
        let vrf_dir = dir.join("vrf");
        if !vrf_dir.is_dir() {
            return;
        }
        let parent = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if ns
            .as_ref()
            .is_none_or(|ns| parent.as_deref() == Some(ns.as_str()))
        {
            f(&vrf_dir);
        }
    })
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
    fn vrf_is_a_whole_component() {
        assert_eq!(base_of_path("/vrfaudit/inner"), "/vrfaudit/inner");
        assert_eq!(base_of_path("/vrfaudit/inner/vrf/blue"), "/vrfaudit/inner");
        assert_eq!(base_of_path("/a/myvrf/vrf/blue"), "/a/myvrf");
        assert_eq!(base_of_path("/a/vrf"), "/a");
        assert_eq!(vrf_of_path("/vrfaudit/inner"), None);
        assert_eq!(vrf_of_path("/vrfaudit/inner/vrf/blue"), Some("blue"));
        assert_eq!(vrf_of_path("/a/vrf.slice/x"), None);
        assert_eq!(vrf_of_path("/a/vrf/blue/sub"), Some("blue"));
    }

    #[test]
    fn finds_the_first_writable_ancestor() {
        let tmp = std::env::temp_dir().join(format!("vrf-exec-cg-{}", std::process::id()));
        let vrf = tmp.join("app.scope/ns-ns/vrf/blue");
        fs::create_dir_all(&vrf).unwrap();
        for d in ["", "app.scope", "app.scope/ns-ns", "app.scope/ns-ns/vrf"] {
            fs::write(tmp.join(d).join("cgroup.procs"), "").unwrap();
        }
        let mark = |d: &str| {
            fs::metadata(tmp.join(d).join("cgroup.procs"))
                .unwrap()
                .ino()
        };
        let (scope, top) = (mark("app.scope"), mark(""));
        // Nothing writable: nothing found; the VRF's own group does not count.
        assert_eq!(writable_ancestor(&tmp, &vrf, |_| false).unwrap(), None);
        let found = writable_ancestor(&tmp, &vrf, |m| m.ino() == scope || m.ino() == top);
        assert_eq!(found.unwrap(), Some(tmp.join("app.scope/cgroup.procs")));
        // Above the mount does not count.
        let below = tmp.join("app.scope");
        assert_eq!(
            writable_ancestor(&below, &vrf, |m| m.ino() == top).unwrap(),
            None
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
