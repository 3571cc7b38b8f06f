//! Flood ping rate: `vrf-ping -V blue -f -c N` against iputils `ip vrf exec blue ping -f -c N`, to the
//! same peer, in the same lab run. Only the ratio means anything (under qemu TCG every number is low).
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p vrf-tests --bench ping_flood
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
use vrf_lab::{PEER_V4, Topology};

const ROUNDS: usize = 3;
const GOAL: f64 = 1.0;
const DEFAULT_N: u64 = 2000;

fn main() -> Result<()> {
    // `cargo test --benches` runs bench targets without `--bench`: do not boot a VM for that.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "ping_flood is a benchmark: run it with `cargo bench -p vrf-tests --bench ping_flood`"
        );
        return Ok(());
    }
    if let Some(code) = vrf_lab::lab::enter()? {
        std::process::exit(code);
    }
    let n: u64 = match std::env::var("VRF_BENCH_FLOOD") {
        Ok(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .with_context(|| format!("VRF_BENCH_FLOOD={s:?} is not a count (1-1000000)"))?,
        Err(_) => DEFAULT_N,
    };
    // target/release/deps/ping_flood-… → target/release/vrf-ping
    let exe = std::env::current_exe()?;
    let vrf_ping = exe
        .ancestors()
        .nth(2)
        .map(|d| d.join("vrf-ping"))
        .filter(|p| p.is_file())
        .context(
            "target/release/vrf-ping is not built: run `cargo build --release --workspace` first",
        )?;
    // In the lab VM the checkout is on the host's root file system over 9p without caching: every
    // start of a binary from target/ reads its pages from the host again, while iputils' come from the
    // page cache. Run a copy from /tmp (the VM's tmpfs overlay) so both start from memory.
    let dir = std::env::temp_dir().join(format!("ping_flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join("vrf-ping");
    std::fs::copy(&vrf_ping, &copy).with_context(|| format!("copying {}", vrf_ping.display()))?;
    let res = bench(&copy, n);
    let _ = std::fs::remove_dir_all(&dir);
    res
}

fn bench(vrf_ping: &std::path::Path, n: u64) -> Result<()> {
    let t = Topology::new()?;
    let vrf = t.blue.vrf.clone();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let place = if std::env::var_os(vrf_lab::lab::GUEST_ENV).is_some() {
        "lab VM"
    } else {
        "native"
    };
    println!(
        "ping_flood: {n} requests per run to {PEER_V4} in VRF {vrf}, {ROUNDS} rounds interleaved after a \
         warm-up; kernel {} ({place}, {cpus} CPUs); vrf-ping run as {}",
        kernel.trim(),
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

    let med = |v: &[Sample], f: fn(&Sample) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    println!();
    println!(
        "{:<9} {:>14} {:>14} {:>10}   what",
        "tool", "wall pkt/s", "own pkt/s", "loss"
    );
    let mut rows = Vec::new();
    for (i, (name, _)) in tools.iter().enumerate() {
        let (wall, own) = (
            med(&samples[i], Sample::wall_pps),
            med(&samples[i], Sample::own_pps),
        );
        let loss = med(&samples[i], Sample::loss_percent);
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
