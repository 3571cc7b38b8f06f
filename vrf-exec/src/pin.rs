//! Programs pinned in the bpf file system for systemd's `BPFProgram=` (`vrf-exec pin VRF`): the
//! sock-create binder and the egress guard of the cgroup mode, for the VRF as it is at this moment,
//! under `/sys/fs/bpf/vrf-exec/VRF/`. systemd (249 and later) opens the pins when it starts a unit and
//! attaches them to the unit's cgroup itself, so a service needs no wrapper, no privilege and no view of
//! the cgroup tree; `vrf-exec unit` arranges for `vrf-exec pin` to run before each start.
//!
//! Every `pin` pins programs loaded anew, even when the pinned ones would still do: systemd 252 attaches
//! a `BPFProgram=` program to a restarted unit only when its id is new (systemd issue 26845). When the
//! VRF is missing, down or not a VRF, `pin` fails and leaves the pins as they are: a running unit that
//! systemd re-attaches them to (it does at `daemon-reload`) keeps a binding to the old, gone ifindex,
//! whose sockets reach nothing, rather than none. The unit that requires the pin does not start; a VRF
//! re-created under the same name gets programs for its new ifindex at the next `pin`. systemd starts
//! a unit even when a `BPFProgram=` path is missing, so `vrf-exec unit` also has the unit check its own
//! binding before anything else runs (`vrf-exec attach --check`).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use vrf_socket::Vrf;

use crate::bpf::{self, Loaded};
use crate::sys::{self, CGROUP_INET_SOCK_CREATE, PROG_TYPE_CGROUP_SOCK};
use crate::{cgroup, egress};

/// Where systemd and every distribution mount the bpf file system.
pub const BPFFS: &str = "/sys/fs/bpf";
/// `BPF_FS_MAGIC` (linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The directory of VRF `vrf`'s pins.
pub fn dir(vrf: &str) -> PathBuf {
    Path::new(BPFFS).join("vrf-exec").join(vrf)
}

/// The pinned sock-create binder of VRF `vrf` (`BPFProgram=sock_create:PATH`).
pub fn sock_create_path(vrf: &str) -> PathBuf {
    dir(vrf).join("sock_create")
}

/// The pinned egress guard of VRF `vrf` (`BPFProgram=egress:PATH`).
pub fn egress_path(vrf: &str) -> PathBuf {
    dir(vrf).join("egress")
}

/// What [`pin`] did.
#[derive(Debug)]
pub struct Pinned {
    pub vrf: Vrf,
    /// The devices the guard lets packets out through.
    pub devices: Vec<String>,
}

/// Pins the binder and the guard of VRF `name` as it is now, newly loaded, in place of the pins there.
/// When the VRF cannot be used (missing, down, not a VRF), fails, naming the cause, and changes
/// nothing.
pub fn pin(name: &str) -> Result<Pinned> {
    cgroup::check_name(name)?;
    if name == "default" {
        bail!("the default VRF needs no pin: leave BPFProgram= out of the unit");
    }
    check_bpffs()?;
    let vrf = Vrf::up_by_name(name)?;
    let ifindex = vrf.index().get();
    let dir = dir(name);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let binder = bpf::load(
        PROG_TYPE_CGROUP_SOCK,
        CGROUP_INET_SOCK_CREATE,
        &bpf::program(ifindex),
        &bpf::program_name(ifindex),
    )
    .context("loading the sock-create binder")?;
    replace_pin(&sock_create_path(name), &binder)?;
    let (guard, devices) = egress::load_for(&vrf).context("loading the egress guard")?;
    replace_pin(&egress_path(name), &guard)?;
    Ok(Pinned { vrf, devices })
}

/// Removes VRF `name`'s pins (units already running keep the programs attached to them). `Ok(true)`
/// when there were some.
pub fn unpin(name: &str) -> Result<bool> {
    cgroup::check_name(name)?;
    let dir = dir(name);
    let mut removed = false;
    for path in [sock_create_path(name), egress_path(name)] {
        match fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    // Left-overs of an interrupted replace, then the directory itself.
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
    let _ = fs::remove_dir(&dir);
    Ok(removed)
}

/// Makes `path` hold `new`. The new pin is made beside it and renamed over it, so that a unit starting
/// meanwhile opens the old program or the new one, never nothing.
fn replace_pin(path: &Path, new: &Loaded) -> Result<()> {
    // A bpf file system refuses names with a dot.
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!("{name}_new{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    sys::obj_pin(new.fd.as_fd(), &c_path(&tmp)?)
        .with_context(|| format!("pinning {}", tmp.display()))?;
    if let Err(e) = fs::rename(&tmp, path) {
        // A bpf file system that cannot rename: replace in two steps.
        let _ = fs::remove_file(path);
        if let Err(e2) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(e2).with_context(|| format!("pinning {} (rename: {e})", path.display()));
        }
    }
    Ok(())
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).context("a path with a NUL byte")
}

/// Fails unless a bpf file system is mounted at [`BPFFS`], with the command that mounts it.
fn check_bpffs() -> Result<()> {
    let st = nix::sys::statfs::statfs(BPFFS)
        .with_context(|| format!("{BPFFS} cannot be read (mount -t bpf bpf {BPFFS})"))?;
    if st.filesystem_type().0 as i64 != BPF_FS_MAGIC {
        bail!(
            "no bpf file system is mounted at {BPFFS}, where the pins must live (mount -t bpf bpf {BPFFS}; \
             systemd mounts it at boot)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_live_under_the_vrf_name() {
        assert_eq!(
            sock_create_path("blue"),
            Path::new("/sys/fs/bpf/vrf-exec/blue/sock_create")
        );
        assert_eq!(
            egress_path("mgmt"),
            Path::new("/sys/fs/bpf/vrf-exec/mgmt/egress")
        );
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_touched() {
        assert!(pin("../x").is_err());
        assert!(unpin("a/b").is_err());
        assert!(pin("default").is_err());
    }
}
