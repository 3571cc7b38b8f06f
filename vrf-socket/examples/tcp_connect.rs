//! Connects over TCP through a VRF, or plainly, and prints what the server sends.
//!
//! ```text
//! tcp_connect --vrf NAME ADDR:PORT
//! tcp_connect --plain ADDR:PORT
//! ```
//!
//! With `--vrf` the connection comes from [`Vrf::tcp_connect`]: `socket(2)`, then
//! `setsockopt(SO_BINDTOIFINDEX)` to the VRF device, then `connect(2)`, so the kernel routes it with the
//! VRF's table and the handshake goes out through a device of the VRF. With `--plain` it comes from std's
//! `TcpStream::connect`: `socket(2)` and `connect(2)`, routed by the main table (the default VRF).
//!
//! The VRF is looked up (over rtnetlink) before the connect. The connect itself is framed by two lines on
//! stderr, `connect-start` and `connect-done`, each a single `write(2)` (stderr is unbuffered), so a trace
//! (`strace -f`) shows exactly the system calls the connect costs: one more with `--vrf`.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use vrf_socket::Vrf;

const USAGE: &str = "usage: tcp_connect --vrf NAME ADDR:PORT | tcp_connect --plain ADDR:PORT";

/// How long to wait for the server's data once connected.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn parse_args() -> Result<(Option<String>, SocketAddr), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (vrf, addr) = match args.as_slice() {
        [flag, name, addr] if flag == "--vrf" => (Some(name.clone()), addr),
        [flag, addr] if flag == "--plain" => (None, addr),
        _ => return Err(USAGE.into()),
    };
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDR:PORT (e.g. 10.99.0.2:80, [fd00::2]:80)"))?;
    Ok((vrf, addr))
}

/// Exit status 0: connected and read; 1: lookup, connect or read failed; 2: bad arguments.
fn main() -> ExitCode {
    match parse_args() {
        Err(e) => {
            eprintln!("tcp_connect: {e}");
            ExitCode::from(2)
        }
        Ok((vrf, addr)) => match run(vrf.as_deref(), addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tcp_connect: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(vrf: Option<&str>, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let vrf = vrf.map(Vrf::by_name).transpose()?;
    let mut stderr = std::io::stderr();
    stderr.write_all(b"connect-start\n")?;
    let conn = match &vrf {
        Some(vrf) => vrf.tcp_connect(addr),
        None => TcpStream::connect(addr),
    };
    stderr.write_all(b"connect-done\n")?;
    let mut conn = conn.map_err(|e| match &vrf {
        Some(vrf) => format!("connecting to {addr} in VRF {vrf}: {e}"),
        None => format!("connecting to {addr}: {e}"),
    })?;
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut data = Vec::new();
    conn.read_to_end(&mut data)?;
    std::io::stdout().write_all(&data)?;
    Ok(())
}
