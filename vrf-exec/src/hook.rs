//! `vrf-exec attach VRF`: what a systemd service put into a VRF by `vrf-exec unit` runs first, as
//! `ExecCondition=+vrf-exec attach VRF`. systemd runs it in the service's own cgroup, with full
//! privileges, before any other process of the start; it attaches vrf-exec's sock-create binder and
//! egress guard for the VRF as it is now to that cgroup (with `BPF_F_ALLOW_MULTI`, beside systemd's own
//! programs), then makes a test socket and checks that the kernel bound it to the VRF.
//!
//! It exits 255 on any failure (VRF missing, down or not a VRF; no binding), which systemd takes as a
//! failed start: the service's own commands never run in the default VRF. Each start makes a new
//! cgroup (or finds the old one, still holding processes the unit left behind, whose stale binders it
//! detaches first), so a VRF re-created since the last start gets a binding for its new ifindex.
//!
//! Unlike `BPFProgram=`, which systemd 252 does not re-attach when a unit is restarted (systemd issue
//! 26845) and which lets a unit start unbound when the pinned program is missing, nothing here depends
//! on systemd's handling of foreign programs: the programs belong to the cgroup, and go with it.

use std::fs::File;
use std::os::fd::AsFd;

use anyhow::{Context, Result, bail};
use vrf_socket::Vrf;

use crate::bpf;
use crate::sys::{self, CGROUP_INET_EGRESS, CGROUP_INET_SOCK_CREATE, PROG_TYPE_CGROUP_SOCK};
use crate::{cgroup, egress, launch, namespace};

/// The exit status of a failed `attach`: systemd's `ExecCondition=` takes 1 to 254 as "skip the unit
/// quietly" and 255 as a failure, which is what a unit that cannot be in its VRF is.
pub const EXIT_FAILED: u8 = 255;

/// `vrf-exec attach VRF [--check]`: attaches (unless `check_only`) and checks; says what it did.
pub fn run(name: &str, check_only: bool) -> Result<()> {
    cgroup::check_name(name)?;
    if name == "default" {
        bail!("the default VRF needs no hook: leave it out of the unit");
    }
    let vrf = Vrf::up_by_name(name)?;
    let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let path = cgroup::v2_path(&own)
        .context("this process is in no cgroup-v2 group (a cgroup-v1-only system)")?
        .to_string();
    if !path.ends_with(".service") {
        bail!(
            "vrf-exec attach binds the sockets of the cgroup it runs in, and belongs in a service's \
             ExecCondition=+ (vrf-exec unit writes it): {path} is not a service's cgroup"
        );
    }
    let mount = namespace::ensure_cgroup2().context("finding cgroup2")?;
    let dir = mount.join(path.trim_start_matches('/'));
    let cg = File::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut said = String::new();
    if !check_only {
        let stale = detach_ours(&cg)?;
        let binder = bpf::load(
            PROG_TYPE_CGROUP_SOCK,
            CGROUP_INET_SOCK_CREATE,
            &bpf::program(vrf.index().get()),
            &bpf::program_name(vrf.index().get()),
        )
        .context("loading the sock-create binder")?;
        sys::prog_attach_multi(binder.fd.as_fd(), cg.as_fd(), CGROUP_INET_SOCK_CREATE)
            .with_context(|| format!("attaching the binder to {}", dir.display()))?;
        let (guard, devices) = egress::load_for(&vrf).context("loading the egress guard")?;
        sys::prog_attach_multi(guard.fd.as_fd(), cg.as_fd(), CGROUP_INET_EGRESS)
            .with_context(|| format!("attaching the egress guard to {}", dir.display()))?;
        said = format!(
            "binder and egress guard attached (egress only through {}){}; ",
            devices.join(", "),
            if stale > 0 {
                format!(", {stale} stale program(s) detached")
            } else {
                String::new()
            }
        );
    }
    match launch::probe_binding()? {
        Some(Some(i)) if i == vrf.index() => {}
        None => {}
        Some(got) => bail!(
            "a socket made in {} is {}, not bound to VRF {name} (ifindex {}): another sock-create \
             program re-binds it (bpftool cgroup tree shows them){}",
            dir.display(),
            got.map_or("not bound to any device".to_string(), |i| format!(
                "bound to ifindex {i}"
            )),
            vrf.index(),
            if check_only {
                ", or systemd did not attach BPFProgram= (vrf-exec pin must run before each start)"
            } else {
                ""
            }
        ),
    }
    println!(
        "vrf-exec: {path} in VRF {name} (ifindex {}): {said}a test socket is bound to it",
        vrf.index()
    );
    Ok(())
}

/// Detaches from `cg` the binders and guards vrf-exec attached there for an earlier start (programs
/// of ours whose VRF was since re-created, or whose ports changed); returns how many.
fn detach_ours(cg: &File) -> Result<usize> {
    let mut n = 0;
    for ty in [CGROUP_INET_SOCK_CREATE, CGROUP_INET_EGRESS] {
        let attached = sys::prog_query(cg.as_fd(), ty).context("BPF_PROG_QUERY")?;
        for id in attached.ids {
            let Ok(fd) = sys::prog_fd_by_id(id) else {
                continue;
            };
            let Ok(info) = sys::prog_info(fd.as_fd()) else {
                continue;
            };
            let ours = if ty == CGROUP_INET_SOCK_CREATE {
                bpf::binder_ifindex(&info).is_some()
            } else {
                info.name == egress::NAME
            };
            if ours {
                sys::prog_detach(fd.as_fd(), cg.as_fd(), ty)
                    .with_context(|| format!("detaching stale program {id}"))?;
                n += 1;
            }
        }
    }
    Ok(n)
}
