//! A UDP echo server for every VRF at once, on ONE unbound socket.
//!
//! ```text
//! multi_vrf_echo [--port N] [--v6] [--count N]
//! ```
//!
//! It binds `0.0.0.0:N` (or `[::]:N`, which also takes IPv4 as mapped addresses) without binding to any
//! device and turns pktinfo on. With `net.ipv4.udp_l3mdev_accept=1` the kernel delivers datagrams from
//! every VRF to such a socket and reports, for each one, the address it was sent to and the device it came
//! in on (for VRF traffic the enslaved port, which [`VrfMap`] maps to its VRF). Each datagram is answered
//! with `"<vrf> <payload>"` (`default` outside any VRF), sent from the address the peer used and out of the
//! device the datagram arrived on, so the answer leaves through the same VRF, even when several VRFs use
//! the same addresses. Receiving and sending go in batches: one `recvmmsg(2)` and one `sendmmsg(2)` for up
//! to 32 datagrams.
//!
//! `--count N` exits after answering N datagrams.

use std::error::Error;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::num::NonZeroU32;
use std::process::ExitCode;

use vrf_socket::{VrfMap, pktinfo};

/// Datagrams per `recvmmsg(2)` / `sendmmsg(2)`.
const BATCH: usize = 32;
/// Receive buffer per datagram: answers carry at most this much of each payload.
const MAX_DATAGRAM: usize = 2048;
const SYSCTL: &str = "/proc/sys/net/ipv4/udp_l3mdev_accept";

const USAGE: &str = "usage: multi_vrf_echo [--port N] [--v6] [--count N]";

#[derive(Debug)]
struct Args {
    port: u16,
    v6: bool,
    count: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 7007,
        v6: false,
        count: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                args.port = v.parse().map_err(|_| format!("--port {v:?}: not a port"))?;
            }
            "--count" => {
                let v = value("--count")?;
                args.count = Some(
                    v.parse()
                        .map_err(|_| format!("--count {v:?}: not a number"))?,
                );
            }
            "--v6" => args.v6 = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// Exit status 0: `--count` datagrams answered; 1: the socket failed; 2: bad arguments.
fn main() -> ExitCode {
    match parse_args() {
        Err(e) => {
            eprintln!("multi_vrf_echo: {e}");
            ExitCode::from(2)
        }
        Ok(args) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("multi_vrf_echo: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let addr = if args.v6 {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, args.port))
    } else {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port))
    };
    let socket = UdpSocket::bind(addr).map_err(|e| format!("binding {addr}: {e}"))?;
    pktinfo::enable(&socket)?;
    eprintln!(
        "multi_vrf_echo: listening on {} for every VRF (needs net.ipv4.udp_l3mdev_accept=1 to see VRF traffic)",
        socket.local_addr()?
    );
    if std::fs::read_to_string(SYSCTL).is_ok_and(|v| v.trim() == "0") {
        eprintln!(
            "multi_vrf_echo: warning: udp_l3mdev_accept is 0 here, only default-VRF traffic arrives \
             (sysctl -w net.ipv4.udp_l3mdev_accept=1)"
        );
    }
    serve(&socket, args.count)
}

/// Answers datagrams in batches until `count` (if any) have been answered.
fn serve(socket: &UdpSocket, count: Option<u64>) -> Result<(), Box<dyn Error>> {
    let mut vrfs = VrfMap::default();
    let mut store = vec![[0u8; MAX_DATAGRAM]; BATCH];
    let mut answered = 0u64;
    while count.is_none_or(|c| answered < c) {
        // Never take more than `--count` still allows.
        let room = count.map_or(BATCH, |c| (c - answered).min(BATCH as u64) as usize);
        let mut bufs: Vec<&mut [u8]> = store[..room].iter_mut().map(|b| &mut b[..]).collect();
        let metas = pktinfo::recv_batch(socket, &mut bufs)?;
        let answers: Vec<Vec<u8>> = metas
            .iter()
            .zip(&bufs)
            .map(|(m, b)| {
                let mut a = vrf_name(&mut vrfs, m.ifindex).into_bytes();
                a.push(b' ');
                a.extend_from_slice(&b[..m.len]);
                a
            })
            .collect();
        let replies: Vec<_> = metas
            .iter()
            .zip(&answers)
            .map(|(m, a)| m.reply(a))
            .collect();
        let mut sent = 0;
        while sent < replies.len() {
            match pktinfo::send_batch(socket, &replies[sent..]) {
                Ok(n) => sent += n,
                // sendmmsg reports an error only when the first datagram fails: drop that one, go on.
                Err(e) => {
                    eprintln!("multi_vrf_echo: reply to {}: {e}", replies[sent].dst);
                    sent += 1;
                }
            }
        }
        answered += metas.len() as u64;
    }
    Ok(())
}

/// The name of the VRF that ingress device `ifindex` belongs to, or `default`.
fn vrf_name(vrfs: &mut VrfMap, ifindex: Option<NonZeroU32>) -> String {
    match vrfs.vrf_of(ifindex) {
        Ok(Some(vrf)) => vrf.name().to_string(),
        Ok(None) => "default".into(),
        Err(e) => {
            eprintln!("multi_vrf_echo: looking up the VRF of device {ifindex:?}: {e}");
            "unknown".into()
        }
    }
}
