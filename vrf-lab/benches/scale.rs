//! How vrf-exec and vrf_socket's lookups scale with the number of VRFs in the namespace: with 1, 100,
//! 1000 and 4000 VRFs, each with a dummy port ([`vrf_lab::scale`]), measured in one lab run against
//! iproute2 where it has a peer:
//!
//! 1. **list**: `vrf-exec list` vs `ip vrf show`. vrf-exec's does more per VRF: it also names the
//!    enslaved devices, counts the processes and checks that the table has its default routes.
//! 2. **pids**: `vrf-exec pids VRF` vs `ip vrf pids VRF`, VRF the last one made.
//! 3. **launch**: `vrf-exec VRF /bin/true` vs `env /bin/true` (the launch bench's floor: one exec more).
//! 4. **lookup**, in-process, no peer: `Vrf::by_name` of the last VRF; `VrfMap::vrf_of` of its port on
//!    an empty map (what asks the kernel) and on a map that holds every port (a cached answer; timed
//!    over [`HITS`] lookups each).
//!
//! Goals: vrf-exec no slower than iproute2 for list and pids at every size; launch (vrf-exec / env)
//! and lookups flat, at most 1.2x from the first size to the last.
//!
//! ```text
//! scripts/bench.sh scale
//! VRF_BENCH_SCALE_SIZES=1,100,1000,4000   VRF counts, increasing (default)
//! VRF_BENCH_SCALE_RUNS=N                  runs per program and size (default 20: about 11 minutes
//!                                         in the lab VM under qemu TCG, 5 of them making the VRFs)
//! ```
//!
//! The VRFs are made in a network namespace of the bench's own, which this process enters (children
//! inherit it), incrementally: each size adds what the previous lacked, in one `ip -batch`, whose
//! time is reported. At each size, after a warm-up, the programs run round-robin, each once a round,
//! followed by [`LOOKUPS`] in-process lookups of each kind; every figure is a median. Before the
//! timing, each program's output is checked once (both lists name every VRF; vrf-exec prints no
//! warning); every timed run must exit 0. All programs run from one tmpfs, as in the launch bench.
//! The summary is printed as it goes and saved in `target/bench-results/scale-<date>.txt`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::{bench, cmd, netns, scale};
use vrf_socket::{Vrf, VrfMap};

/// In-process lookups of each kind per round.
const LOOKUPS: usize = 20;
/// Cached `VrfMap` lookups per timed sample (one is too short for the clock).
const HITS: u32 = 1000;
/// Untimed rounds before each size's measurement (after the checks, which run each program once).
const WARMUP: usize = 1;
/// The flatness goal for launch and lookups, and the ratio goal (at most 1) for list and pids.
const FLAT: f64 = 1.2;

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The figures of one size: medians in seconds.
struct Size {
    vrfs: usize,
    /// The programs' labels, in [`programs`]' order.
    labels: Vec<String>,
    /// Per program, in [`programs`]' order.
    programs: Vec<f64>,
    by_name: f64,
    map_first: f64,
    map_cached: f64,
}

impl Size {
    fn list(&self) -> f64 {
        self.programs[0] / self.programs[1]
    }
    fn pids(&self) -> f64 {
        self.programs[2] / self.programs[3]
    }
    fn launch(&self) -> f64 {
        self.programs[4] / self.programs[5]
    }
}

fn real_main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing to list.
    }
    if !bench::requested("scale") {
        return Ok(());
    }
    // Looked for before the lab boots, so that a missing build fails at once.
    let (vrf_exec, static_pie) = bench::vrf_exec_release()?;
    bench::enter_lab()?;
    let sizes = sizes()?;
    let runs: usize = bench::env_number("VRF_BENCH_SCALE_RUNS", 20, 1..=10_000)?;
    let bin = bench::Tmpfs::with_copies(&[
        ("true", Path::new("/bin/true")),
        ("env", Path::new("/usr/bin/env")),
        ("ip", &vrf_lab::cmd::which("ip").context("ip not found")?),
        ("vrf-exec", &vrf_exec),
    ])?;
    let ns = Namespace::new()?;
    // Children inherit the namespace, and this thread's lookups run in it.
    netns::enter(&ns.0)?;

    let mut out = String::new();
    let static_note = if static_pie {
        "static-pie build"
    } else {
        "dynamically linked build (scripts/bench.sh builds the static one)"
    };
    emit(
        &mut out,
        format!(
            "scale: vrf-exec and vrf_socket lookups with {sizes:?} VRFs (each with a dummy port, its table \
             closed); {}; vrf-exec: {static_note}; programs from a tmpfs\n\
             {runs} runs per program and size, round-robin after {WARMUP} warm-up round, and {LOOKUPS} \
             in-process lookups of each kind per round; medians\n\
             note: `vrf-exec list` does more per VRF than `ip vrf show`: it also names the enslaved \
             devices, counts the processes and checks that the table has its default routes\n",
            bench::machine()
        ),
    );

    let mut made = 0;
    let mut creation = Vec::new();
    let mut cached = VrfMap::default();
    let mut results: Vec<Size> = Vec::new();
    for &n in &sizes {
        let start = Instant::now();
        scale::add_vrfs(made, n - made)?;
        let took = start.elapsed();
        creation.push((made, n, took));
        emit(
            &mut out,
            format!(
                "\nmade {} to {} ({} VRF(s), as many dummies, {} routes) in {:.2} s, one ip -batch",
                scale::vrf_name(made),
                scale::vrf_name(n - 1),
                n - made,
                2 * (n - made),
                took.as_secs_f64()
            ),
        );
        for i in made..n {
            cached.vrf_of(port_index(i)?)?;
        }
        made = n;
        let size = measure(&bin, n, runs, &mut cached)?;
        emit(&mut out, size_table(&size, runs));
        results.push(size);
    }
    emit(&mut out, summary(&results, &creation));
    let saved = bench::save("scale", &out)?;
    println!("\n(saved in {})", saved.display());
    Ok(())
}

/// Prints `text` and keeps it for the saved summary.
fn emit(out: &mut String, text: String) {
    println!("{text}");
    out.push_str(&text);
    out.push('\n');
}

/// `VRF_BENCH_SCALE_SIZES`: increasing VRF counts, comma-separated.
fn sizes() -> Result<Vec<usize>> {
    const VAR: &str = "VRF_BENCH_SCALE_SIZES";
    let text = std::env::var(VAR).unwrap_or_else(|_| "1,100,1000,4000".into());
    let sizes: Vec<usize> = text
        .split(',')
        .map(|s| s.trim().parse().ok().filter(|n| (1..=100_000).contains(n)))
        .collect::<Option<_>>()
        .with_context(|| {
            format!("{VAR}={text:?}: expected VRF counts in [1, 100000], comma-separated")
        })?;
    ensure!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "{VAR}={text:?}: the counts must increase (each size adds VRFs to the last)"
    );
    Ok(sizes)
}

/// The programs measured at a size, in pairs (ours, its peer); `last` is the last VRF made.
fn programs(bin: &bench::Tmpfs, last: &str) -> Vec<(String, Vec<String>)> {
    let p = |name: &str| bin.path(name).to_string_lossy().into_owned();
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("vrf-exec list".into(), words(&[&p("vrf-exec"), "list"])),
        ("ip vrf show".into(), words(&[&p("ip"), "vrf", "show"])),
        (
            format!("vrf-exec pids {last}"),
            words(&[&p("vrf-exec"), "pids", last]),
        ),
        (
            format!("ip vrf pids {last}"),
            words(&[&p("ip"), "vrf", "pids", last]),
        ),
        (
            format!("vrf-exec {last} true"),
            words(&[&p("vrf-exec"), last, &p("true")]),
        ),
        ("env true".into(), words(&[&p("env"), &p("true")])),
    ]
}

/// The figures at `n` VRFs: the last one's (`s<n-1>`).
fn measure(bin: &bench::Tmpfs, n: usize, runs: usize, cached: &mut VrfMap) -> Result<Size> {
    let last = scale::vrf_name(n - 1);
    let port = port_index(n - 1)?;
    let programs = programs(bin, &last);
    // The launch first: it makes the VRF's cgroup, which `ip vrf pids` reads.
    check_launch(&programs[4].1)?;
    check_list(&programs[0].1, n, 1)?;
    check_list(&programs[1].1, n, 2)?;
    for (_, argv) in &programs[2..4] {
        cmd::run(Command::new(&argv[0]).args(&argv[1..]))?.ok()?;
    }
    let vrf = Vrf::by_name(&last)?;
    ensure!(
        vrf.table() == scale::table(n - 1)?,
        "VRF {last} has table {}",
        vrf.table()
    );
    let mut first = VrfMap::default();
    ensure!(
        first.vrf_of(port)?.map(Vrf::name) == Some(last.as_str())
            && cached.vrf_of(port)?.map(Vrf::name) == Some(last.as_str()),
        "VrfMap does not give {last} for its port {}",
        scale::port_name(n - 1)
    );

    let mut times = vec![Vec::new(); programs.len()];
    let (mut by_name, mut map_first, mut map_cached) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARMUP + runs {
        let timed = round >= WARMUP;
        for (i, (_, argv)) in programs.iter().enumerate() {
            let took = bench::timed_run(argv)?;
            if timed {
                times[i].push(took);
            }
        }
        for _ in 0..LOOKUPS {
            let start = Instant::now();
            black_box(Vrf::by_name(black_box(&last))?);
            let a = start.elapsed();

            first.clear();
            let start = Instant::now();
            black_box(first.vrf_of(black_box(port))?);
            let b = start.elapsed();

            let start = Instant::now();
            for _ in 0..HITS {
                black_box(cached.vrf_of(black_box(port))?);
            }
            let c = start.elapsed() / HITS;
            if timed {
                by_name.push(a);
                map_first.push(b);
                map_cached.push(c);
            }
        }
    }
    let median = |t: &[Duration]| bench::median_by(t, Duration::as_secs_f64);
    Ok(Size {
        vrfs: n,
        labels: programs.into_iter().map(|(label, _)| label).collect(),
        programs: times.iter().map(|t| median(t)).collect(),
        by_name: median(&by_name),
        map_first: median(&map_first),
        map_cached: median(&map_cached),
    })
}

/// The launch works and warns of nothing (every table is closed).
fn check_launch(argv: &[String]) -> Result<()> {
    let r = cmd::run(Command::new(&argv[0]).args(&argv[1..]))?.ok()?;
    ensure!(r.stderr.trim().is_empty(), "{}", r.describe("warned"));
    Ok(())
}

/// A listing names each of the `n` VRFs on a line of its own after `header` lines, and warns of nothing.
fn check_list(argv: &[String], n: usize, header: usize) -> Result<()> {
    let r = cmd::run(Command::new(&argv[0]).args(&argv[1..]))?.ok()?;
    let names: Vec<&str> = r
        .stdout
        .lines()
        .skip(header)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let expected: Vec<String> = (0..n).map(scale::vrf_name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort_unstable();
    if sorted != want {
        bail!(
            "`{}` listed {} VRFs, not s0 … s{} (first lines: {:?})",
            r.line,
            names.len(),
            n - 1,
            r.stdout.lines().take(4).collect::<Vec<_>>()
        );
    }
    ensure!(r.stderr.trim().is_empty(), "{}", r.describe("warned"));
    Ok(())
}

/// The interface index of VRF `i`'s port, in this thread's namespace.
fn port_index(i: usize) -> Result<NonZeroU32> {
    let name = scale::port_name(i);
    let index = nix::net::if_::if_nametoindex(name.as_str())
        .with_context(|| format!("the index of {name}"))?;
    NonZeroU32::new(index).with_context(|| format!("{name} has index 0"))
}

/// `secs` with a unit that keeps 3 or 4 significant digits.
fn time(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.1} ns", secs * 1e9)
    }
}

fn size_table(s: &Size, runs: usize) -> String {
    let mut t = format!(
        "{} VRF{} (measured: {}, port {}), medians of {runs} runs / {} lookups:\n",
        s.vrfs,
        if s.vrfs == 1 { "" } else { "s" },
        scale::vrf_name(s.vrfs - 1),
        scale::port_name(s.vrfs - 1),
        runs * LOOKUPS
    );
    let names = &s.labels;
    for pair in 0..3 {
        let (ours, peer) = (s.programs[2 * pair], s.programs[2 * pair + 1]);
        let _ = writeln!(
            t,
            "  {:<24} {:>11}   {:.2}x {}",
            names[2 * pair],
            time(ours),
            ours / peer,
            names[2 * pair + 1]
        );
        let _ = writeln!(t, "  {:<24} {:>11}", names[2 * pair + 1], time(peer));
    }
    for (label, v) in [
        ("Vrf::by_name", s.by_name),
        ("VrfMap::vrf_of, first", s.map_first),
        ("VrfMap::vrf_of, cached", s.map_cached),
    ] {
        let _ = writeln!(t, "  {label:<24} {:>11}", time(v));
    }
    t
}

fn summary(results: &[Size], creation: &[(usize, usize, Duration)]) -> String {
    let mut t = String::from(
        "\nsummary (ratio: ours / peer, both measured in the same rounds):\n  \
         VRFs   list ours/ip  pids ours/ip  launch vrf-exec/env      by_name  VrfMap first  VrfMap cached\n",
    );
    for s in results {
        let _ = writeln!(
            t,
            "  {:>4}   {:>11.2}x  {:>11.2}x  {:>18.2}x  {:>11}  {:>12}  {:>13}",
            s.vrfs,
            s.list(),
            s.pids(),
            s.launch(),
            time(s.by_name),
            time(s.map_first),
            time(s.map_cached)
        );
    }
    let Some(base) = results.first() else {
        return t;
    };
    let _ = writeln!(
        t,
        "\nflatness (value at N VRFs / value at {}; `env true` depends on no VRF: it gauges how much \
         the host's speed drifted between sizes, which moves every absolute time):\n  \
         VRFs   launch vrf-exec/env  vrf-exec launch time  by_name  VrfMap first  VrfMap cached  env true",
        base.vrfs
    );
    for s in results {
        let _ = writeln!(
            t,
            "  {:>4}   {:>18.2}x  {:>19.2}x  {:>6.2}x  {:>11.2}x  {:>12.2}x  {:>7.2}x",
            s.vrfs,
            s.launch() / base.launch(),
            s.programs[4] / base.programs[4],
            s.by_name / base.by_name,
            s.map_first / base.map_first,
            s.map_cached / base.map_cached,
            s.programs[5] / base.programs[5]
        );
    }
    let _ = writeln!(
        t,
        "\ngoals: ours <= iproute2 at every size for list and pids; launch (vrf-exec/env) and lookups \
         <= {FLAT:.1}x from {} to {} VRFs",
        base.vrfs,
        results.last().map_or(0, |s| s.vrfs)
    );
    // Each goal: the figure at a size, and its bound.
    let verdict = |label: &str, bound: f64, value: &dyn Fn(&Size) -> f64| {
        let missed: Vec<String> = results
            .iter()
            .filter(|s| value(s) > bound)
            .map(|s| format!("{} ({:.3}x)", s.vrfs, value(s)))
            .collect();
        if missed.is_empty() {
            format!("  {label:<22} met at every size\n")
        } else {
            format!("  {label:<22} NOT met at {} VRFs\n", missed.join(", "))
        }
    };
    t += &verdict("list <= ip vrf show", 1.0, &Size::list);
    t += &verdict("pids <= ip vrf pids", 1.0, &Size::pids);
    t += &verdict("launch flat", FLAT, &|s| s.launch() / base.launch());
    t += &verdict("by_name flat", FLAT, &|s| s.by_name / base.by_name);
    t += &verdict("VrfMap first flat", FLAT, &|s| s.map_first / base.map_first);
    t += &verdict("VrfMap cached flat", FLAT, &|s| {
        s.map_cached / base.map_cached
    });
    t += "\nVRF creation (vrf_lab::scale::add_vrfs, one ip -batch each: a VRF, its two closing routes, a dummy):\n";
    for (from, to, took) in creation {
        let _ = writeln!(
            t,
            "  {:>5} -> {:<5} {:>5} VRFs in {:>8.2} s  ({:.2} ms per VRF)",
            from,
            to,
            to - from,
            took.as_secs_f64(),
            took.as_secs_f64() * 1e3 / (to - from) as f64
        );
    }
    t
}

/// A network namespace of the bench's own (`ip netns add`), deleted on drop (its devices go when the
/// last process in it, this one, ends).
struct Namespace(String);

impl Namespace {
    fn new() -> Result<Namespace> {
        let name = format!("vrf-scale-{}", std::process::id());
        cmd::run(Command::new("ip").args(["netns", "add", &name]))?.ok()?;
        Ok(Namespace(name))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = cmd::run(Command::new("ip").args(["netns", "del", &self.0]));
    }
}
