//! UDP echo throughput: one unbound pktinfo socket serving every VRF, against a plain echo bound to one
//! VRF, in the same lab run. Only the ratios mean anything (under qemu TCG every number is low).
//!
//! ```text
//! cargo bench -p vrf-lab --bench udp_echo          # VRF_BENCH_SECS=N: seconds per run (default 3)
//! ```
//!
//! The servers run in the router namespace, one at a time; the load comes from the blue peer: 4 client
//! threads, each with a connected UDP socket that keeps 16 datagrams of 64 bytes in flight (it sends one
//! more for each reply, and refills the window when nothing came back for 200 ms). Replies are counted
//! for `VRF_BENCH_SECS` after 1 s of warm-up. The server variants:
//!
//! - `pktinfo-batch`: the multi-VRF server: an unbound socket with pktinfo (`udp_l3mdev_accept=1`),
//!   `recvmmsg`/`sendmmsg` of up to 32 datagrams, the VRF of every datagram looked up in a [`VrfMap`], each
//!   reply sent from the address and through the device its request came in on;
//! - `pktinfo-single`: the same socket, one `recvmsg`/`sendmsg` per datagram;
//! - `plain-vrf`: the plain echo a user would write, `recv_from`/`send_to` one datagram at a time, on a
//!   socket bound to VRF blue. An unbound plain socket could not be the baseline: it receives the
//!   requests (with `udp_l3mdev_accept=1`) but cannot answer, as the default VRF has no route to the peer.
//!
//! The variants run interleaved, three rounds of each, and the median of each is reported.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use vrf_lab::bench::median;
use vrf_lab::{Topology, netns};
use vrf_socket::Vrf;
use vrf_socket::{VrfMap, pktinfo};

const CLIENTS: usize = 4;
const WINDOW: usize = 16;
const PAYLOAD: usize = 64;
const BATCH: usize = 32;
const WARMUP: Duration = Duration::from_secs(1);
const ROUNDS: usize = 3;
const GOAL: f64 = 0.95;
/// A client that got no reply for this long assumes its window was lost and sends a new one.
const RESEND: Duration = Duration::from_millis(200);
/// How often an idle server looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Each run uses a fresh port, so no datagram of one run reaches the next.
const FIRST_PORT: u16 = 9100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    PktinfoBatch,
    PlainVrf,
    PktinfoSingle,
}

impl Variant {
    /// In the order they run in each round.
    const ALL: [Variant; 3] = [
        Variant::PktinfoBatch,
        Variant::PlainVrf,
        Variant::PktinfoSingle,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::PktinfoBatch => "pktinfo-batch",
            Variant::PlainVrf => "plain-vrf",
            Variant::PktinfoSingle => "pktinfo-single",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Variant::PktinfoBatch => "unbound, pktinfo, recvmmsg/sendmmsg x32, VrfMap",
            Variant::PlainVrf => "bound to VRF blue, recv_from/send_to",
            Variant::PktinfoSingle => "unbound, pktinfo, recvmsg/sendmsg, VrfMap",
        }
    }
}

fn main() -> Result<()> {
    if !vrf_lab::bench::start("udp_echo")? {
        return Ok(());
    }
    bench(vrf_lab::bench::round_duration()?)
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    pps: f64,
    /// Datagrams the server answered, warm-up included.
    answered: u64,
    /// Times a client's window ran dry and was refilled.
    stalls: u64,
}

fn bench(secs: Duration) -> Result<()> {
    let t = Topology::new()?;
    t.router_sysctl("net.ipv4.udp_l3mdev_accept", "1")?;
    println!(
        "udp_echo: {CLIENTS} clients x {WINDOW} datagrams in flight, {PAYLOAD}-byte payloads, {:.1} s per run \
         after {} s warm-up, {ROUNDS} rounds interleaved; {}",
        secs.as_secs_f64(),
        WARMUP.as_secs(),
        vrf_lab::bench::machine()
    );
    let mut samples: Vec<(Variant, Sample)> = Vec::new();
    let mut port = FIRST_PORT;
    for round in 1..=ROUNDS {
        for v in Variant::ALL {
            let s = run_once(&t, v, port, secs)
                .with_context(|| format!("round {round}, {}", v.name()))?;
            eprintln!(
                "udp_echo: round {round} {:<14} {:>9.0} pps ({} answered, {} stalls)",
                v.name(),
                s.pps,
                s.answered,
                s.stalls
            );
            samples.push((v, s));
            port += 1;
        }
    }
    drop(t);

    println!();
    println!(
        "{:<15} {:<50} {:>10} {:>10} {:>10} {:>12}",
        "variant", "server", "round 1", "round 2", "round 3", "median pps"
    );
    let mut medians = Vec::new();
    for v in Variant::ALL {
        let pps: Vec<f64> = samples
            .iter()
            .filter(|(w, _)| *w == v)
            .map(|(_, s)| s.pps)
            .collect();
        let m = median(&pps);
        medians.push((v, m));
        let rounds: Vec<String> = pps.iter().map(|p| format!("{p:>10.0}")).collect();
        println!(
            "{:<15} {:<50} {} {m:>12.0}",
            v.name(),
            v.what(),
            rounds.join(" ")
        );
    }
    let median_of = |v: Variant| medians.iter().find(|(w, _)| *w == v).map_or(0.0, |m| m.1);
    let plain = median_of(Variant::PlainVrf);
    println!();
    for v in [Variant::PktinfoBatch, Variant::PktinfoSingle] {
        let ratio = median_of(v) / plain;
        println!(
            "{:>14} / plain-vrf = {ratio:.3}   goal >= {GOAL}: {}",
            v.name(),
            if ratio >= GOAL { "met" } else { "NOT met" }
        );
    }
    println!(
        "\nnote: the plain baseline is bound to VRF blue: an unbound plain socket receives VRF traffic \
         (udp_l3mdev_accept=1)\n      but cannot reply into the VRF, as the default VRF has no route to the peer."
    );
    let stalls: u64 = samples.iter().map(|(_, s)| s.stalls).sum();
    if stalls > 0 {
        println!("note: {stalls} client windows ran dry (datagrams lost) and were refilled");
    }
    Ok(())
}

/// Runs server `variant` on `port` in the router namespace and loads it from the blue peer.
fn run_once(t: &Topology, variant: Variant, port: u16, secs: Duration) -> Result<Sample> {
    let server = Server::start(t, variant, port)?;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let to = SocketAddr::new(vrf_lab::ROUTER_V4.parse()?, port);
    let clients: Vec<JoinHandle<Result<(u64, u64)>>> = (0..CLIENTS)
        .map(|_| {
            let ns = t.blue.peer_ns.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let sock = netns::enter(&ns).and_then(|()| client_socket(to));
                // Every client reaches the barrier, even one that failed, so none waits forever.
                barrier.wait();
                client(&sock?, secs)
            })
        })
        .collect();
    let mut replies = 0;
    let mut stalls = 0;
    let mut failure = None;
    for c in clients {
        match c.join().map_err(|_| anyhow!("client thread panicked"))? {
            Ok((r, s)) => {
                replies += r;
                stalls += s;
            }
            Err(e) => failure = Some(e),
        }
    }
    let stats = server.stop()?;
    if let Some(e) = failure {
        return Err(e.context("client"));
    }
    ensure!(
        stats.other_vrf == 0,
        "{} of {} datagrams were mapped to a VRF other than {}",
        stats.other_vrf,
        stats.answered,
        t.blue.vrf
    );
    Ok(Sample {
        pps: replies as f64 / secs.as_secs_f64(),
        answered: stats.answered,
        stalls,
    })
}

/// A load client's socket, connected to `to`.
fn client_socket(to: SocketAddr) -> Result<UdpSocket> {
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))?;
    sock.connect(to)?;
    sock.set_read_timeout(Some(RESEND))?;
    Ok(sock)
}

/// One load client: keeps `WINDOW` datagrams in flight; returns the replies counted after the warm-up,
/// and how many times its window ran dry.
fn client(sock: &UdpSocket, secs: Duration) -> Result<(u64, u64)> {
    let load = vrf_lab::bench::udp_echo_load(sock, WINDOW, PAYLOAD, WARMUP, secs)
        .context("the load client")?;
    Ok((load.replies, load.stalls))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What a server did.
#[derive(Debug, Default)]
struct Stats {
    answered: u64,
    /// Datagrams whose ingress device did not map to VRF blue (pktinfo variants).
    other_vrf: u64,
}

/// An echo server thread in the router namespace.
struct Server {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Stats>>,
}

impl Server {
    fn start(t: &Topology, variant: Variant, port: u16) -> Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ns, blue) = (t.router_ns.clone(), t.blue.vrf.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || -> Result<Stats> {
            let made = netns::enter(&ns).and_then(|()| server_socket(variant, port, &blue));
            let sock = match made {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Ok(Stats::default());
                }
            };
            match variant {
                Variant::PktinfoBatch => serve_pktinfo_batch(&sock, &blue, &stop2),
                Variant::PktinfoSingle => serve_pktinfo_single(&sock, &blue, &stop2),
                Variant::PlainVrf => serve_plain(&sock, &stop2),
            }
        });
        rx.recv()
            .map_err(|_| anyhow!("server thread died"))?
            .with_context(|| format!("starting the {} server", variant.name()))?;
        Ok(Server { stop, thread })
    }

    fn stop(self) -> Result<Stats> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow!("server thread panicked"))?
            .context("server")
    }
}

fn server_socket(variant: Variant, port: u16, blue: &str) -> Result<UdpSocket> {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let sock = match variant {
        Variant::PlainVrf => Vrf::by_name(blue)?.udp_bind(any)?,
        Variant::PktinfoBatch | Variant::PktinfoSingle => {
            let s = UdpSocket::bind(any)?;
            pktinfo::enable(&s)?;
            s
        }
    };
    sock.set_read_timeout(Some(POLL))?;
    Ok(sock)
}

/// Counts whether the datagram that came in on `ifindex` belongs to VRF `blue`.
fn tally(vrfs: &mut VrfMap, ifindex: Option<NonZeroU32>, blue: &str, stats: &mut Stats) {
    let in_blue = match vrfs.vrf_of(ifindex) {
        Ok(Some(vrf)) => vrf.name() == blue,
        _ => false,
    };
    if !in_blue {
        stats.other_vrf += 1;
    }
}

fn serve_pktinfo_batch(sock: &UdpSocket, blue: &str, stop: &AtomicBool) -> Result<Stats> {
    let mut stats = Stats::default();
    let mut vrfs = VrfMap::default();
    let mut store = vec![[0u8; 2048]; BATCH];
    while !stop.load(Ordering::Relaxed) {
        let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| &mut b[..]).collect();
        let metas = match pktinfo::recv_batch(sock, &mut bufs) {
            Ok(m) => m,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => bail!("recvmmsg: {e}"),
        };
        for m in &metas {
            tally(&mut vrfs, m.ifindex, blue, &mut stats);
        }
        let replies: Vec<_> = metas
            .iter()
            .zip(&bufs)
            .map(|(m, b)| m.reply(&b[..m.len]))
            .collect();
        let mut sent = 0;
        while sent < replies.len() {
            sent += pktinfo::send_batch(sock, &replies[sent..]).context("sendmmsg")?;
        }
        stats.answered += metas.len() as u64;
    }
    Ok(stats)
}

fn serve_pktinfo_single(sock: &UdpSocket, blue: &str, stop: &AtomicBool) -> Result<Stats> {
    let mut stats = Stats::default();
    let mut vrfs = VrfMap::default();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let meta = match pktinfo::recv(sock, &mut buf) {
            Ok(m) => m,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => bail!("recvmsg: {e}"),
        };
        tally(&mut vrfs, meta.ifindex, blue, &mut stats);
        pktinfo::send(sock, &meta.reply(&buf[..meta.len])).context("sendmsg")?;
        stats.answered += 1;
    }
    Ok(stats)
}

fn serve_plain(sock: &UdpSocket, stop: &AtomicBool) -> Result<Stats> {
    let mut stats = Stats::default();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => bail!("recvfrom: {e}"),
        };
        sock.send_to(&buf[..n], from).context("sendto")?;
        stats.answered += 1;
    }
    Ok(stats)
}
