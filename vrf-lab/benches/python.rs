//! The Python package against what a Python user writes without it, in the same lab run: connect
//! (`vrf.create_connection` vs a socket with `SO_BINDTODEVICE` set by hand) and name lookup
//! (`vrf.getaddrinfo` vs glibc's `socket.getaddrinfo` under `ip vrf exec`). Only the ratios mean
//! anything (under qemu TCG every number is slow).
//!
//! ```text
//! scripts/build-wheel.sh && cargo bench -p vrf-lab --bench python   # VRF_BENCH_N: operations per round (default 200)
//! ```
//!
//! This sets the lab up (a topology, an HTTP server and a dnsmasq answering every `*.bench.lab` name in
//! blue's peer, blue's resolv.conf for both sides: `/etc/vrf/BLUE/resolv.conf` for vrf_socket and, for
//! glibc under `ip netns exec`, `/etc/netns/ROUTER/resolv.conf`), unpacks the wheel of
//! `scripts/build-wheel.sh`, and runs `vrf-socket-py/bench/bench.py` in the router namespace with
//! Debian's python3; that script measures, interleaving 7 rounds, and prints the ratios.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::http::http_server;
use vrf_lab::{PEER_V4, TempDir, Topology, cmd};

const ROUNDS: usize = 7;

fn main() -> Result<()> {
    if !vrf_lab::bench::start("python")? {
        return Ok(());
    }
    let n: usize = vrf_lab::bench::env_number("VRF_BENCH_N", 200, 1..=100_000)?;
    let t = Topology::new()?;
    let dir = TempDir::new("vrf-py-bench")?;
    vrf_lab::python::unpack_wheel(&vrf_lab::python::wheel()?, &dir.join("site"))?;
    let _http = http_server(&t.blue.peer_ns, "[::]:80".parse()?, "blue", None)?;
    let _dns = Dnsmasq::builder(&t.blue.peer_ns)
        .log_queries(false)
        .zone("lab")
        .address("bench.lab", "10.99.1.1")
        .address("bench.lab", "fd00:1::1")
        .start()?;
    let conf = format!("nameserver {PEER_V4}\n");
    let _confs = [
        Written::new(PathBuf::from(format!("/etc/vrf/{}", t.blue.vrf)), &conf)?,
        Written::new(PathBuf::from(format!("/etc/netns/{}", t.router_ns)), &conf)?,
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vrf-socket-py/bench/bench.py");
    let n = n.to_string();
    let rounds = ROUNDS.to_string();
    let mut c = t.router_cmd(
        "/usr/bin/python3",
        &[
            script.as_os_str(),
            t.blue.vrf.as_ref(),
            n.as_ref(),
            rounds.as_ref(),
        ],
    );
    c.env("PYTHONPATH", dir.join("site"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let r = cmd::run(&mut c)?;
    ensure!(r.success(), "{}", r.describe("bench.py"));
    let report = format!("{}\n{}", vrf_lab::bench::machine(), r.stdout);
    print!("{report}");
    let saved = vrf_lab::bench::save("python", &report)?;
    eprintln!("python: saved {}", saved.display());
    Ok(())
}

/// A `resolv.conf` in directory `dir`, which is removed on drop.
struct Written(PathBuf);

impl Written {
    fn new(dir: PathBuf, conf: &str) -> Result<Written> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("resolv.conf"), conf)?;
        Ok(Written(dir))
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
