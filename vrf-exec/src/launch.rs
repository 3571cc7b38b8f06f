//! A launch, `vrf-exec [OPTIONS] VRF COMMAND…`, step by step, in the order the kernel needs them:
//!
//! 1. look the VRF up over rtnetlink: it must exist, be a VRF, and be up;
//! 2. prepare the VRF's cgroup: find cgroup2 (mounting it in a private mount namespace when it is
//!    hidden), create the VRF's group, and make sure it carries the sock-create hook that binds every new
//!    AF_INET/AF_INET6 socket to the VRF's ifindex, and the egress guard that lets packets leave only
//!    through the VRF's own devices;
//! 3. join the group: from here on, every socket this process and its children create is the VRF's;
//! 4. show the VRF's own resolv.conf as `/etc/resolv.conf` (a private mount namespace);
//! 5. drop privileges, so that the command cannot leave the VRF;
//! 6. exec the command in place.
//!
//! A failure in steps 1 to 5 ends vrf-exec with exit status 125 before the command runs: it never falls
//! back to the default VRF.

use std::fs::{self, File};
use std::io;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use vrf_socket::Vrf;

use crate::bpf::{self, Attach};
use crate::cli::RunArgs;
use crate::egress::{self, Guard};
use crate::{EXIT_FAILURE, cgroup, exec, namespace};

/// Runs `args.command` inside `args.vrf`. Returns only when that failed, with the exit status that says
/// why (125 for vrf-exec's own failures, 126 and 127 for exec's).
pub fn launch(args: &RunArgs) -> ExitCode {
    let (status, message) = match run(args) {
        Ok(exec_failed) => (exec_failed.status, exec_failed.message),
        Err(e) => (EXIT_FAILURE, format!("{e:#}")),
    };
    eprintln!("vrf-exec: {message}");
    ExitCode::from(status)
}

/// The launch, steps 1 to 6. Returns only on failure: an error before exec, when nothing was run, or
/// how exec failed.
fn run(args: &RunArgs) -> Result<exec::ExecError> {
    let Some(name) = args.vrf.as_deref() else {
        bail!("no VRF given (vrf-exec VRF COMMAND [ARGS]…)");
    };
    // 1. The VRF.
    let vrf = look_up(name)?;
    // 2. Its cgroup, carrying the hook.
    let mount = namespace::ensure_cgroup2()?;
    let dir = cgroup::vrf_dir(&mount, vrf.as_ref().map_or("", Vrf::name))?;
    let hook = prepare_cgroup(&dir, vrf.as_ref().map(Vrf::index)).map_err(launch_error)?;
    // 3. Into it.
    cgroup::join(&dir)
        .map_err(|e| privilege_hint(e, format!("cannot join cgroup {}", dir.display())))?;
    // 4. The VRF's resolv.conf.
    let resolv = if args.no_vrf_resolv_conf || vrf.is_none() {
        None
    } else {
        namespace::use_vrf_resolv_conf(name)?
    };
    if args.verbose {
        tell(vrf.as_ref(), hook, &dir, resolv.as_deref());
    }
    // 5. Privileges.
    exec::drop_privileges(args.user.as_deref(), args.group.as_deref())?;
    // 6. The command.
    Ok(exec::exec(&args.command))
}

/// The VRF called `name`, up; `None` for `default`, the default VRF.
fn look_up(name: &str) -> Result<Option<Vrf>> {
    cgroup::check_name(name)?;
    if name == "default" {
        return Ok(None);
    }
    Ok(Some(Vrf::up_by_name(name)?))
}

/// Makes cgroup directory `dir` ready to join: creates it and, for a VRF (`ifindex`; `None` for the
/// default VRF), makes sure it carries a hook that binds new sockets to `ifindex` and the egress guard
/// for the VRF's devices. Says what it did to them. A launch prepares the VRF's cgroup with it, and
/// `vrf-exec check` tries it.
pub fn prepare_cgroup(
    dir: &Path,
    ifindex: Option<NonZeroU32>,
) -> Result<Option<Hooks>, PrepareError> {
    let failed = |step, error| PrepareError {
        step,
        dir: dir.to_path_buf(),
        error,
    };
    fs::create_dir_all(dir).map_err(|e| failed(Step::Create, e))?;
    let Some(ifindex) = ifindex else {
        return Ok(None);
    };
    let cg = File::open(dir).map_err(|e| failed(Step::Open, e))?;
    let hook = bpf::ensure_attached(&cg, ifindex).map_err(|e| failed(Step::Attach, e))?;
    let guard = egress::ensure_guard(&cg, ifindex).map_err(|e| failed(Step::Guard, e))?;
    Ok(Some(Hooks { hook, guard }))
}

/// What [`prepare_cgroup`] found or attached on a VRF's cgroup.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// The sock-create hook.
    pub hook: Attach,
    /// The egress guard.
    pub guard: Guard,
}

impl std::fmt::Display for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hook {:?}, egress guard {}", self.hook, self.guard)
    }
}

/// What [`prepare_cgroup`] was doing when it failed.
#[derive(Debug, Clone, Copy)]
enum Step {
    Create,
    Open,
    Attach,
    Guard,
}

/// A failure of [`prepare_cgroup`]: the step, the cgroup directory, and the system's error.
#[derive(Debug)]
pub struct PrepareError {
    step: Step,
    dir: PathBuf,
    /// Why the step failed.
    pub error: io::Error,
}

/// A launch's message for a failed [`prepare_cgroup`]: the step, and what to do when it was refused.
fn launch_error(e: PrepareError) -> anyhow::Error {
    let dir = e.dir.display();
    match e.step {
        Step::Create => privilege_hint(e.error, format!("cannot create cgroup {dir}")),
        Step::Open => anyhow!("opening {dir}: {}", e.error),
        Step::Attach => privilege_hint(e.error, format!("cannot attach the VRF hook to {dir}")),
        Step::Guard => privilege_hint(e.error, format!("cannot attach the egress guard to {dir}")),
    }
}

/// Adds what to do to permission errors.
fn privilege_hint(e: io::Error, what: String) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => anyhow!(
            "{what}: {e} (attaching a process to a VRF needs root: CAP_SYS_ADMIN for the cgroup, \
             CAP_BPF or CAP_SYS_ADMIN and CAP_NET_ADMIN for the hook; `vrf-exec check` tells what is missing)"
        ),
        Some(libc::EROFS) => anyhow!(
            "{what}: {e} (the cgroup2 file system is read-only here, as in many containers)"
        ),
        _ => anyhow!("{what}: {e}"),
    }
}

/// `--verbose`: says on stderr which VRF, hook, cgroup and resolv.conf the command gets.
fn tell(vrf: Option<&Vrf>, hooks: Option<Hooks>, dir: &Path, resolv: Option<&str>) {
    let what = match (vrf, hooks) {
        (Some(v), Some(h)) => format!(
            "VRF {} (ifindex {}, table {}), {h}",
            v.name(),
            v.index(),
            v.table(),
        ),
        _ => "the default VRF".to_string(),
    };
    eprintln!("vrf-exec: {what}, cgroup {}", dir.display());
    if let Some(r) = resolv {
        eprintln!("vrf-exec: /etc/resolv.conf is {r}");
    }
}
