//! `vrf-exec`: run an unmodified program inside a VRF.

mod bpf;
mod cgroup;
mod check;
mod exec;
mod sys;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand};
use vrf_socket::Vrf;

/// Exit status for failures of vrf-exec itself (the `env`/`chroot` convention).
const EXIT_FAILURE: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Run a program inside a VRF",
    long_about = "Run an unmodified program inside a Linux VRF.\n\n\
        Every AF_INET/AF_INET6 socket the program and its children create (TCP, UDP, raw, ICMP) is bound \
        to the VRF device as it is created, by a BPF program on a cgroup-v2 group: the mechanism of \
        `ip vrf exec`, in the same cgroup layout, so `ip vrf identify` and `ip vrf pids` see these \
        processes. vrf-exec then execs the command in place: no process is left behind, and stdin, \
        stdout, stderr, the environment, signals and the exit status are the command's own. If anything \
        fails before exec, the command is not run: it never falls back to the default VRF.\n\n\
        If /etc/vrf/VRF/resolv.conf exists, the command sees it as /etc/resolv.conf (private mount \
        namespace), so it resolves names with the VRF's name servers.",
    after_help = "Exit status: the command's own; 125 when vrf-exec fails (unknown VRF, not a VRF, VRF \
        down, no privilege, no cgroup2 …), 126 when COMMAND cannot be executed, 127 when it is not found. \
        The query commands exit 1 on failure; `check` exits 1 when a check fails.\n\n\
        Examples:\n  vrf-exec blue ping -c1 10.99.0.2\n  vrf-exec --user nobody red curl http://10.99.0.2/\n  \
        vrf-exec identify $$\n  vrf-exec list --json\n  vrf-exec check blue\n\n\
        A VRF named like a subcommand: vrf-exec exec list COMMAND…",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Run the command as USER (name or uid), after attaching; it cannot leave the VRF.
    #[arg(short, long, value_name = "USER")]
    user: Option<String>,
    /// Run the command with GROUP (name or gid) as its group.
    #[arg(short, long, value_name = "GROUP")]
    group: Option<String>,
    /// Keep the host's /etc/resolv.conf even if /etc/vrf/VRF/resolv.conf exists.
    #[arg(long)]
    no_vrf_resolv_conf: bool,
    /// Say on stderr what was done (cgroup, hook loaded or reused, resolv.conf).
    #[arg(short, long)]
    verbose: bool,
    /// The VRF (a device made by `ip link add NAME type vrf table N`), or `default` to leave any VRF.
    #[arg(required = true)]
    vrf: Option<String>,
    /// The program to run, then its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Run COMMAND in VRF (the default action, spelled out).
    Exec(RunArgs),
    /// Print the VRF a process runs in (nothing when none), like `ip vrf identify`.
    Identify {
        /// The process (default: this one, which is in the VRF of the shell that runs it).
        pid: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the processes running in VRF, like `ip vrf pids`.
    Pids {
        /// The VRF.
        vrf: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the VRFs with table, state, enslaved devices and process count.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every precondition of `vrf-exec VRF …` and say how to fix what fails.
    Check {
        /// Also check this VRF.
        vrf: Option<String>,
    },
}

/// The subcommand names: a first argument spelled like one goes to clap.
const SUBCOMMANDS: [&str; 6] = ["exec", "identify", "pids", "list", "check", "help"];

/// `vrf-exec VRF COMMAND [ARGS]…` without options, the launch that scripts repeat, read without clap:
/// building clap's parser is a large part of vrf-exec's own start-up. Anything else (an option before
/// COMMAND, a subcommand, a missing COMMAND, arguments that are not UTF-8) is left to clap, so the
/// result is the same as clap's.
fn plain_launch() -> Option<RunArgs> {
    let mut args = std::env::args_os().skip(1);
    let vrf = args.next()?.into_string().ok()?;
    if vrf.starts_with('-') || SUBCOMMANDS.contains(&vrf.as_str()) {
        return None;
    }
    let command: Vec<String> = args.map(|a| a.into_string().ok()).collect::<Option<_>>()?;
    if command.first().is_none_or(|c| c.starts_with('-')) {
        return None;
    }
    Some(RunArgs {
        user: None,
        group: None,
        no_vrf_resolv_conf: false,
        verbose: false,
        vrf: Some(vrf),
        command,
    })
}

fn main() -> ExitCode {
    if let Some(args) = plain_launch() {
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
    match cli.sub {
        None => run(cli.run),
        Some(Sub::Exec(args)) => run(args),
        Some(Sub::Check { vrf }) => ExitCode::from(check::run(vrf.as_deref())),
        Some(sub) => match query(sub) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vrf-exec: {e:#}");
                ExitCode::from(1)
            }
        },
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
    let mount = cgroup::mount_point()?;
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
        exec::use_vrf_resolv_conf(name)?
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

fn query(sub: Sub) -> Result<()> {
    match sub {
        Sub::Identify { pid, json } => {
            let pid = pid.unwrap_or_else(std::process::id);
            let vrf =
                cgroup::identify(pid).with_context(|| format!("reading /proc/{pid}/cgroup"))?;
            if json {
                println!("{}", serde_json::json!({ "pid": pid, "vrf": vrf }));
            } else if let Some(v) = vrf {
                println!("{v}");
            }
        }
        Sub::Pids { vrf, json } => {
            exec::check_name(&vrf)?;
            let pids = cgroup::pids(&cgroup::mount_point()?, &vrf)?;
            if json {
                let list: Vec<_> = pids
                    .iter()
                    .map(|p| serde_json::json!({ "pid": p, "comm": comm(*p) }))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for p in pids {
                    println!(
                        "{p:>7}  {}",
                        comm(p).unwrap_or_else(|| "<terminated?>".into())
                    );
                }
            }
        }
        Sub::List { json } => list(json)?,
        Sub::Exec(_) | Sub::Check { .. } => unreachable!("handled in main"),
    }
    Ok(())
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn list(json: bool) -> Result<()> {
    let vrfs = Vrf::list()?;
    let mount: Option<PathBuf> = cgroup::mount_point().ok();
    let mut rows = Vec::new();
    for v in &vrfs {
        let slaves: Vec<String> = v.slaves()?.into_iter().map(|s| s.name).collect();
        let procs = mount
            .as_deref()
            .map(|m| cgroup::pids(m, v.name()).map(|p| p.len()).unwrap_or(0));
        rows.push((v, slaves, procs));
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|(v, slaves, procs)| {
                serde_json::json!({
                    "name": v.name(), "ifindex": v.index().get(), "table": v.table(),
                    "state": if v.is_up() { "up" } else { "down" }, "slaves": slaves, "processes": procs,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No VRF is configured (ip link add NAME type vrf table N).");
        return Ok(());
    }
    println!(
        "{:<16} {:>6} {:<5} {:>5}  SLAVES",
        "NAME", "TABLE", "STATE", "PROCS"
    );
    for (v, slaves, procs) in rows {
        let procs = procs.map_or("?".to_string(), |n| n.to_string());
        let state = if v.is_up() { "up" } else { "down" };
        println!(
            "{:<16} {:>6} {:<5} {:>5}  {}",
            v.name(),
            v.table(),
            state,
            procs,
            slaves.join(" ")
        );
    }
    Ok(())
}
