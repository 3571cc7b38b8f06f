//! Name lookup latency inside a VRF: vrf-socket's `VrfResolver` against glibc's `getaddrinfo` run under
//! `ip vrf exec`, both asking the same dnsmasq, in the same lab run. Only the ratio means anything
//! (under qemu TCG every number is slow).
//!
//! ```text
//! cargo bench -p vrf-lab --bench dns_latency     # VRF_BENCH_N=N: lookups per round and variant (default 300)
//! ```
//!
//! A dnsmasq in blue's peer namespace answers every name under `bench.lab` with one A and one AAAA
//! record (TTL 0). Each lookup asks for both (A and AAAA, as `getaddrinfo(AF_UNSPEC)` does) of a name
//! never asked before (`q<i>.r<round>.<variant>.bench.lab`), so no cache, ours or anyone's, can answer:
//! every lookup is a real round trip to the server, the same for both sides. The variants, in the
//! router namespace, VRF blue:
//!
//! - `vrf-resolver`: `VrfResolver::lookup_ip(..).await`, one lookup after the other on a current-thread
//!   tokio runtime, in this process;
//! - `vrf-blocking`: `VrfResolver::lookup_ip_blocking`, the same on the resolver's own runtime;
//! - `glibc`: `getaddrinfo` (through std's `ToSocketAddrs`) in a loop, in a copy of this program run
//!   as `ip vrf exec blue dns_latency --glibc-child …`, which times each call and prints the timings.
//!   Its `/etc/resolv.conf` names the same server: `ip netns exec` shows the router namespace's
//!   `/etc/netns/NS/resolv.conf` as `/etc/resolv.conf`. nsswitch: the host's (`files dns` on Debian).
//!
//! Each variant first does 20 unmeasured lookups, then N measured ones; seven rounds, interleaved.
//! Reported: each round's median, the median of all measured lookups per variant, and the ratio
//! ours/glibc both of those overall medians and as the median of the seven per-round ratios (the
//! figure least moved by the VM's drifting speed).

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::bench::median;
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::{Topology, cmd, netns};
use vrf_socket::Vrf;
use vrf_socket::dns::ResolverOptions;

/// Rounds, interleaved: the VM's speed drifts over a run, so each round's ratio compares variants
/// measured moments apart.
const ROUNDS: usize = 7;
const WARMUP: usize = 20;
const GOAL: f64 = 1.0;
const CHILD_FLAG: &str = "--glibc-child";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Ours,
    OursBlocking,
    Glibc,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Ours, Variant::Glibc, Variant::OursBlocking];

    fn name(self) -> &'static str {
        match self {
            Variant::Ours => "vrf-resolver",
            Variant::OursBlocking => "vrf-blocking",
            Variant::Glibc => "glibc",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Variant::Ours => "VrfResolver::lookup_ip, current-thread tokio",
            Variant::OursBlocking => "VrfResolver::lookup_ip_blocking",
            Variant::Glibc => "getaddrinfo(AF_UNSPEC) under ip vrf exec",
        }
    }
}

fn main() -> Result<()> {
    // The glibc child is this program again, run in the lab under `ip vrf exec` without `--bench`:
    // its role comes before the bench's start.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD_FLAG) {
        return glibc_child(&args[2..]);
    }
    if !vrf_lab::bench::start("dns_latency")? {
        return Ok(());
    }
    let n: usize = vrf_lab::bench::env_number("VRF_BENCH_N", 300, 1..=100_000)?;
    bench(n)
}

/// The name of lookup `i` of `variant` in `round`; negative `i`: warm-up.
fn name(variant: Variant, round: usize, i: isize) -> String {
    let i = if i < 0 {
        format!("w{}", -i)
    } else {
        format!("q{i}")
    };
    format!("{i}.r{round}.{}.bench.lab", variant.name())
}

/// The child's role: `--glibc-child N WARMUP ROUND`: getaddrinfo of N + WARMUP fresh names, printing
/// the first answer and then the microseconds of each measured call, one a line.
fn glibc_child(args: &[String]) -> Result<()> {
    let [n, warmup, round] = args else {
        bail!("usage: dns_latency {CHILD_FLAG} N WARMUP ROUND");
    };
    let (n, warmup, round): (isize, isize, usize) = (n.parse()?, warmup.parse()?, round.parse()?);
    let mut out = String::new();
    for i in -warmup..n {
        let host = name(Variant::Glibc, round, i);
        let start = Instant::now();
        let addrs: Vec<IpAddr> = (host.as_str(), 0)
            .to_socket_addrs()
            .with_context(|| format!("getaddrinfo({host})"))?
            .map(|a| a.ip())
            .collect();
        let took = start.elapsed();
        if i == -warmup {
            let mut a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            a.sort();
            a.dedup();
            out.push_str(&format!("answer {}\n", a.join(" ")));
        }
        if i >= 0 {
            out.push_str(&format!("{}\n", took.as_micros()));
        }
    }
    print!("{out}");
    Ok(())
}

/// A dnsmasq in `ns` answering `*.bench.lab`, not logging queries; killed on drop.
fn start_dnsmasq(ns: &str) -> Result<Dnsmasq> {
    Dnsmasq::builder(ns)
        .log_queries(false)
        .listen(&["--interface=eth0", "--bind-interfaces"])
        .zone("lab")
        .address("bench.lab", "10.99.1.1")
        .address("bench.lab", "fd00:1::1")
        .start()
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const WANT: &str = "10.99.1.1 fd00:1::1";

fn bench(n: usize) -> Result<()> {
    let t = Topology::new()?;
    let scratch = std::env::temp_dir().join(format!("vrf-dns-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let _scratch = RemoveDir(scratch.clone());
    let _dns = start_dnsmasq(&t.blue.peer_ns)?;
    let conf = format!("nameserver {}\n", vrf_lab::PEER_V4);
    let etc = PathBuf::from("/etc/netns").join(&t.router_ns);
    std::fs::create_dir_all(&etc)?;
    let _etc = RemoveDir(etc.clone());
    std::fs::write(etc.join("resolv.conf"), &conf)?;
    let rc = scratch.join("resolv.conf");
    std::fs::write(&rc, &conf)?;

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let place = if std::env::var_os(vrf_lab::lab::GUEST_ENV).is_some() {
        "lab VM"
    } else {
        "native"
    };
    println!(
        "dns_latency: {n} lookups (A+AAAA of a fresh name) per round and variant after {WARMUP} unmeasured, \
         {ROUNDS} rounds interleaved; dnsmasq in blue's peer; kernel {} ({place})",
        kernel.trim()
    );

    let exe = std::env::current_exe()?;
    let mut samples: Vec<(Variant, Vec<f64>)> = Vec::new();
    for round in 1..=ROUNDS {
        for v in Variant::ALL {
            let us = match v {
                Variant::Glibc => run_glibc(&t, &exe, n, round)?,
                _ => run_ours(&t, &rc, v, n, round)?,
            };
            eprintln!(
                "dns_latency: round {round} {:<13} median {:>8.0} µs",
                v.name(),
                median(&us)
            );
            samples.push((v, us));
        }
    }
    drop(t);

    println!();
    let rounds_header: Vec<String> = (1..=ROUNDS)
        .map(|r| format!("{:>6}", format!("r{r}")))
        .collect();
    println!(
        "{:<13} {:<46} {} {:>10} {:>9}",
        "variant",
        "what",
        rounds_header.join(" "),
        "median µs",
        "p90 µs"
    );
    let per_round = |v: Variant| -> Vec<f64> {
        samples
            .iter()
            .filter(|(w, _)| *w == v)
            .map(|(_, s)| median(s))
            .collect()
    };
    let mut medians = Vec::new();
    for v in Variant::ALL {
        let all: Vec<f64> = samples
            .iter()
            .filter(|(w, _)| *w == v)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let m = median(&all);
        medians.push((v, m));
        let per: Vec<String> = per_round(v).iter().map(|m| format!("{m:>6.0}")).collect();
        println!(
            "{:<13} {:<46} {} {m:>10.0} {:>9.0}",
            v.name(),
            v.what(),
            per.join(" "),
            percentile(&all, 0.9)
        );
    }
    let median_of = |v: Variant| medians.iter().find(|(w, _)| *w == v).map_or(0.0, |m| m.1);
    let glibc = median_of(Variant::Glibc);
    let glibc_rounds = per_round(Variant::Glibc);
    println!();
    for v in [Variant::Ours, Variant::OursBlocking] {
        let ratios: Vec<f64> = per_round(v)
            .iter()
            .zip(&glibc_rounds)
            .map(|(o, g)| o / g)
            .collect();
        let ratio = median(&ratios);
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{:>13} / glibc = {ratio:.3} (median of per-round ratios {}; of overall medians {:.3})   goal <= {GOAL}: {}",
            v.name(),
            shown.join(" "),
            median_of(v) / glibc,
            if ratio <= GOAL { "met" } else { "NOT met" }
        );
    }
    println!(
        "\nnote: every lookup is of a name never asked before (no cache anywhere can answer); dnsmasq answers \
         with TTL 0.\n      glibc's time is measured inside its process, around each getaddrinfo call (not the launch)."
    );
    Ok(())
}

/// N lookups with our resolver in VRF blue, from the router namespace; their times in µs.
fn run_ours(
    t: &Topology,
    rc: &std::path::Path,
    v: Variant,
    n: usize,
    round: usize,
) -> Result<Vec<f64>> {
    let (vrf, rc) = (t.blue.vrf.clone(), rc.to_path_buf());
    netns::run_in(&t.router_ns, move || {
        let r = Vrf::by_name(&vrf)?.resolver_with(&ResolverOptions::default().resolv_conf(rc))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut us = Vec::with_capacity(n);
        for i in -(WARMUP as isize)..n as isize {
            let host = name(v, round, i);
            let start = Instant::now();
            let got = match v {
                Variant::Ours => rt.block_on(r.lookup_ip(&host)),
                _ => r.lookup_ip_blocking(&host),
            }
            .with_context(|| format!("{} lookup of {host}", v.name()))?;
            let took = start.elapsed();
            if i == -(WARMUP as isize) {
                let mut a: Vec<String> = got.iter().map(|a| a.to_string()).collect();
                a.sort();
                ensure!(a.join(" ") == WANT, "{} got {a:?} for {host}", v.name());
            }
            if i >= 0 {
                us.push(took.as_secs_f64() * 1e6);
            }
        }
        Ok(us)
    })
}

/// N getaddrinfo calls in a child under `ip vrf exec blue`; their times in µs.
fn run_glibc(t: &Topology, exe: &std::path::Path, n: usize, round: usize) -> Result<Vec<f64>> {
    let exe = exe.to_string_lossy();
    let r = cmd::run(&mut t.router_cmd(
        "ip",
        &[
            "vrf",
            "exec",
            &t.blue.vrf,
            &exe,
            CHILD_FLAG,
            &n.to_string(),
            &WARMUP.to_string(),
            &round.to_string(),
        ],
    ))?
    .ok()?;
    let mut lines = r.stdout.lines();
    let answer = lines.next().unwrap_or_default();
    ensure!(
        answer == format!("answer {WANT}"),
        "glibc under ip vrf exec got {answer:?}"
    );
    let us: Vec<f64> = lines
        .map(|l| l.parse::<f64>())
        .collect::<Result<_, _>>()
        .context("glibc child output")?;
    ensure!(us.len() == n, "glibc child printed {} timings", us.len());
    Ok(us)
}
