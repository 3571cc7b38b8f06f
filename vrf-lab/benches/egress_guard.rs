//! What vrf-exec's egress guard costs: UDP echo packets/s of the same client program with and without
//! the guard, in the same lab run. Only the ratio means anything (under qemu TCG every number is low).
//!
//! ```text
//! scripts/bench.sh egress_guard          # VRF_BENCH_SECS=N: seconds per run (default 3)
//! ```
//!
//! The client is this bench's own program run as `egress_guard client …`, in the router namespace: 4
//! threads, each with a connected UDP socket that keeps 16 datagrams of 64 bytes in flight towards an
//! echo server in the blue peer (it sends one more for each reply, and refills the window when nothing
//! came back for 200 ms); it counts replies for `VRF_BENCH_SECS` after 1 s of warm-up. The variants:
//!
//! - `guard`: launched by vrf-exec (the release build, as installed) into VRF blue: its sockets are
//!   bound by the sock-create hook and every datagram it sends passes the guard (the VRF and one port);
//! - `no-guard`: launched by `ip netns exec` alone, binding its sockets to VRF blue itself
//!   (`SO_BINDTODEVICE`), in a cgroup without programs.
//!
//! The variants run interleaved, three rounds of each, and the median of each is reported.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use vrf_lab::bench::median;
use vrf_lab::{TempDir, Topology, cmd, netns};

const CLIENTS: usize = 4;
const WINDOW: usize = 16;
const PAYLOAD: usize = 64;
const WARMUP: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;
const RESEND: Duration = Duration::from_millis(200);
const PORT: u16 = 9200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Guard,
    NoGuard,
}

impl Variant {
    const ALL: [Variant; 2] = [Variant::Guard, Variant::NoGuard];

    fn name(self) -> &'static str {
        match self {
            Variant::Guard => "guard",
            Variant::NoGuard => "no-guard",
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        return client_main(&args[2..]);
    }
    if !vrf_lab::bench::start("egress_guard")? {
        return Ok(());
    }
    bench(vrf_lab::bench::round_duration()?)
}

fn bench(secs: Duration) -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("egress-guard")?;
    let vrf_exec = vrf_lab::bench::release_copy("vrf-exec", &dir)?;
    let vrf_exec = vrf_exec.to_string_lossy();
    let me = std::env::current_exe()?;
    let me = me.to_string_lossy();
    let _server = echo_server(&t)?;
    println!(
        "egress_guard: {CLIENTS} clients x {WINDOW} datagrams in flight, {PAYLOAD}-byte payloads, {:.1} s \
         per run after {} s warm-up, {ROUNDS} rounds interleaved; {}",
        secs.as_secs_f64(),
        WARMUP.as_secs(),
        vrf_lab::bench::machine()
    );
    let blue = t.blue.vrf.as_str();
    let secs_arg = secs.as_secs_f64().to_string();
    let mut samples: Vec<(Variant, f64)> = Vec::new();
    for round in 1..=ROUNDS {
        for v in Variant::ALL {
            let client = ["client", &secs_arg, blue];
            let mut c = match v {
                Variant::Guard => {
                    let mut args = vec!["-v", blue, &*me];
                    args.extend(client);
                    t.router_cmd(&vrf_exec, &args)
                }
                Variant::NoGuard => {
                    let mut args = client.to_vec();
                    args.push("--bind");
                    t.router_cmd(&me, &args)
                }
            };
            let r = cmd::run(&mut c)?.ok()?;
            if v == Variant::Guard {
                ensure!(
                    r.stderr.contains("egress guard") && r.stderr.contains(&t.blue.dev),
                    "{}",
                    r.describe("the client ran without the guard")
                );
            }
            let pps: f64 = r
                .stdout
                .trim()
                .parse()
                .with_context(|| r.describe("the client printed no rate"))?;
            eprintln!("egress_guard: round {round} {:<9} {pps:>9.0} pps", v.name());
            samples.push((v, pps));
        }
    }
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>12}",
        "variant", "round 1", "round 2", "round 3", "median pps"
    );
    let mut medians = Vec::new();
    for v in Variant::ALL {
        let pps: Vec<f64> = samples
            .iter()
            .filter(|(w, _)| *w == v)
            .map(|s| s.1)
            .collect();
        let m = median(&pps);
        medians.push(m);
        let rounds: Vec<String> = pps.iter().map(|p| format!("{p:>10.0}")).collect();
        println!("{:<10} {} {m:>12.0}", v.name(), rounds.join(" "));
    }
    println!("\nguard / no-guard = {:.3}", medians[0] / medians[1]);
    Ok(())
}

/// A UDP echo server on [`PORT`] (both families) in the blue peer.
fn echo_server(t: &Topology) -> Result<netns::Server> {
    netns::udp_server(
        &t.blue.peer_ns,
        || {
            let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
            s.set_only_v6(false)?;
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
            Ok(UdpSocket::from(s))
        },
        |s| {
            let mut buf = [0u8; 2048];
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&buf[..n], from);
            }
        },
    )
}

/// `client SECS VRF [--bind]`: loads the peer's echo server from [`CLIENTS`] threads and prints the
/// replies per second; `--bind` binds the sockets to VRF itself.
fn client_main(args: &[String]) -> Result<()> {
    let [secs, vrf, rest @ ..] = args else {
        bail!("usage: egress_guard client SECS VRF [--bind]");
    };
    let secs = Duration::from_secs_f64(secs.parse()?);
    let bind = rest.iter().any(|a| a == "--bind");
    let to = SocketAddr::new(vrf_lab::PEER_V4.parse()?, PORT);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let vrf = vrf.clone();
            std::thread::spawn(move || -> Result<u64> {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
                if bind {
                    s.bind_device(Some(vrf.as_bytes()))?;
                }
                let sock = UdpSocket::from(s);
                sock.connect(to)?;
                sock.set_read_timeout(Some(RESEND))?;
                let load = vrf_lab::bench::udp_echo_load(&sock, WINDOW, PAYLOAD, WARMUP, secs)?;
                Ok(load.replies)
            })
        })
        .collect();
    let mut replies = 0;
    for t in threads {
        replies += t.join().map_err(|_| anyhow!("client thread panicked"))??;
    }
    println!("{:.0}", replies as f64 / secs.as_secs_f64());
    Ok(())
}
