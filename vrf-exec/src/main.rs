//! `vrf-exec`: run an unmodified program inside a VRF.
//!
//! This file reads the command line and hands each command to its module: a launch to [`launch`],
//! `check` to [`check`], the queries (`identify`, `pids`, `list`) to [`query`].

mod bpf;
mod cgroup;
mod check;
mod egress;
mod exec;
mod filter;
mod hook;
mod identity;
mod launch;
mod mode;
mod namespace;
mod pin;
mod procfs;
mod query;
mod seccomp;
mod sockets;
mod sys;
mod table;
mod unit;

use std::process::ExitCode;

use clap::Parser;
// The command line is the library's (`lib.rs`), which xtask renders into the man pages.
use vrf_exec::cli::{self, Cli, Sub};

/// Exit status for failures of vrf-exec itself (the `env`/`chroot` convention).
const EXIT_FAILURE: u8 = 125;

fn main() -> ExitCode {
    // The Rust runtime ignores SIGPIPE, and an ignored signal stays ignored across exec: the command
    // would get EPIPE errors where it expects to die quietly (`vrf-exec blue yes | head -1`), and so
    // would `vrf-exec check | head`.
    sys::default_action(nix::sys::signal::Signal::SIGPIPE);
    // Before anything: an install that raised the caller's privileges runs nothing.
    if let Err(e) = identity::refuse_raised_privileges() {
        eprintln!("vrf-exec: {e:#}");
        return ExitCode::from(EXIT_FAILURE);
    }
    if let Some(args) = cli::plain_launch(std::env::args_os()) {
        return launch::launch(&args);
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
        None => return launch::launch(&cli.run),
        Some(Sub::Exec(args)) => return launch::launch(&args),
        Some(Sub::Check { vrf, mode }) => return ExitCode::from(check::run(vrf.as_deref(), mode)),
        Some(Sub::Identify { pid, json }) => query::identify(pid, json),
        Some(Sub::Pids { vrf, all, json }) => query::pids(&vrf, all, json),
        Some(Sub::Sockets {
            vrf,
            tcp,
            udp,
            raw,
            icmp,
            listening,
            all: _,
            ipv4,
            ipv6,
            json,
        }) => sockets::run(&sockets::Filter {
            vrf,
            kinds: sockets::Kinds {
                tcp,
                udp,
                raw,
                icmp,
            },
            listening,
            ipv4,
            ipv6,
            json,
        }),
        Some(Sub::List { json }) => query::list(json),
        Some(Sub::Unit {
            names,
            dry_run,
            remove,
            no_reload,
            via,
        }) => match (&names[..], remove) {
            ([unit], true) => unit::remove(unit, dry_run, !no_reload),
            ([vrf, unit], false) => unit::put(vrf, unit, via, dry_run, !no_reload),
            (_, true) => Err(anyhow::anyhow!(
                "--remove takes the unit alone: vrf-exec unit --remove UNIT"
            )),
            (_, false) => Err(anyhow::anyhow!(
                "give the VRF and the unit: vrf-exec unit VRF UNIT"
            )),
        },
        Some(Sub::Pin { vrf, remove }) => unit::pin_command(&vrf, remove),
        Some(Sub::Attach { vrf, check }) => {
            return match hook::run(&vrf, check) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vrf-exec: {e:#}");
                    ExitCode::from(hook::EXIT_FAILED)
                }
            };
        }
    };
    match queried {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrf-exec: {e:#}");
            ExitCode::from(1)
        }
    }
}
