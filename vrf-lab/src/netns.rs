//! Running code inside a network namespace from a test: a thread that `setns()`es into it.
//!
//! Network namespaces are per thread: a thread that joins one creates its sockets (and netlink queries)
//! there, while the rest of the process stays put. Sockets keep the namespace they were made in.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use nix::sched::{CloneFlags, setns};

/// Moves the calling thread into network namespace `ns` (made by `ip netns add`).
pub fn enter(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let f = File::open(&path).with_context(|| format!("opening {path}"))?;
    setns(f, CloneFlags::CLONE_NEWNET).with_context(|| format!("setns into {ns}"))?;
    Ok(())
}

/// Runs `f` on a new thread inside namespace `ns` and returns what it returns.
pub fn run_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns)?;
        f()
    })
    .join()
    .map_err(|_| anyhow!("thread in netns panicked"))?
}

/// A server thread in a namespace; dropping it stops the thread.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const POLL: Duration = Duration::from_millis(5);

/// Starts a server thread in namespace `ns`: `make` creates its socket there, `ready` prepares it and
/// says its address, then `step` runs over and over (it must return within a few milliseconds) until the
/// [`Server`] is dropped.
fn spawn_server<S: 'static>(
    ns: &str,
    make: impl FnOnce() -> Result<S> + Send + 'static,
    ready: impl FnOnce(&S) -> std::io::Result<SocketAddr> + Send + 'static,
    mut step: impl FnMut(&S) + Send + 'static,
) -> Result<Server> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let ns = ns.to_string();
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let socket = match enter(&ns).and_then(|()| make()) {
            Ok(s) => s,
            Err(e) => return drop(tx.send(Err(e))),
        };
        let _ = tx.send(ready(&socket).map_err(Into::into));
        while !stop2.load(Ordering::Relaxed) {
            step(&socket);
        }
    });
    let addr = rx.recv().map_err(|_| anyhow!("server thread died"))??;
    Ok(Server {
        addr,
        stop,
        thread: Some(thread),
    })
}

/// Starts a TCP server in namespace `ns`: `make` creates its listener there (so it may bind it to a VRF);
/// each connection is handed to `serve`.
pub fn tcp_server(
    ns: &str,
    make: impl FnOnce() -> Result<TcpListener> + Send + 'static,
    serve: impl Fn(std::net::TcpStream, SocketAddr) + Send + 'static,
) -> Result<Server> {
    spawn_server(
        ns,
        make,
        |l| {
            l.set_nonblocking(true)?;
            l.local_addr()
        },
        move |l| match l.accept() {
            Ok((conn, peer)) => {
                let _ = conn.set_nonblocking(false);
                serve(conn, peer);
            }
            Err(_) => std::thread::sleep(POLL),
        },
    )
}

/// Starts a UDP server in namespace `ns`: `make` creates its socket there (read timeout set to a few
/// milliseconds), then `serve` is called over and over to receive and answer, until the server is dropped.
pub fn udp_server(
    ns: &str,
    make: impl FnOnce() -> Result<UdpSocket> + Send + 'static,
    serve: impl FnMut(&UdpSocket) + Send + 'static,
) -> Result<Server> {
    spawn_server(
        ns,
        make,
        |s| {
            s.set_read_timeout(Some(POLL * 4))?;
            s.local_addr()
        },
        serve,
    )
}
