//! `vrf-ping`: an iputils-compatible ping, from a VRF or from the default VRF.

mod icmp;
mod ping;
mod resolve;
mod setup;
mod signals;
mod stats;
mod sys;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use vrf_socket::AddressFamily;
// The command line is the library's (`lib.rs`), which xtask renders into the man page.
use vrf_ping::cli::{self, Cli};

use crate::ping::Config;
use crate::signals::Signals;

/// Exit status for errors other than "no reply" (iputils' 2).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    sys::default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(EXIT_ERROR);
        }
        Err(e) => e.exit(), // --help, --version
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vrf-ping: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    let root = nix::unistd::geteuid().is_root();
    let interval = match (cli.interval, cli.flood) {
        (Some(i), _) => i,
        (None, true) => Duration::ZERO,
        (None, false) => Duration::from_secs(1),
    };
    if !root && interval < Duration::from_millis(2) {
        bail!("cannot flood; minimal interval allowed for user is 2ms");
    }
    let family = match (cli.ipv4, cli.ipv6) {
        (true, _) => Some(AddressFamily::Ipv4),
        (_, true) => Some(AddressFamily::Ipv6),
        _ => None,
    };
    let scope = setup::scope(cli.vrf.as_deref(), cli.interface.as_deref())?;
    let target = setup::target(scope, &cli.destination, family)?;
    let max = if target.v6() { 65527 } else { 65507 };
    if cli.size > max {
        bail!("packet size {} is too large. Maximum is {max}", cli.size);
    }
    let opened = setup::open(&target, cli.socket, cli.ttl)?;
    if cli.verbose {
        let scope = match &target.vrf {
            Some(v) => format!("VRF {v} (ifindex {}, table {})", v.index(), v.table()),
            None => "default VRF".to_string(),
        };
        let bound = match (&target.device, &target.vrf) {
            (Some((name, _)), _) => format!("bound to {name}"),
            (None, Some(v)) => format!("bound to {v}"),
            (None, None) => "bound to no device".to_string(),
        };
        let kind = match opened.kind {
            vrf_socket::IcmpKind::Datagram => "datagram",
            vrf_socket::IcmpKind::Raw => "raw",
        };
        eprintln!(
            "vrf-ping: {scope}, {kind} ICMP socket {bound}, identifier {:#06x}, source {}",
            opened.ident.id, target.source
        );
    }
    let cfg = Config {
        count: cli.count,
        interval,
        flood: cli.flood,
        linger: cli.timeout.unwrap_or(Duration::from_secs(10)),
        deadline: cli.deadline,
        size: cli.size as usize,
        quiet: cli.quiet,
        numeric: cli.numeric,
    };
    let signals = Signals::catch()?;
    ping::run(&target, opened, &cfg, signals)
}
