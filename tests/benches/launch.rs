//! Launch cost of `vrf-exec VRF /bin/true` against its peers, measured side by side in one lab run:
//! a bare `/bin/true`, `env /bin/true` (the floor for any launcher: one extra exec), and
//! `ip vrf exec VRF /bin/true`; with 1 VRF and with 1000 VRFs in the namespace.
//!
//! Run: `cargo build --release --workspace && cargo bench -p vrf-tests --bench launch`
//! (`VRF_BENCH_LAUNCHES`, default 150, sets the launches per variant and VRF count).
//! Only the ratios mean anything: under qemu's TCG every launch is slow.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vrf_lab::{Topology, cmd, lab, netns};

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("launch bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The release build of vrf-exec (benchmarks measure what users run).
fn vrf_exec() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/release/deps/launch-… -> target/release/vrf-exec
    let release = exe
        .ancestors()
        .nth(2)
        .context("target dir")?
        .join("vrf-exec");
    if !release.is_file() {
        bail!(
            "{} is missing: run `cargo build --release --workspace` first",
            release.display()
        );
    }
    Ok(release)
}

fn real_main() -> Result<u8> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(0); // `cargo bench -- --list`: nothing to list.
    }
    let vrf_exec = vrf_exec()?;
    if let Some(code) = lab::enter()? {
        return Ok(u8::try_from(code).unwrap_or(1));
    }
    let launches: usize = std::env::var("VRF_BENCH_LAUNCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let t = Topology::new()?;
    // Children inherit the namespace: launch from inside the router's.
    netns::enter(&t.router_ns)?;
    let blue = t.blue.vrf.clone();
    let vx = vrf_exec.to_str().context("path")?.to_string();
    let variants: Vec<(&str, Vec<String>)> = vec![
        ("bare /bin/true", vec!["/bin/true".into()]),
        (
            "env /bin/true",
            vec!["/usr/bin/env".into(), "/bin/true".into()],
        ),
        (
            "ip vrf exec",
            vec![
                "ip".into(),
                "vrf".into(),
                "exec".into(),
                blue.clone(),
                "/bin/true".into(),
            ],
        ),
        (
            "vrf-exec",
            vec![vx.clone(), blue.clone(), "/bin/true".into()],
        ),
    ];
    // Warm up: the first launches attach the hooks and fill the page cache.
    for (_, argv) in &variants {
        for _ in 0..5 {
            launch(argv)?;
        }
    }
    println!(
        "launch cost, {launches} launches per variant, interleaved; kernel {}",
        uname()?
    );
    let mut results = Vec::new();
    for total_vrfs in [1usize, 1000] {
        if total_vrfs > 2 {
            add_vrfs(total_vrfs - 2)?;
            for (_, argv) in &variants {
                launch(argv)?;
            }
        }
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
        for _ in 0..launches {
            for (i, (_, argv)) in variants.iter().enumerate() {
                times[i].push(launch(argv)?);
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        println!(
            "\n{total_vrfs} VRF(s) in the namespace (blue, red{}):",
            if total_vrfs > 2 { " and dummies" } else { "" }
        );
        println!(
            "  {:<16} {:>10} {:>9} {:>9}",
            "variant", "median", "vs bare", "vs env"
        );
        for ((name, _), m) in variants.iter().zip(&medians) {
            println!(
                "  {name:<16} {:>8.2}ms {:>8.2}x {:>8.2}x",
                m * 1e3,
                m / medians[0],
                m / medians[1]
            );
        }
        results.push((total_vrfs, medians));
    }
    println!("\ngoal: vrf-exec / env <= 1.10, flat from 1 to 1000 VRFs");
    for (n, m) in &results {
        println!(
            "  {n:>4} VRFs: vrf-exec/env = {:.2}, ip vrf exec/env = {:.2}, vrf-exec/ip vrf exec = {:.2}",
            m[3] / m[1],
            m[2] / m[1],
            m[3] / m[2]
        );
    }
    Ok(0)
}

/// One fork+exec+wait of `argv`, timed.
fn launch(argv: &[String]) -> Result<Duration> {
    let start = Instant::now();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("starting {argv:?}"))?;
    let took = start.elapsed();
    if !status.success() {
        let r = cmd::run(Command::new(&argv[0]).args(&argv[1..]))?;
        bail!("{}", r.describe("failed"));
    }
    Ok(took)
}

fn median(t: &mut [Duration]) -> f64 {
    t.sort();
    t[t.len() / 2].as_secs_f64()
}

/// Adds `n` VRFs (with no links) in the current namespace, in one `ip -batch`.
fn add_vrfs(n: usize) -> Result<()> {
    let mut batch = String::new();
    for i in 0..n {
        batch.push_str(&format!(
            "link add bench{i} type vrf table {}\nlink set bench{i} up\n",
            1000 + i
        ));
    }
    let path = std::env::temp_dir().join(format!("vrf-bench-{}.batch", std::process::id()));
    std::fs::write(&path, batch)?;
    let r = cmd::run(Command::new("ip").args(["-batch"]).arg(&path));
    let _ = std::fs::remove_file(&path);
    r?.ok()?;
    Ok(())
}

fn uname() -> Result<String> {
    Ok(cmd::run(Command::new("uname").arg("-r"))?
        .stdout
        .trim()
        .to_string())
}
