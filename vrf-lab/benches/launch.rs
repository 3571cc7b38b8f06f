//! Launch cost of `vrf-exec VRF /bin/true` against its peers, measured side by side in one lab run:
//! a bare `/bin/true`, `env /bin/true` (the floor for any launcher: one extra exec), and
//! `ip vrf exec VRF /bin/true`; with 1 VRF and with 1000 VRFs in the namespace (the topology's and
//! [`vrf_lab::scale`]'s, each of those with a dummy port).
//!
//! Run with `scripts/bench.sh`, or `cargo build --release --workspace && cargo bench -p vrf-lab --bench
//! launch` (then vrf-exec is the dynamically linked build). `VRF_BENCH_LAUNCHES` (default 150) sets the
//! launches per variant and VRF count. Only the ratios mean anything: under qemu's TCG every launch is slow.
//!
//! All four programs are copied into one tmpfs first, so that they load alike: the lab VM reads the host's
//! files over 9p without a cache, and how slowly depends on the path, which would otherwise be measured.
//! In the VM only, a last pass remounts cgroup2 with `favordynmods` (Linux 6.0+), which makes moving a
//! process between cgroups cheap, to show how much of the remaining cost is that migration.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result};
use vrf_lab::{Topology, bench, cmd, lab, netns};

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("launch bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing to list.
    }
    if !bench::requested("launch") {
        return Ok(());
    }
    // Looked for before the lab boots, so that a missing build fails at once.
    let (vrf_exec, static_pie) = bench::vrf_exec_release()?;
    bench::enter_lab()?;
    let launches: usize = bench::env_number("VRF_BENCH_LAUNCHES", 150, 1..=100_000)?;
    let bin = bench::Tmpfs::with_copies(&[
        ("true", Path::new("/bin/true")),
        ("env", Path::new("/usr/bin/env")),
        ("ip", &which("ip")?),
        ("vrf-exec", &vrf_exec),
    ])?;
    let static_note = if static_pie {
        "static-pie build"
    } else {
        "dynamically linked build (scripts/bench.sh builds the static one)"
    };
    let t = Topology::new()?;
    // Children inherit the namespace: launch from inside the router's.
    netns::enter(&t.router_ns)?;
    let blue = t.blue.vrf.clone();
    let p = |name: &str| bin.path(name).to_string_lossy().into_owned();
    let truth = p("true");
    let variants: Vec<(&str, Vec<String>)> = vec![
        ("bare true", vec![truth.clone()]),
        ("env true", vec![p("env"), truth.clone()]),
        (
            "ip vrf exec",
            vec![
                p("ip"),
                "vrf".into(),
                "exec".into(),
                blue.clone(),
                truth.clone(),
            ],
        ),
        ("vrf-exec", vec![p("vrf-exec"), blue.clone(), truth.clone()]),
    ];
    println!(
        "launch cost, {launches} launches per variant, interleaved; kernel {}; vrf-exec: {static_note}; \
         all four programs run from a tmpfs",
        uname()?
    );
    let mut results = Vec::new();
    for (label, total_vrfs) in [
        ("1 VRF", 1usize),
        ("1000 VRFs", 1000),
        ("1000 VRFs, favordynmods", 1000),
    ] {
        if total_vrfs > 2 && results.len() == 1 {
            // The topology's two and `s0` … `s997`, each with a dummy port.
            vrf_lab::scale::add_vrfs(0, total_vrfs - 2)?;
        }
        if label.contains("favordynmods") && !favordynmods()? {
            break;
        }
        let medians = measure(&variants, launches)?;
        println!("\n{label} in the namespace:");
        println!(
            "  {:<12} {:>10} {:>9} {:>9}",
            "variant", "median", "vs bare", "vs env"
        );
        for ((name, _), m) in variants.iter().zip(&medians) {
            println!(
                "  {name:<12} {:>8.2}ms {:>8.2}x {:>8.2}x",
                m * 1e3,
                m / medians[0],
                m / medians[1]
            );
        }
        results.push((label, medians));
    }
    println!("\ngoal: vrf-exec / env <= 1.10, flat from 1 to 1000 VRFs");
    for (label, m) in &results {
        println!(
            "  {label:<24} vrf-exec/env = {:.2}   ip vrf exec/env = {:.2}   vrf-exec/ip vrf exec = {:.2}",
            m[3] / m[1],
            m[2] / m[1],
            m[3] / m[2]
        );
    }
    Ok(())
}

/// Median launch time of each variant, launched round-robin after a warm-up (which also attaches the
/// hooks).
fn measure(variants: &[(&str, Vec<String>)], launches: usize) -> Result<Vec<f64>> {
    for (_, argv) in variants {
        for _ in 0..5 {
            bench::timed_run(argv)?;
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..launches {
        for (i, (_, argv)) in variants.iter().enumerate() {
            times[i].push(bench::timed_run(argv)?);
        }
    }
    Ok(times
        .iter()
        .map(|t| bench::median_by(t, Duration::as_secs_f64))
        .collect())
}

fn which(program: &str) -> Result<PathBuf> {
    vrf_lab::cmd::which(program).with_context(|| format!("{program} not found"))
}

/// In the lab VM only: remounts cgroup2 with `favordynmods`. Returns false (and says why) where that is
/// not possible or not ours to change.
fn favordynmods() -> Result<bool> {
    if std::env::var_os(lab::GUEST_ENV).is_none() {
        println!(
            "\n(favordynmods pass skipped: it changes the host's cgroup2 mount, done only in the lab VM)"
        );
        return Ok(false);
    }
    let r = cmd::run(Command::new("mount").args(["-o", "remount,favordynmods", "/sys/fs/cgroup"]))?;
    if !r.success() {
        println!("\n(favordynmods pass skipped: {})", r.stderr.trim());
    }
    Ok(r.success())
}

fn uname() -> Result<String> {
    Ok(cmd::run(Command::new("uname").arg("-r"))?
        .stdout
        .trim()
        .to_string())
}
