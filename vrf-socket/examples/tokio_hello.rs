//! Async (tokio) VRF sockets: a TCP server that listens in several VRFs on the same port, and a client
//! that resolves a name inside a VRF and connects to it.
//!
//! ```text
//! tokio_hello serve PORT VRF...     # one listener per VRF, all on PORT, on one thread
//! tokio_hello get VRF HOST PORT     # HOST resolved with the VRF's name servers; prints what the server sends
//! ```
//!
//! The `tokio` feature of vrf-socket brings no runtime of its own: an application adds tokio itself with
//! the features it runs on (here `rt` and `macros` for `#[tokio::main(flavor = "current_thread")]`).
//! The listeners come from [`vrf_socket::tokio::listen`], bound to their VRF before `bind(2)`, so the
//! same address and port can be used once per VRF. Each accepted connection is asked which VRF it is in
//! with [`vrf_socket::bound_vrf`], which takes any socket with a file descriptor, tokio's included: the
//! kernel binds an accepted socket to the device of its listener.
//!
//! `get` uses [`vrf_socket::tokio::connect_host`] (feature `dns`): the name is resolved by the VRF's
//! own name servers (`/etc/vrf/VRF/resolv.conf`, else `/etc/resolv.conf`) over sockets bound to the VRF,
//! and every address is tried, happy-eyeballs style, through the VRF only.

use std::error::Error;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vrf_socket::{ConnectOptions, Vrf};

const USAGE: &str = "usage: tokio_hello serve PORT VRF... | tokio_hello get VRF HOST PORT";

/// How long `get` waits for the connection and for the server's data.
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", port, ref vrfs @ ..] if !vrfs.is_empty() => match port.parse() {
            Ok(port) => serve(port, vrfs).await,
            Err(_) => Err(format!("{port:?} is not a port number").into()),
        },
        ["get", vrf, host, port] => match port.parse() {
            Ok(port) => get(vrf, host, port).await,
            Err(_) => Err(format!("{port:?} is not a port number").into()),
        },
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_hello: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One listener per VRF on `[::]:port` (IPv4 clients arrive as mapped addresses), each accepting on its
/// own task; every client is told which VRF it came through.
async fn serve(port: u16, vrfs: &[&str]) -> Result<(), Box<dyn Error>> {
    let mut tasks = tokio::task::JoinSet::new();
    for name in vrfs {
        let vrf = Vrf::up_by_name(name)?;
        let listener =
            vrf_socket::tokio::listen(&vrf, SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))?;
        println!("listening on port {port} in VRF {vrf}");
        tasks.spawn(async move {
            loop {
                let (mut conn, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                // The accepted socket is bound to the listener's device: its VRF.
                let answer = match vrf_socket::bound_vrf(&conn) {
                    Ok(Some(vrf)) => format!("hello {peer}, this is VRF {vrf}\n"),
                    Ok(None) => format!("hello {peer}, this is the default VRF\n"),
                    Err(e) => format!("hello {peer}, I cannot tell my VRF: {e}\n"),
                };
                tokio::spawn(async move {
                    // A client that goes away early is not the server's problem.
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
    }
    // Listeners run until one fails.
    match tasks.join_next().await {
        Some(Ok(e)) => Err(format!("accepting: {e}").into()),
        Some(Err(e)) => Err(e.into()),
        None => Ok(()),
    }
}

/// Resolves `host` in `vrf`, connects, prints the first bytes the server sends.
async fn get(vrf: &str, host: &str, port: u16) -> Result<(), Box<dyn Error>> {
    let vrf = Vrf::up_by_name(vrf)?;
    let opts = ConnectOptions::default().timeout(TIMEOUT);
    let mut conn = vrf_socket::tokio::connect_host(&vrf, host, port, &opts).await?;
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(TIMEOUT, conn.read(&mut buf))
        .await
        .map_err(|_| {
            format!("no data from {host} port {port} in VRF {vrf} within {TIMEOUT:?}")
        })??;
    print!("{}", String::from_utf8_lossy(&buf[..n]));
    Ok(())
}
