//! What a socket costs the program that makes it: times `socket()` + `close()` of UDP sockets, TCP
//! connects (socket, connect, close) and one bulk TCP transfer, and prints the time per operation. The
//! `seccomp` bench runs it under `vrf-exec --mode seccomp VRF`, under `vrf-exec --mode cgroup VRF`, and
//! plain with `--bind VRF`, where it binds each socket itself (`SO_BINDTOIFINDEX` right after `socket()`,
//! inside the timed loop: the work the other two have the kernel or a supervisor do).
//!
//! ```text
//! socket_cost [--bind VRF] sockets N                  socket(AF_INET, SOCK_DGRAM) + close, N times
//! socket_cost [--bind VRF] connects M ADDR:PORT       socket(AF_INET, SOCK_STREAM) + connect + close, M times
//! socket_cost [--bind VRF] bulk BYTES ADDR:PORT       one connection: send BYTES, shut down writing, read
//!                                                     the 8-byte count the sink sends back (big endian)
//! socket_cost pingpong N                              N one-byte round trips through pipes with a child
//!                                                     process: what one wake-up of another process and
//!                                                     back costs here, the floor of a supervisor's answer
//! ```
//!
//! Output, one line of `key=value` words: `op=sockets n=10000 ns_per_op=1234.5 bound=7` (for `bulk`:
//! `secs=` and `bytes_per_sec=`). `bound` is the device index the measured sockets were bound to: that of
//! an untimed socket made the same way before the loop, which must equal those of the first and last
//! timed sockets (else the program fails). A sink that counted a different number of bytes, a failed
//! connect, a short write: each ends the program with status 1 and a message on stderr, before any line
//! is printed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU32;
use std::time::Instant;

use socket2::{Domain, Socket, Type};

type Result<T> = std::result::Result<T, String>;

fn main() {
    if let Err(e) = run(std::env::args().skip(1).collect()) {
        eprintln!("socket_cost: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str =
    "usage: socket_cost [--bind VRF] sockets N | connects M ADDR:PORT | bulk BYTES ADDR:PORT";

fn run(mut args: Vec<String>) -> Result<()> {
    let bind = if args.first().map(String::as_str) == Some("--bind") {
        let name = args.get(1).ok_or(USAGE)?.clone();
        args.drain(..2);
        let vrf = vrf_socket::Vrf::up_by_name(&name).map_err(|e| format!("VRF {name}: {e}"))?;
        Some(vrf.index())
    } else {
        None
    };
    let number = |i: usize| -> Result<u64> {
        args.get(i)
            .ok_or(USAGE)?
            .parse()
            .map_err(|e| format!("{:?}: {e}", args[i]))
    };
    let addr = |i: usize| -> Result<SocketAddr> {
        args.get(i)
            .ok_or(USAGE)?
            .parse()
            .map_err(|e| format!("{:?}: {e}", args[i]))
    };
    match args.first().map(String::as_str) {
        Some("sockets") => sockets(bind, number(1)?),
        Some("connects") => connects(bind, number(1)?, addr(2)?),
        Some("bulk") => bulk(bind, number(1)?, addr(2)?),
        Some("pingpong") => pingpong(number(1)?),
        Some("pong") => pong(),
        _ => Err(USAGE.into()),
    }
}

/// A new AF_INET socket of type `ty`, bound to `bind` when given (as the measured loops make them).
fn socket(ty: Type, bind: Option<NonZeroU32>) -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, ty, None).map_err(|e| format!("socket(): {e}"))?;
    if let Some(index) = bind {
        vrf_socket::bind_to_index(&s, index)
            .map_err(|e| format!("SO_BINDTOIFINDEX {index}: {e}"))?;
    }
    Ok(s)
}

/// The device index `s` is bound to, 0 for none.
fn bound(s: &Socket) -> Result<u32> {
    vrf_socket::bound_index(s)
        .map(|i| i.map_or(0, NonZeroU32::get))
        .map_err(|e| format!("reading SO_BINDTOIFINDEX: {e}"))
}

/// Fails unless the timed socket `s` (the `what` one) is bound where the untimed probe was.
fn same_binding(s: &Socket, probe: u32, what: &str) -> Result<()> {
    let b = bound(s)?;
    if b != probe {
        return Err(format!(
            "the {what} measured socket is bound to ifindex {b}, the probe to {probe}"
        ));
    }
    Ok(())
}

fn sockets(bind: Option<NonZeroU32>, n: u64) -> Result<()> {
    if n < 2 {
        return Err("sockets: N must be at least 2".into());
    }
    let probe = bound(&socket(Type::DGRAM, bind)?)?;
    let start = Instant::now();
    for i in 0..n {
        let s = socket(Type::DGRAM, bind)?;
        // Two getsockopt calls out of N: the binding of the first and last timed sockets.
        if i == 0 || i == n - 1 {
            same_binding(&s, probe, if i == 0 { "first" } else { "last" })?;
        }
        drop(s);
    }
    let took = start.elapsed();
    println!(
        "op=sockets n={n} ns_per_op={:.1} bound={probe}",
        took.as_nanos() as f64 / n as f64
    );
    Ok(())
}

fn connects(bind: Option<NonZeroU32>, m: u64, to: SocketAddr) -> Result<()> {
    if m < 2 {
        return Err("connects: M must be at least 2".into());
    }
    let probe = bound(&socket(Type::STREAM, bind)?)?;
    let to2 = to.into();
    let start = Instant::now();
    for i in 0..m {
        let s = socket(Type::STREAM, bind)?;
        s.connect(&to2)
            .map_err(|e| format!("connect {i} to {to}: {e}"))?;
        if i == 0 || i == m - 1 {
            same_binding(&s, probe, if i == 0 { "first" } else { "last" })?;
        }
        drop(s);
    }
    let took = start.elapsed();
    println!(
        "op=connects n={m} ns_per_op={:.1} bound={probe}",
        took.as_nanos() as f64 / m as f64
    );
    Ok(())
}

fn bulk(bind: Option<NonZeroU32>, bytes: u64, to: SocketAddr) -> Result<()> {
    const CHUNK: usize = 128 * 1024;
    let s = socket(Type::STREAM, bind)?;
    let probe = bound(&s)?;
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    s.connect(&to.into())
        .map_err(|e| format!("connect to {to}: {e}"))?;
    let mut conn = TcpStream::from(s);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        conn.write_all(&chunk[..n])
            .map_err(|e| format!("sending, {left} bytes left: {e}"))?;
        left -= n as u64;
    }
    conn.shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    let mut count = [0u8; 8];
    conn.read_exact(&mut count)
        .map_err(|e| format!("reading the sink's count: {e}"))?;
    let took = start.elapsed().as_secs_f64();
    let counted = u64::from_be_bytes(count);
    if counted != bytes {
        return Err(format!("sent {bytes} bytes, the sink counted {counted}"));
    }
    println!(
        "op=bulk n={bytes} secs={took:.3} bytes_per_sec={:.0} bound={probe}",
        bytes as f64 / took
    );
    Ok(())
}

fn pingpong(n: u64) -> Result<()> {
    use std::process::{Command, Stdio};
    let me = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let mut child = Command::new(me)
        .arg("pong")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the pong child: {e}"))?;
    let (mut to, mut from) = (
        child.stdin.take().ok_or("no stdin")?,
        child.stdout.take().ok_or("no stdout")?,
    );
    let mut byte = [0u8; 1];
    let mut round_trip = |i: u64| -> Result<()> {
        to.write_all(&[1])
            .and_then(|()| from.read_exact(&mut byte))
            .map_err(|e| format!("round trip {i}: {e}"))
    };
    // One untimed round trip: the child has started and is waiting.
    round_trip(0)?;
    let start = Instant::now();
    for i in 1..=n {
        round_trip(i)?;
    }
    let took = start.elapsed();
    drop(to);
    let status = child.wait().map_err(|e| format!("waiting for pong: {e}"))?;
    if !status.success() {
        return Err(format!("the pong child ended with {status}"));
    }
    println!(
        "op=pingpong n={n} ns_per_op={:.1}",
        took.as_nanos() as f64 / n as f64
    );
    Ok(())
}

/// The child of [`pingpong`]: answers every byte on stdin with one on stdout, until EOF.
fn pong() -> Result<()> {
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Ok(()),
            Ok(_) => output
                .write_all(&byte)
                .and_then(|()| output.flush())
                .map_err(|e| format!("pong: {e}"))?,
            Err(e) => return Err(format!("pong: {e}")),
        }
    }
}
