//! The `vrf-curl-lite` binary's library: an HTTP(S) client inside a VRF, with curl's options, output
//! and exit codes.
//!
//! Every socket it makes (DNS and HTTP) comes from `vrf-socket` and is bound to the VRF device from
//! creation, so nothing can leave through the default VRF. `main.rs` parses the command line with
//! [`cli::Cli`], calls [`run`] and maps its [`Failure`] to curl's exit code; the parsers
//! are public for the fuzz targets in `vrf-curl-lite/fuzz` ([`writeout::WriteOut`],
//! [`request::parse_url`], [`cli::Pinned`]).

pub mod cli;
pub mod error;
mod output;
mod progress;
pub mod request;
mod tls;
mod transfer;
pub mod writeout;

use std::io::Read;
use std::time::Instant;

use vrf_socket::AddressFamily;
use vrf_socket::Vrf;

use crate::cli::{Cli, Pinned};
use crate::error::{Failure, code};
use crate::output::{Sink, Trace};
use crate::request::Plan;
use crate::transfer::{HttpChoice, Settings, TlsChoice, Transfer};
use crate::writeout::{Info, WriteOut};

/// `-w FORMAT`, `-w @FILE`, `-w @-`.
pub fn write_out_format(arg: &str) -> Result<WriteOut, Failure> {
    let text = match arg.strip_prefix('@') {
        None => arg.to_string(),
        Some(name) => {
            let mut s = String::new();
            let r = if name == "-" {
                std::io::stdin().read_to_string(&mut s).map(|_| ())
            } else {
                std::fs::read_to_string(name).map(|t| s = t)
            };
            r.map_err(|e| {
                Failure::new(
                    code::READ_ERROR,
                    format!("-w @{name}: cannot read the format: {e}"),
                )
            })?;
            s
        }
    };
    Ok(WriteOut::parse(&text))
}

/// Sets up from the options and runs the transfer; returns what `-w` reports either way.
pub fn run(cli: &Cli) -> (Result<(), Failure>, Info) {
    let mut info = Info {
        vrf: cli.vrf.clone(),
        url: cli.url.clone(),
        ..Info::default()
    };
    let (settings, plan, mut sink, dump) = match prepare(cli) {
        Ok(p) => p,
        Err(f) => return (Err(f), info),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return (
                Err(Failure::new(code::BAD_OPTION, format!("cannot start: {e}"))),
                info,
            );
        }
    };
    // curl's clock (every %{time_…}, -m) starts with the transfer, after its set-up; ours too, after
    // the VRF lookup and the runtime.
    let start = Instant::now();
    let mut t = Transfer::new(&settings, start, dump);
    let result = rt.block_on(async {
        let run = t.run(&plan, &mut sink);
        match cli.max_time {
            Some(max) => tokio::time::timeout(max, run).await.ok(),
            None => Some(run.await),
        }
    });
    // Nothing left on the runtime is waited for (a CA store still loading after -m ran out).
    rt.shutdown_background();
    let result = match result {
        Some(r) => r,
        None => Err(Failure::new(
            code::OPERATION_TIMEDOUT,
            format!(
                "Operation timed out after {} milliseconds with {} bytes received (-m)",
                start.elapsed().as_millis(),
                t.info.size_download
            ),
        )),
    };
    let result = result.and(sink.flush());
    t.finish_meter();
    info = std::mem::take(&mut t.info);
    info.vrf = cli.vrf.clone();
    info.time_total = start.elapsed().as_secs_f64();
    if info.time_total > 0.0 {
        info.speed_download = info.size_download as f64 / info.time_total;
        info.speed_upload = info.size_upload as f64 / info.time_total;
    }
    (result, info)
}

type Prepared = (Settings, Plan, Sink, Option<Sink>);

fn prepare(cli: &Cli) -> Result<Prepared, Failure> {
    let plan = Plan::from_cli(cli)?;
    let pinned = Pinned::parse_all(&cli.resolve)?;
    let vrf = Vrf::up_by_name(&cli.vrf)
        .map_err(|e| Failure::new(code::INTERFACE_FAILED, e.to_string()))?;
    if let Some(src) = cli.interface {
        transfer::check_source(&vrf, src)?;
    }
    let sink = if cli.remote_name {
        Sink::new(Some(request::remote_name(&plan.url)?.as_ref()))
    } else {
        Sink::new(cli.output.as_deref())
    };
    let dump = cli.dump_header.as_deref().map(|p| Sink::new(Some(p)));
    let settings = Settings {
        vrf,
        source: cli.interface,
        pinned,
        family: match (cli.ipv4, cli.ipv6) {
            (true, _) => Some(AddressFamily::Ipv4),
            (_, true) => Some(AddressFamily::Ipv6),
            _ => None,
        },
        http: if cli.http2_prior_knowledge {
            HttpChoice::PriorKnowledge
        } else if cli.http1_1 {
            HttpChoice::Http11
        } else {
            HttpChoice::Default
        },
        follow: cli.location,
        max_redirs: u32::try_from(cli.max_redirs).ok(),
        connect_timeout: cli.connect_timeout,
        fail: cli.fail,
        include: cli.include,
        head_only: cli.head,
        tls: if cli.insecure {
            Some(TlsChoice::Insecure)
        } else {
            cli.cacert.clone().map(TlsChoice::CaFile)
        },
        meter: !cli.silent && !cli.no_progress_meter && !sink.is_terminal(),
        trace: Trace { on: cli.verbose },
    };
    Ok((settings, plan, sink, dump))
}
