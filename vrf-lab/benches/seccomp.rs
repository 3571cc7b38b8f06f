//! What vrf-exec's seccomp mode costs, against `env true` and against the cgroup mode, in one lab run:
//!
//! 1. **Launch**: `vrf-exec --mode seccomp VRF true` and `vrf-exec --mode cgroup VRF true` as root, and
//!    `vrf-exec VRF true` as `nobody` (through `setpriv --reuid=nobody --regid=nogroup --clear-groups`,
//!    where `--mode auto` picks the seccomp mode), launched round-robin with `env true` and
//!    `setpriv … env true`. Each is reported against the floor with the same number of execs: root's
//!    against `env true`, nobody's against `setpriv … env true` (setpriv is one exec more). Goal for the
//!    seccomp mode: at most 1.10x `env true` on a default cgroup2 mount. A diagnostic row,
//!    `vrf-exec --mode seccomp default true`, is vrf-exec with nothing to supervise (no VRF lookup, no
//!    fork: it execs in place), which splits the cost into vrf-exec's own start and the supervision.
//! 2. **Per socket**: the `socket_cost` example (vrf-lab/examples) times N `socket()` + `close()` of UDP
//!    sockets and M TCP connects (socket, connect, close) to a listener in the VRF's peer, under
//!    `vrf-exec --mode seccomp VRF`, under `vrf-exec --mode cgroup VRF`, and plain with `--bind VRF` (it
//!    binds each socket itself with `SO_BINDTOIFINDEX` right after `socket()`). For reference, a pipe
//!    round trip between two processes in the same run: the wake-ups each supervised `socket()` needs.
//! 3. **Throughput** of a connected socket: one bulk TCP transfer to a sink in the peer under each of
//!    the three. The seccomp mode intercepts `socket()` only, so the ratio should be about 1.
//!
//! ```text
//! scripts/bench.sh seccomp
//! VRF_BENCH_LAUNCHES=N   launches per contender (default 150)
//! VRF_BENCH_ROUNDS=N     rounds of the per-socket and throughput runs (default 3)
//! VRF_BENCH_SOCKETS=N    socket()+close() per run (default 10000)
//! VRF_BENCH_CONNECTS=N   TCP connects per run (default 1000)
//! VRF_BENCH_BULK_MB=N    MB per bulk transfer (default 100)
//! ```
//!
//! Every program runs from one tmpfs (the lab VM reads `target/` over uncached 9p), from the router's
//! network namespace (joined by this process, not through `ip netns exec`, which would hide cgroup2).
//! Before anything is timed each contender proves where its sockets go: the `bound_ifindex` example run
//! in its place must print the VRF's ifindex (0 for the `env` floors), `-v` must name the mode each
//! vrf-exec contender was meant to use, and nothing may be printed on stderr. Every timed launch must
//! exit 0; every socket_cost run must report sockets bound to the VRF; the listener must have accepted
//! every connect and the sink counted every byte. Any failure ends the bench with status 1.
//!
//! In the VM only, a last pass remounts cgroup2 with `favordynmods` and times the launches again: the
//! cgroup mode's cost is mostly the cgroup migration, which that option makes cheap.
//!
//! The summary is printed and saved in `target/bench-results/seccomp-<date>.txt` ([`bench::save`]).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vrf_lab::{Topology, bench, cmd, lab, netns};

const CONNECT_PORT: u16 = 9301;
const BULK_PORT: u16 = 9302;
const NOBODY: [&str; 4] = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"];

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seccomp bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The programs of the run, copied into one tmpfs.
struct Bin {
    fs: bench::Tmpfs,
}

impl Bin {
    fn p(&self, name: &str) -> String {
        self.fs.path(name).to_string_lossy().into_owned()
    }
}

fn real_main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list`: nothing to list.
    }
    if !bench::requested("seccomp") {
        return Ok(());
    }
    // Looked for before the lab boots, so that a missing build fails at once.
    let (vrf_exec, static_pie) = bench::vrf_exec_release()?;
    vrf_lab::example("socket_cost").context("scripts/bench.sh builds the examples")?;
    vrf_lab::example("bound_ifindex").context("scripts/bench.sh builds the examples")?;
    bench::enter_lab()?;
    let launches: usize = bench::env_number("VRF_BENCH_LAUNCHES", 150, 5..=100_000)?;
    let rounds: usize = bench::env_number("VRF_BENCH_ROUNDS", 3, 1..=100)?;
    let sockets: u64 = bench::env_number("VRF_BENCH_SOCKETS", 10_000, 2..=10_000_000)?;
    let connects: u64 = bench::env_number("VRF_BENCH_CONNECTS", 1_000, 2..=20_000)?;
    let bulk_mb: u64 = bench::env_number("VRF_BENCH_BULK_MB", 100, 1..=10_000)?;

    let bin = Bin {
        fs: bench::Tmpfs::with_copies(&[
            ("true", Path::new("/bin/true")),
            ("env", Path::new("/usr/bin/env")),
            ("setpriv", &which("setpriv")?),
            ("vrf-exec", &vrf_exec),
            ("socket_cost", &vrf_lab::example("socket_cost")?),
            ("bound_ifindex", &vrf_lab::example("bound_ifindex")?),
        ])?,
    };
    let t = Topology::new()?;
    // Children inherit the namespace: launch from inside the router's (ip netns exec would remount
    // /sys and hide cgroup2, which the cgroup mode would then mount in a namespace of its own).
    netns::enter(&t.router_ns)?;
    let blue = t.blue.vrf.clone();
    let ifindex = vrf_socket::Vrf::up_by_name(&blue)
        .with_context(|| format!("VRF {blue}"))?
        .index()
        .get();
    let accepted = Arc::new(AtomicU64::new(0));
    let _listener = connect_listener(&t, accepted.clone())?;
    let _sink = bulk_sink(&t)?;

    let mut out = String::new();
    writeln!(
        out,
        "seccomp bench: {}; vrf-exec {}; VRF {blue} (ifindex {ifindex}); all programs run from a tmpfs",
        bench::machine(),
        if static_pie {
            "static-pie build"
        } else {
            "dynamically linked build (scripts/bench.sh builds the static one)"
        },
    )?;
    eprint!("{out}");

    // 1. Launch cost.
    let contenders = launch_contenders(&bin, &blue);
    for c in &contenders {
        c.verify(&bin, ifindex)?;
    }
    eprintln!(
        "launch: contenders verified; {launches} launches each, round-robin ({} contenders)",
        contenders.len()
    );
    let launch_default = measure_launches(&contenders, launches)?;

    // 2. and 3. Per socket and throughput.
    let variants = socket_variants(&bin, &blue);
    let dest = SocketAddr::from((vrf_lab::PEER_V4.parse::<Ipv4Addr>()?, CONNECT_PORT));
    let sink = SocketAddr::from((vrf_lab::PEER_V4.parse::<Ipv4Addr>()?, BULK_PORT));
    let bulk_bytes = bulk_mb * 1_000_000;
    // One untimed run of each first: set-up (the cgroup's hook attached), and a failure seen early.
    for v in &variants {
        v.run(&["sockets", "2"], ifindex)?;
        v.run(&["connects", "2", &dest.to_string()], ifindex)?;
    }
    let mut expected_accepts = 2 * variants.len() as u64;
    let pingpong = |n: u64| -> Result<f64> {
        let r = cmd::run(Command::new(bin.p("socket_cost")).args(["pingpong", &n.to_string()]))?
            .ok()?;
        Report::of(&r.stdout)
            .value("ns_per_op")
            .with_context(|| r.describe("ran"))
    };
    let mut per_op: Vec<[Vec<f64>; 2]> = vec![Default::default(); variants.len()];
    let mut round_trips = Vec::new();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 1..=rounds {
        for (i, v) in variants.iter().enumerate() {
            let s = v.run(&["sockets", &sockets.to_string()], ifindex)?;
            let c = v.run(
                &["connects", &connects.to_string(), &dest.to_string()],
                ifindex,
            )?;
            expected_accepts += connects;
            eprintln!(
                "per socket: round {round} {:<8} socket+close {:>9.2} us   connect {:>9.2} us",
                v.name,
                s.value("ns_per_op")? / 1e3,
                c.value("ns_per_op")? / 1e3
            );
            per_op[i][0].push(s.value("ns_per_op")?);
            per_op[i][1].push(c.value("ns_per_op")?);
        }
        let rt = pingpong(sockets.min(2_000))?;
        eprintln!(
            "per socket: round {round} pipe round trip between two processes {:>9.2} us",
            rt / 1e3
        );
        round_trips.push(rt);
    }
    wait_for_accepts(&accepted, expected_accepts)?;
    for round in 1..=rounds {
        for (i, v) in variants.iter().enumerate() {
            let b = v.run(
                &["bulk", &bulk_bytes.to_string(), &sink.to_string()],
                ifindex,
            )?;
            let rate = b.value("bytes_per_sec")?;
            eprintln!(
                "throughput: round {round} {:<8} {:>8.1} MB/s",
                v.name,
                rate / 1e6
            );
            rates[i].push(rate);
        }
    }

    // 4. The launches again with favordynmods (VM only: it changes the cgroup2 mount).
    let launch_fdm = if favordynmods()? {
        Some(measure_launches(&contenders, launches)?)
    } else {
        None
    };

    // The summary.
    writeln!(
        out,
        "\n1. launch cost: median of {launches} launches per contender, round-robin"
    )?;
    launch_table(
        &mut out,
        &contenders,
        &launch_default,
        "default cgroup2 mount",
    )?;
    match &launch_fdm {
        Some(m) => launch_table(
            &mut out,
            &contenders,
            m,
            "cgroup2 remounted with favordynmods",
        )?,
        None => writeln!(
            out,
            "\n(no favordynmods pass: not in the lab VM, or refused)"
        )?,
    }
    let (seccomp_root, cgroup_root, seccomp_nobody) = (1, 2, 5);
    writeln!(
        out,
        "\n   goal: seccomp launch <= 1.10x its env floor (default cgroup2 mount): root {:.2}x, nobody {:.2}x -> {}",
        launch_default[seccomp_root] / launch_default[0],
        launch_default[seccomp_nobody] / launch_default[4],
        if launch_default[seccomp_root] / launch_default[0] <= 1.10
            && launch_default[seccomp_nobody] / launch_default[4] <= 1.10
        {
            "met"
        } else {
            "NOT met"
        }
    )?;
    writeln!(
        out,
        "   seccomp / cgroup (root): {:.2} on the default mount{}",
        launch_default[seccomp_root] / launch_default[cgroup_root],
        launch_fdm.as_ref().map_or(String::new(), |m| format!(
            ", {:.2} with favordynmods",
            m[seccomp_root] / m[cgroup_root]
        ))
    )?;

    writeln!(
        out,
        "\n2. per socket: median over {rounds} runs of each (round-robin); {sockets} UDP socket()+close() \
         and {connects} TCP connects (socket, connect, close) to {dest} per run"
    )?;
    let med = |i: usize, k: usize| bench::median(&per_op[i][k]);
    writeln!(
        out,
        "   {:<40} {:>14} {:>14}",
        "variant", "socket+close", "TCP connect"
    )?;
    for (i, v) in variants.iter().enumerate() {
        writeln!(
            out,
            "   {:<40} {:>11.2} us {:>11.2} us",
            v.label,
            med(i, 0) / 1e3,
            med(i, 1) / 1e3
        )?;
    }
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        writeln!(
            out,
            "   {:<40} {:>13.2}x {:>13.2}x",
            format!("{} / {}", variants[a].name, variants[b].name),
            med(a, 0) / med(b, 0),
            med(a, 1) / med(b, 1)
        )?;
    }
    writeln!(
        out,
        "   seccomp's extra per socket over plain-bound: {:.2} us (socket+close), {:.2} us (connect)",
        (med(0, 0) - med(2, 0)) / 1e3,
        (med(0, 1) - med(2, 1)) / 1e3
    )?;
    writeln!(
        out,
        "   one pipe round trip between two processes (the wake-ups a supervisor's answer needs, \
         nothing else): {:.2} us (median of {rounds} runs of {})",
        bench::median(&round_trips) / 1e3,
        sockets.min(2_000)
    )?;

    writeln!(
        out,
        "\n3. throughput: one TCP connection sending {bulk_mb} MB to a sink in the peer; median over {rounds} runs"
    )?;
    let rate = |i: usize| bench::median(&rates[i]);
    for (i, v) in variants.iter().enumerate() {
        let runs: Vec<String> = rates[i].iter().map(|r| format!("{:.1}", r / 1e6)).collect();
        writeln!(
            out,
            "   {:<40} {:>8.1} MB/s   (runs: {})",
            v.label,
            rate(i) / 1e6,
            runs.join(", ")
        )?;
    }
    writeln!(
        out,
        "   seccomp / cgroup = {:.3}   seccomp / plain-bound = {:.3}   (1.0 = no per-packet cost; the \
         cgroup mode's sockets pass its egress guard, one BPF program per packet)",
        rate(0) / rate(1),
        rate(0) / rate(2)
    )?;

    print!("\n{out}");
    let saved = bench::save("seccomp", &out)?;
    println!("\n(saved in {})", saved.display());
    Ok(())
}

/// One program launched over and over.
struct Contender {
    /// For the table.
    label: &'static str,
    /// The command line; its last word is `true`, which [`Contender::verify`] replaces.
    argv: Vec<String>,
    /// The index of the contender this one is compared with (its floor), itself for a floor.
    floor: usize,
    /// The mode its `-v` must name (`None`: not a vrf-exec launch into a VRF).
    mode: Option<&'static str>,
}

/// The launch contenders; indices 0 and 4 are the floors (see [`launch_table`]).
fn launch_contenders(bin: &Bin, blue: &str) -> Vec<Contender> {
    let (env, truth, vx, setpriv) = (
        bin.p("env"),
        bin.p("true"),
        bin.p("vrf-exec"),
        bin.p("setpriv"),
    );
    let as_nobody = |argv: Vec<String>| -> Vec<String> {
        let mut v = vec![setpriv.clone()];
        v.extend(NOBODY.map(String::from));
        v.extend(argv);
        v
    };
    let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        Contender {
            label: "env true (root)",
            argv: s(&[&env, &truth]),
            floor: 0,
            mode: None,
        },
        Contender {
            label: "vrf-exec --mode seccomp VRF true (root)",
            argv: s(&[&vx, "--mode", "seccomp", blue, &truth]),
            floor: 0,
            mode: Some("seccomp"),
        },
        Contender {
            label: "vrf-exec --mode cgroup VRF true (root)",
            argv: s(&[&vx, "--mode", "cgroup", blue, &truth]),
            floor: 0,
            mode: Some("cgroup"),
        },
        Contender {
            label: "vrf-exec --mode seccomp default true (root)",
            argv: s(&[&vx, "--mode", "seccomp", "default", &truth]),
            floor: 0,
            mode: None,
        },
        Contender {
            label: "setpriv nobody env true",
            argv: as_nobody(s(&[&env, &truth])),
            floor: 4,
            mode: None,
        },
        Contender {
            label: "setpriv nobody vrf-exec VRF true (auto)",
            argv: as_nobody(s(&[&vx, blue, &truth])),
            floor: 4,
            mode: Some("seccomp"),
        },
    ]
}

impl Contender {
    /// Proves, untimed, that this contender runs its command where it should: in its place,
    /// `bound_ifindex` must see new sockets bound to the VRF (`ifindex`), or to nothing for a command
    /// outside any VRF, with nothing on stderr; a vrf-exec launch's `-v` must name its mode.
    fn verify(&self, bin: &Bin, ifindex: u32) -> Result<()> {
        let mut argv = self.argv.clone();
        *argv.last_mut().expect("a command") = bin.p("bound_ifindex");
        let r = cmd::run(Command::new(&argv[0]).args(&argv[1..]))?.ok()?;
        let want = if self.mode.is_some() { ifindex } else { 0 };
        ensure!(
            r.stdout.trim() == format!("v4={want} v6={want}") && r.stderr.trim().is_empty(),
            "{}",
            r.describe(&format!(
                "did not run its command with sockets bound to ifindex {want}, silently"
            ))
        );
        if let Some(mode) = self.mode {
            let vx = argv
                .iter()
                .position(|a| a.ends_with("/vrf-exec"))
                .expect("vrf-exec");
            argv.insert(vx + 1, "-v".into());
            let r = cmd::run(Command::new(&argv[0]).args(&argv[1..]))?.ok()?;
            let says = match mode {
                "seccomp" => r.stderr.contains("vrf-exec: seccomp mode"),
                _ => r.stderr.contains(", cgroup /") && !r.stderr.contains("seccomp"),
            };
            ensure!(
                says,
                "{}",
                r.describe(&format!("did not use the {mode} mode"))
            );
        }
        Ok(())
    }
}

/// Median launch time of each contender in seconds: a warm-up of 5 each, then `launches` rounds in
/// which each is launched once, in turn.
fn measure_launches(contenders: &[Contender], launches: usize) -> Result<Vec<f64>> {
    for c in contenders {
        for _ in 0..5 {
            bench::timed_run(&c.argv)?;
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    for _ in 0..launches {
        for (i, c) in contenders.iter().enumerate() {
            times[i].push(bench::timed_run(&c.argv)?);
        }
    }
    Ok(times
        .iter()
        .map(|t| bench::median_by(t, Duration::as_secs_f64))
        .collect())
}

/// The launch table: each contender's median and its ratio to its floor.
fn launch_table(out: &mut String, cs: &[Contender], medians: &[f64], mount: &str) -> Result<()> {
    writeln!(out, "\n   {mount}:")?;
    writeln!(
        out,
        "   {:<46} {:>9} {:>10} {:>10}  floor",
        "contender", "median", "vs floor", "- floor"
    )?;
    for (i, (c, m)) in cs.iter().zip(medians).enumerate() {
        writeln!(
            out,
            "   {:<46} {:>7.2}ms {:>9.2}x {:>+8.2}ms  {}",
            c.label,
            m * 1e3,
            m / medians[c.floor],
            (m - medians[c.floor]) * 1e3,
            if c.floor == i {
                "(floor)"
            } else {
                cs[c.floor].label
            }
        )?;
    }
    // Rows 1, 2 and 3: what the VRF costs each mode over vrf-exec's own start and exec.
    writeln!(
        out,
        "   over `vrf-exec --mode seccomp default true` (vrf-exec's own start, no VRF): seccomp mode \
         {:+.2}ms (VRF look-up and table check, test socket, fork, filter, supervision), cgroup mode \
         {:+.2}ms (VRF look-up and table check, hooks checked, cgroup join, test socket)",
        (medians[1] - medians[3]) * 1e3,
        (medians[2] - medians[3]) * 1e3
    )?;
    Ok(())
}

/// A way to run the socket_cost example.
struct Variant {
    /// Short, for ratios.
    name: &'static str,
    /// For the tables.
    label: &'static str,
    /// The command line before socket_cost's operation.
    prefix: Vec<String>,
}

fn socket_variants(bin: &Bin, blue: &str) -> Vec<Variant> {
    let (vx, sc) = (bin.p("vrf-exec"), bin.p("socket_cost"));
    let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        Variant {
            name: "seccomp",
            label: "vrf-exec --mode seccomp VRF socket_cost",
            prefix: s(&[&vx, "--mode", "seccomp", blue, &sc]),
        },
        Variant {
            name: "cgroup",
            label: "vrf-exec --mode cgroup VRF socket_cost",
            prefix: s(&[&vx, "--mode", "cgroup", blue, &sc]),
        },
        Variant {
            name: "plain",
            label: "socket_cost --bind VRF (plain-bound)",
            prefix: s(&[&sc, "--bind", blue]),
        },
    ]
}

/// What a socket_cost run printed: `key=value` words.
struct Report(Vec<(String, String)>);

impl Report {
    fn of(stdout: &str) -> Report {
        Report(
            stdout
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn value(&self, key: &str) -> Result<f64> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .with_context(|| format!("socket_cost printed no number {key}="))
    }
}

impl Variant {
    /// Runs socket_cost `args` this way; it must succeed, print nothing on stderr, and report sockets
    /// bound to the VRF (`ifindex`).
    fn run(&self, args: &[&str], ifindex: u32) -> Result<Report> {
        let r = cmd::run(
            Command::new(&self.prefix[0])
                .args(&self.prefix[1..])
                .args(args),
        )?
        .ok()?;
        ensure!(
            r.stderr.trim().is_empty(),
            "{}",
            r.describe("printed on stderr")
        );
        let report = Report::of(&r.stdout);
        let bound = report.value("bound").with_context(|| r.describe("ran"))?;
        ensure!(
            bound == f64::from(ifindex),
            "{}",
            r.describe(&format!(
                "measured sockets bound to ifindex {bound}, not the VRF's {ifindex}"
            ))
        );
        Ok(report)
    }
}

/// A TCP listener on [`CONNECT_PORT`] in blue's peer that counts and closes every connection.
fn connect_listener(t: &Topology, accepted: Arc<AtomicU64>) -> Result<netns::Server> {
    netns::tcp_server(
        &t.blue.peer_ns,
        || listener(CONNECT_PORT),
        move |conn, _| {
            accepted.fetch_add(1, Ordering::Relaxed);
            drop(conn);
        },
    )
}

/// A TCP sink on [`BULK_PORT`] in blue's peer: reads a connection to its end, answers with the number
/// of bytes it read (8 bytes, big endian), closes.
fn bulk_sink(t: &Topology) -> Result<netns::Server> {
    netns::tcp_server(
        &t.blue.peer_ns,
        || listener(BULK_PORT),
        |mut conn, _| {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
            let mut buf = vec![0u8; 256 * 1024];
            let mut n = 0u64;
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => n += k as u64,
                    Err(_) => return,
                }
            }
            let _ = conn.write_all(&n.to_be_bytes());
        },
    )
}

/// A listener on `port` (every address) with a deep accept queue: the server thread accepts every few
/// milliseconds, while connects arrive much faster.
fn listener(port: u16) -> Result<TcpListener> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Waits (a few seconds at most) until the listener has accepted `n` connections in all: every connect
/// the clients reported reached it, in the VRF's peer.
fn wait_for_accepts(accepted: &AtomicU64, n: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = accepted.load(Ordering::Relaxed);
    ensure!(
        got == n,
        "the peer's listener accepted {got} connections, the clients made {n}"
    );
    Ok(())
}

fn which(program: &str) -> Result<std::path::PathBuf> {
    cmd::which(program).with_context(|| format!("{program} not found"))
}

/// In the lab VM only: remounts cgroup2 with `favordynmods`. Returns false (and says why) where that is
/// not possible or not ours to change.
fn favordynmods() -> Result<bool> {
    if std::env::var_os(lab::GUEST_ENV).is_none() {
        eprintln!(
            "(favordynmods pass skipped: it changes the host's cgroup2 mount, done only in the lab VM)"
        );
        return Ok(false);
    }
    let r = cmd::run(Command::new("mount").args(["-o", "remount,favordynmods", "/sys/fs/cgroup"]))?;
    if !r.success() {
        eprintln!("(favordynmods pass skipped: {})", r.stderr.trim());
    }
    Ok(r.success())
}
