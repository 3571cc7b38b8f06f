//! vrf-curl-lite against curl under `ip vrf exec`, in the same lab run: 100 MB download throughput,
//! time to first byte with the DNS lookup included, and peak memory for 1 MB and 100 MB. Only the
//! ratios mean anything (under qemu TCG every number is low).
//!
//! ```text
//! scripts/bench.sh curl_download
//! VRF_BENCH_ROUNDS=N   rounds of each measurement (default 5 for downloads, 3x that for TTFB)
//! ```
//!
//! Set-up: the lab topology; in blue's peer a hyper HTTP server (`vrf_lab::http`, the same for both
//! clients) and a dnsmasq answering `www.lab`; `/etc/resolv.conf` (the VM's own overlay copy) names
//! that dnsmasq, so curl (glibc under `ip vrf exec`) and vrf-curl-lite (its VRF resolver, which falls
//! back to /etc/resolv.conf) ask the same server through the VRF. Every run is a new process fetching
//! `http://www.lab/…` with `-s -o /dev/null`, both tools interleaved, medians reported:
//!
//! - throughput: `/bytes/100000000`; the wall time of the whole process (start-up, DNS, connect,
//!   transfer) and each tool's own `%{speed_download}`. Goal: ours / curl >= 1.0.
//! - TTFB: `/` (5 bytes) to a pipe; the time from launching the command to the first byte of the body
//!   on the pipe (what a user or script waits; for curl that includes `ip vrf exec`'s work), and each
//!   tool's own `%{time_starttransfer}` (from the start of its transfer: DNS, connect, request, response
//!   head; both tools start that clock after their set-up). Goal: ours / curl <= 1.1.
//! - peak memory: the maximum resident set size (GNU time's %M) of a 1 MB and a 100 MB download.
//!
//! vrf-curl-lite runs from a copy in the VM's tmpfs: target/ is on the host over uncached 9p.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vrf_lab::bench::median_by;
use vrf_lab::cmd;
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::http::http_server;
use vrf_lab::{PEER_V4, PEER_V6, Topology};

const BIG: u64 = 100_000_000;
const SMALL: u64 = 1_000_000;

fn main() -> Result<()> {
    if !vrf_lab::bench::start("curl_download")? {
        return Ok(());
    }
    let rounds: usize = vrf_lab::bench::env_number("VRF_BENCH_ROUNDS", 5, 1..=100)?;
    let dir = vrf_lab::TempDir::new("curl_download")?;
    let ours = vrf_lab::bench::release_copy("vrf-curl-lite", &dir)?;
    let resolv = ResolvConf::point_at(PEER_V4)?;
    let res = bench(&ours, rounds);
    drop(resolv);
    res
}

/// /etc/resolv.conf replaced for the run, put back on drop.
struct ResolvConf(Option<Vec<u8>>);

impl ResolvConf {
    fn point_at(server: &str) -> Result<ResolvConf> {
        let path = Path::new("/etc/resolv.conf");
        let old = std::fs::read(path).ok();
        // A symlink (systemd-resolved) is replaced by a file; the old contents come back as a file.
        let _ = std::fs::remove_file(path);
        std::fs::write(path, format!("nameserver {server}\n"))
            .context("writing /etc/resolv.conf")?;
        Ok(ResolvConf(old))
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = std::fs::write("/etc/resolv.conf", old);
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    /// The tool's own %{time_starttransfer}, seconds.
    ttfb: f64,
    /// The tool's own %{speed_download}, bytes/s.
    speed: f64,
    /// Peak RSS, KiB.
    rss: u64,
}

struct Tool {
    name: &'static str,
    argv: Vec<String>,
}

fn bench(ours: &Path, rounds: usize) -> Result<()> {
    let t = Topology::new()?;
    let vrf = t.blue.vrf.clone();
    let _server = http_server(&t.blue.peer_ns, "[::]:80".parse()?, "blue", None)?;
    let _dns = Dnsmasq::builder(&t.blue.peer_ns)
        .zone("lab")
        .host_record("www.lab", [PEER_V4, PEER_V6])
        .log_queries(false)
        .start()?;
    let curl_version = cmd::run_ok("curl", &["--version"])?
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    println!(
        "curl_download: http://www.lab/ in VRF {vrf} (DNS by dnsmasq in the peer), {rounds} rounds \
         interleaved after a warm-up; {}\n  reference: {curl_version}",
        vrf_lab::bench::machine()
    );
    let tools = [
        Tool {
            name: "vrf-curl-lite",
            argv: vec![
                ours.to_string_lossy().into_owned(),
                "--vrf".into(),
                vrf.clone(),
            ],
        },
        Tool {
            name: "curl",
            argv: vec![
                "ip".into(),
                "vrf".into(),
                "exec".into(),
                vrf.clone(),
                "curl".into(),
            ],
        },
    ];
    let fetch = |tool: &Tool, path: &str| -> Result<Sample> {
        let mut argv = tool.argv.clone();
        argv.extend(
            [
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{time_starttransfer} %{speed_download} %{http_code}",
            ]
            .map(String::from),
        );
        argv.push(format!("http://www.lab{path}"));
        let t0 = Instant::now();
        let (run, rss) = cmd::run_measured(&mut t.router_cmd(&argv[0], &argv[1..]))?;
        let wall = t0.elapsed();
        ensure!(run.success(), "{}", run.describe("fetch"));
        let mut w = run.stdout.split_whitespace();
        let mut num = || -> Result<f64> {
            w.next()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("bad -w output {:?}", run.stdout))
        };
        let (ttfb, speed, code) = (num()?, num()?, num()?);
        ensure!(code == 200.0, "{}: HTTP {code}", tool.name);
        Ok(Sample {
            wall,
            ttfb,
            speed,
            rss,
        })
    };

    // Time to first byte as a user sees it: from launching the command to the first byte of the body
    // on its standard output (a pipe), and the tool's own %{time_starttransfer} (the same run).
    let first_byte = |tool: &Tool| -> Result<Sample> {
        let mut argv = tool.argv.clone();
        argv.extend(
            [
                "-s",
                "-w",
                "%{stderr}%{time_starttransfer}",
                "http://www.lab/",
            ]
            .map(String::from),
        );
        let mut c = t.router_cmd(&argv[0], &argv[1..]);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t0 = Instant::now();
        let mut child = c.spawn()?;
        let mut out = child.stdout.take().context("stdout")?;
        let mut one = [0u8; 1];
        out.read_exact(&mut one).context("no body")?;
        let wall = t0.elapsed();
        let mut rest = Vec::new();
        out.read_to_end(&mut rest)?;
        let mut err = String::new();
        child
            .stderr
            .take()
            .context("stderr")?
            .read_to_string(&mut err)?;
        ensure!(child.wait()?.success(), "{}: {err}", tool.name);
        ensure!(
            one[0] == b'b' && rest == b"lue\n",
            "{}: wrong body",
            tool.name
        );
        Ok(Sample {
            wall,
            ttfb: err
                .trim()
                .parse()
                .with_context(|| format!("bad -w output {err:?}"))?,
            ..Sample::default()
        })
    };

    for tool in &tools {
        first_byte(tool).with_context(|| format!("warm-up of {}", tool.name))?;
        fetch(tool, &format!("/bytes/{BIG}"))
            .with_context(|| format!("warm-up of {}", tool.name))?;
    }
    let mut big: [Vec<Sample>; 2] = Default::default();
    let mut small: [Vec<Sample>; 2] = Default::default();
    let mut first: [Vec<Sample>; 2] = Default::default();
    for round in 1..=rounds {
        for (i, tool) in tools.iter().enumerate() {
            let s = fetch(tool, &format!("/bytes/{BIG}"))?;
            eprintln!(
                "curl_download: round {round} {:<13} 100 MB in {:>6.3} s wall, own speed {:>7.1} MB/s, peak {} KiB",
                tool.name,
                s.wall.as_secs_f64(),
                s.speed / 1e6,
                s.rss
            );
            big[i].push(s);
            small[i].push(fetch(tool, &format!("/bytes/{SMALL}"))?);
            for _ in 0..3 {
                first[i].push(first_byte(tool)?);
            }
        }
    }
    drop(t);

    let wall_mbps = |s: &Sample| BIG as f64 / s.wall.as_secs_f64() / 1e6;
    let own_mbps = |s: &Sample| s.speed / 1e6;
    let ttfb_ms = |s: &Sample| s.ttfb * 1e3;
    let wall_ms = |s: &Sample| s.wall.as_secs_f64() * 1e3;
    let rss = |s: &Sample| s.rss as f64;
    println!();
    println!(
        "{:<14} {:>12} {:>12} {:>10} {:>10} {:>11} {:>11}",
        "tool", "100MB wall", "100MB own", "TTFB own", "TTFB pipe", "peak 1MB", "peak 100MB"
    );
    let mut rows = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let row = (
            median_by(&big[i], wall_mbps),
            median_by(&big[i], own_mbps),
            median_by(&first[i], ttfb_ms),
            median_by(&first[i], wall_ms),
            median_by(&small[i], rss),
            median_by(&big[i], rss),
        );
        println!(
            "{:<14} {:>9.1}MB/s {:>9.1}MB/s {:>8.2}ms {:>8.2}ms {:>8.0}KiB {:>8.0}KiB",
            tool.name, row.0, row.1, row.2, row.3, row.4, row.5
        );
        rows.push(row);
    }
    let (a, b) = (rows[0], rows[1]);
    let throughput = (a.0 / b.0, a.1 / b.1);
    let ttfb = (a.2 / b.2, a.3 / b.3);
    println!();
    println!(
        "ratio vrf-curl-lite / curl: throughput {:.2} wall, {:.2} own (goal >= 1.0); TTFB {:.2} own, {:.2} \
         launch to first byte (goal <= 1.1)",
        throughput.0, throughput.1, ttfb.0, ttfb.1
    );
    println!(
        "peak memory: vrf-curl-lite {:.0} KiB (1 MB) -> {:.0} KiB (100 MB); curl {:.0} -> {:.0} KiB",
        a.4, a.5, b.4, b.5
    );
    let flat = a.5 - a.4 < 4096.0;
    if throughput.0 >= 1.0 && throughput.1 >= 1.0 && ttfb.0 <= 1.1 && ttfb.1 <= 1.1 && flat {
        println!("goal met");
    } else {
        println!("GOAL NOT MET");
    }
    Ok(())
}
