//! `vrf-exec`: run an unmodified program inside a VRF.

mod bpf;
mod cgroup;
mod check;
mod cli;
mod exec;
mod namespace;
mod query;
mod sys;

use std::os::fd::AsFd;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use vrf_socket::Vrf;

use crate::cli::{Cli, RunArgs, Sub};

/// Exit status for failures of vrf-exec itself (the `env`/`chroot` convention).
const EXIT_FAILURE: u8 = 125;

fn main() -> ExitCode {
    if let Some(args) = cli::plain_launch(std::env::args_os()) {
        return run(args);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EXIT_FAILURE);
        }
        Err(e) => e.exit(), // --help, --version
    };
    let queried = match cli.sub {
        None => return run(cli.run),
        Some(Sub::Exec(args)) => return run(args),
        Some(Sub::Check { vrf }) => return ExitCode::from(check::run(vrf.as_deref())),
        Some(Sub::Identify { pid, json }) => query::identify(pid, json),
        Some(Sub::Pids { vrf, json }) => query::pids(&vrf, json),
        Some(Sub::List { json }) => query::list(json),
    };
    match queried {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrf-exec: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Attaches to the VRF and execs the command; returns only on failure.
fn run(args: RunArgs) -> ExitCode {
    let Some(vrf) = args.vrf.as_deref() else {
        eprintln!("vrf-exec: no VRF given (vrf-exec VRF COMMAND [ARGS]…)");
        return ExitCode::from(EXIT_FAILURE);
    };
    if let Err(e) = enter(vrf, &args) {
        eprintln!("vrf-exec: {e:#}");
        return ExitCode::from(EXIT_FAILURE);
    }
    let e = exec::exec(&args.command);
    eprintln!("vrf-exec: {}", e.message);
    ExitCode::from(e.status)
}

/// Everything before exec: find the VRF, make sure its cgroup carries the hook, join it, set up DNS,
/// drop privileges.
fn enter(name: &str, args: &RunArgs) -> Result<()> {
    exec::check_name(name)?;
    let vrf = if name == "default" {
        None
    } else {
        Some(Vrf::up_by_name(name)?)
    };
    let mount = namespace::ensure_cgroup2()?;
    let dir = cgroup::vrf_dir(&mount, vrf.as_ref().map_or("", Vrf::name))?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| privilege_hint(e, format!("cannot create cgroup {}", dir.display())))?;
    let mut hook = None;
    if let Some(vrf) = &vrf {
        let cg = std::fs::File::open(&dir).with_context(|| format!("opening {}", dir.display()))?;
        let done = bpf::ensure_attached(cg.as_fd(), vrf.index().get()).map_err(|e| {
            privilege_hint(
                e,
                format!("cannot attach the VRF hook to {}", dir.display()),
            )
        })?;
        hook = Some(done);
    }
    cgroup::join(&dir)
        .map_err(|e| privilege_hint(e, format!("cannot join cgroup {}", dir.display())))?;
    let resolv = if args.no_vrf_resolv_conf || vrf.is_none() {
        None
    } else {
        namespace::use_vrf_resolv_conf(name)?
    };
    if args.verbose {
        let what = match (&vrf, hook) {
            (Some(v), Some(h)) => format!(
                "VRF {} (ifindex {}, table {}), hook {:?}",
                v.name(),
                v.index(),
                v.table(),
                h
            ),
            _ => "the default VRF".to_string(),
        };
        eprintln!("vrf-exec: {what}, cgroup {}", dir.display());
        if let Some(r) = resolv {
            eprintln!("vrf-exec: /etc/resolv.conf is {r}");
        }
    }
    exec::drop_privileges(args.user.as_deref(), args.group.as_deref())
}

/// Adds what to do to permission errors.
fn privilege_hint(e: std::io::Error, what: String) -> anyhow::Error {
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
