//! Flood ping rate: `vrf-ping -V blue -f -c N` against iputils `ip vrf exec blue ping -f -c N`, to the
//! same peer, in the same lab run. Only the ratio means anything (under qemu TCG every number is low).
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p vrf-lab --bench ping_flood
//! VRF_BENCH_FLOOD=N    requests per run (default 2000)
//! ```
//!
//! Both run as root in the router namespace, with their output piped to this program (as when a user
//! pipes it), three rounds interleaved after one warm-up run each; the medians are reported. A flood
//! sends the next request as soon as the previous one is answered (or after 10 ms without an answer),
//! so the rate is one over the per-request cost: system calls, output, the kernel's path through the
//! VRF to the peer and back. Two rates are given for each tool:
//!
//! - `wall`: N over the whole run, from launch to exit (start-up included: `ip vrf exec` loads and
//!   attaches a BPF program first, vrf-ping looks the VRF up over netlink);
//! - `own`: N over the tool's own `time` (first to last request), the flood loop alone.
//!
//! The goal is a ratio of at least 1.0 on both, with the same loss. vrf-ping runs from a copy in the
//! temporary directory: in the lab VM, target/ is on the host's file system over uncached 9p, and
//! loading a binary from there costs more than the flood itself.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::bench::median_by;
use vrf_lab::{PEER_V4, Topology};

const ROUNDS: usize = 3;
const GOAL: f64 = 1.0;
const DEFAULT_N: u64 = 2000;

fn main() -> Result<()> {
    if !vrf_lab::bench::start("ping_flood")? {
        return Ok(());
    }
    let n: u64 = vrf_lab::bench::env_number("VRF_BENCH_FLOOD", DEFAULT_N, 1..=1_000_000)?;
    // Run from memory, as iputils does (see the module's comment).
    let dir = vrf_lab::TempDir::new("ping_flood")?;
    let vrf_ping = vrf_lab::bench::release_copy("vrf-ping", &dir)?;
    bench(&vrf_ping, n)
}

fn bench(vrf_ping: &std::path::Path, n: u64) -> Result<()> {
    let t = Topology::new()?;
    let vrf = t.blue.vrf.clone();
    println!(
        "ping_flood: {n} requests per run to {PEER_V4} in VRF {vrf}, {ROUNDS} rounds interleaved after a \
         warm-up; {}; vrf-ping run as {}",
        vrf_lab::bench::machine(),
        vrf_ping.display()
    );
    let count = n.to_string();
    let tools: [(&str, Vec<String>); 2] = [
        (
            "vrf-ping",
            [
                vrf_ping.to_string_lossy().as_ref(),
                "-V",
                &vrf,
                "-f",
                "-c",
                &count,
                PEER_V4,
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "iputils",
            [
                "ip", "vrf", "exec", &vrf, "ping", "-f", "-c", &count, PEER_V4,
            ]
            .map(String::from)
            .to_vec(),
        ),
    ];
    for (name, argv) in &tools {
        run_once(&t, argv).with_context(|| format!("warm-up of {name}"))?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(), Vec::new()];
    for round in 1..=ROUNDS {
        for (i, (name, argv)) in tools.iter().enumerate() {
            let s = run_once(&t, argv).with_context(|| format!("round {round}, {name}"))?;
            eprintln!(
                "ping_flood: round {round} {name:<8} {:>8.0} pkt/s wall {:>8.0} pkt/s own, {}/{} received",
                s.wall_pps(),
                s.own_pps(),
                s.received,
                s.transmitted
            );
            samples[i].push(s);
        }
    }
    drop(t);

    println!();
    println!(
        "{:<9} {:>14} {:>14} {:>10}   what",
        "tool", "wall pkt/s", "own pkt/s", "loss"
    );
    let mut rows = Vec::new();
    for (i, (name, _)) in tools.iter().enumerate() {
        let (wall, own) = (
            median_by(&samples[i], Sample::wall_pps),
            median_by(&samples[i], Sample::own_pps),
        );
        let loss = median_by(&samples[i], Sample::loss_percent);
        let what = if i == 0 {
            "vrf-ping -V blue -f -c N (raw socket, default ping_group_range)"
        } else {
            "ip vrf exec blue ping -f -c N (iputils)"
        };
        println!("{name:<9} {wall:>14.0} {own:>14.0} {loss:>9.2}%   {what}");
        rows.push((wall, own, loss));
    }
    let (ratio_wall, ratio_own) = (rows[0].0 / rows[1].0, rows[0].1 / rows[1].1);
    println!();
    println!(
        "ratio vrf-ping / iputils: {ratio_wall:.2} wall, {ratio_own:.2} own (goal >= {GOAL:.1}); loss {:.2}% vs \
         {:.2}%",
        rows[0].2, rows[1].2
    );
    let same_loss = (rows[0].2 - rows[1].2).abs() < 0.5;
    if ratio_wall >= GOAL && ratio_own >= GOAL && same_loss {
        println!("goal met");
    } else {
        println!("GOAL NOT MET");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    transmitted: u64,
    received: u64,
    wall: Duration,
    /// The tool's own `time …ms`.
    own: Duration,
}

impl Sample {
    fn wall_pps(&self) -> f64 {
        self.transmitted as f64 / self.wall.as_secs_f64()
    }

    fn own_pps(&self) -> f64 {
        self.transmitted as f64 / self.own.as_secs_f64().max(0.001)
    }

    fn loss_percent(&self) -> f64 {
        (self.transmitted - self.received) as f64 * 100.0 / self.transmitted as f64
    }
}

fn run_once(t: &Topology, argv: &[String]) -> Result<Sample> {
    let mut c: Command = t.router_cmd(&argv[0], &argv[1..]);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = c.spawn()?.wait_with_output()?;
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{argv:?} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // "2000 packets transmitted, 2000 received, 0% packet loss, time 412ms"
    let line = stdout
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .with_context(|| format!("no statistics in {stdout:?}"))?;
    let line = line.trim_start_matches(|c: char| !c.is_ascii_digit());
    let num = |s: &str| -> Result<u64> {
        s.trim_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .with_context(|| format!("bad statistics line {line:?}"))
    };
    let parts: Vec<&str> = line.split(", ").collect();
    let (Some(tx), Some(rx), Some(time)) = (
        parts.first(),
        parts.get(1),
        parts.iter().find(|p| p.starts_with("time ")),
    ) else {
        bail!("bad statistics line {line:?}");
    };
    Ok(Sample {
        transmitted: num(tx)?,
        received: num(rx)?,
        wall,
        own: Duration::from_millis(num(time)?),
    })
}
