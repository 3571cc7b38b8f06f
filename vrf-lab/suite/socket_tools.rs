//! The vrf-socket examples on real VRFs, run as programs in the router namespace:
//! - `multi_vrf_echo`: one unbound UDP socket with pktinfo answers both peers, each through its own VRF,
//!   although both VRFs own the same addresses;
//! - `tcp_connect` under strace: a VRF connect costs exactly two system calls more than a plain one, the
//!   `setsockopt(SO_BINDTOIFINDEX)` and its check, `getsockopt(SO_BINDTODEVICE)`;
//! - `tokio_hello`: async listeners in both VRFs on one port, each telling its clients their VRF, and an
//!   async client that reaches each VRF's own peer at the same address.
//!
//! The examples are built by `cargo test --workspace` (or `cargo build --workspace --examples`) next to
//! this test binary, in `target/<profile>/examples/`; [`vrf_lab::example`] finds them.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use vrf_lab::cmd::{self, Run};
use vrf_lab::netns;
use vrf_lab::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Topology};

vrf_lab::lab_tests! {
    multi_vrf_echo_answers_each_peer_in_its_vrf_v4 = || multi_vrf_echo_answers_each_peer_in_its_vrf(V4),
    multi_vrf_echo_answers_each_peer_in_its_vrf_v6 = || multi_vrf_echo_answers_each_peer_in_its_vrf(V6),
    vrf_connect_costs_two_syscalls_more_v4 = || vrf_connect_costs_two_syscalls_more(V4),
    vrf_connect_costs_two_syscalls_more_v6 = || vrf_connect_costs_two_syscalls_more(V6),
    tokio_hello_in_each_vrf_v4 = || tokio_hello_in_each_vrf(V4),
    tokio_hello_in_each_vrf_v6 = || tokio_hello_in_each_vrf(V6),
}

/// One IP family of the topology.
#[derive(Debug, Clone, Copy)]
struct Fam {
    v6: bool,
}

const V4: Fam = Fam { v6: false };
const V6: Fam = Fam { v6: true };

impl Fam {
    fn ip(self, v4: &str, v6: &str) -> IpAddr {
        if self.v6 { v6 } else { v4 }.parse().expect("address")
    }
    fn router(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(ROUTER_V4, ROUTER_V6), port)
    }
    fn peer(self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(PEER_V4, PEER_V6), port)
    }
    fn any(self, port: u16) -> SocketAddr {
        let ip: IpAddr = if self.v6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        SocketAddr::new(ip, port)
    }
    fn loopback(self, port: u16) -> SocketAddr {
        let ip: IpAddr = if self.v6 {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, port)
    }
}

const PORT: u16 = 7007;
const WAIT: Duration = Duration::from_secs(5);

/// A child process that is killed and reaped when dropped, so a failing test leaves nothing running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `timeout` for `child` to exit on its own.
fn wait_exit(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- multi_vrf_echo --------------------------------------------------------------------------------

/// Datagrams each peer sends.
const PER_PEER: usize = 10;

fn multi_vrf_echo_answers_each_peer_in_its_vrf(fam: Fam) -> Result<()> {
    let t = Topology::new()?;
    let echo = multi_vrf_echo(&t, fam.router(PORT), PER_PEER, |i| format!("hello {i}"))?;
    let listening = format!("listening on {}", fam.any(PORT));
    ensure!(
        echo.startup.contains(&listening) && echo.startup.contains("net.ipv4.udp_l3mdev_accept=1"),
        "startup line: {:?}",
        echo.startup
    );
    ensure!(echo.rest.is_empty(), "unexpected messages: {:?}", echo.rest);

    // With the sysctl off it warns that VRF traffic will not arrive (--count 0: exit at once).
    let exe = vrf_lab::example("multi_vrf_echo")?;
    t.router_sysctl("net.ipv4.udp_l3mdev_accept", "0")?;
    let off = cmd::run(&mut t.router_cmd(
        exe.to_str().context("example path is not UTF-8")?,
        &["--port", "0", "--count", "0"],
    ))?
    .ok()?;
    ensure!(
        off.stderr.contains("warning: udp_l3mdev_accept is 0"),
        "{}",
        off.describe("gave no warning")
    );
    Ok(())
}

/// What [`multi_vrf_echo`] printed on stderr.
#[derive(Debug)]
struct EchoRun {
    /// The line it prints once its socket is bound.
    pub startup: String,
    /// Every line after it.
    pub rest: Vec<String>,
}

/// Runs the `multi_vrf_echo` example in the router namespace of `t` with `udp_l3mdev_accept=1`: one
/// unbound UDP socket with pktinfo, listening on `to`'s port (`--v6` for an IPv6 `to`), that answers
/// `2 × per_peer` datagrams (`--count`) in batches and exits. Once it says it listens, each peer sends
/// it `per_peer` datagrams `message(0)`, `message(1)` … to `to` at once, and must get back exactly
/// `"<its VRF> <message>"` for each (in any order): both peers have the same address, and so have both
/// VRFs of the router, so an answer sent through the wrong VRF reaches the wrong peer. Then the example
/// must exit 0.
fn multi_vrf_echo(
    t: &Topology,
    to: SocketAddr,
    per_peer: usize,
    message: fn(usize) -> String,
) -> Result<EchoRun> {
    let exe = vrf_lab::example("multi_vrf_echo")?;
    let exe = exe.to_str().context("example path is not UTF-8")?;
    t.router_sysctl("net.ipv4.udp_l3mdev_accept", "1")?;
    let mut args = vec![
        "--port".to_string(),
        to.port().to_string(),
        "--count".into(),
        (2 * per_peer).to_string(),
    ];
    if to.is_ipv6() {
        args.push("--v6".into());
    }
    let mut cmd = t.router_cmd(exe, &args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = Reaped(
        cmd.spawn()
            .with_context(|| format!("starting `{}`", cmd::line_of(&cmd)))?,
    );
    // The server prints its startup line once its socket is bound: then the peers may send.
    let stderr = child.0.stderr.take().context("no stderr pipe")?;
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let startup = lines
        .recv_timeout(WAIT)
        .context("multi_vrf_echo printed no startup line")?;

    let peers: Vec<_> = t
        .sites()
        .into_iter()
        .map(|site| {
            let (ns, vrf) = (site.peer_ns.clone(), site.vrf.clone());
            std::thread::spawn(move || -> Result<(String, Vec<String>)> {
                netns::enter(&ns)?;
                let any: IpAddr = if to.is_ipv6() {
                    Ipv6Addr::UNSPECIFIED.into()
                } else {
                    Ipv4Addr::UNSPECIFIED.into()
                };
                let sock = UdpSocket::bind(SocketAddr::new(any, 0))?;
                sock.set_read_timeout(Some(WAIT))?;
                sock.connect(to)?;
                for i in 0..per_peer {
                    sock.send(message(i).as_bytes())?;
                }
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                while got.len() < per_peer {
                    let n = sock.recv(&mut buf).with_context(|| {
                        format!(
                            "peer of {vrf} waiting for reply {} of {per_peer}",
                            got.len() + 1
                        )
                    })?;
                    got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Ok((vrf, got))
            })
        })
        .collect();
    for p in peers {
        let (vrf, mut got) = p.join().map_err(|_| anyhow!("peer thread panicked"))??;
        let mut want: Vec<String> = (0..per_peer)
            .map(|i| format!("{vrf} {}", message(i)))
            .collect();
        got.sort();
        want.sort();
        ensure!(got == want, "the peer of {vrf} got {got:?}");
    }

    let status = wait_exit(&mut child.0, WAIT).context("multi_vrf_echo --count")?;
    let _ = reader.join();
    let rest: Vec<String> = lines.try_iter().collect();
    ensure!(
        status.success(),
        "multi_vrf_echo exited with {status}: {rest:?}"
    );
    Ok(EchoRun { startup, rest })
}

// --- tcp_connect under strace ----------------------------------------------------------------------

/// One traced run of `tcp_connect`: how it went, and the system calls between its two markers.
#[derive(Debug)]
struct Traced {
    run: Run,
    calls: Vec<String>,
}

impl Traced {
    fn names(&self) -> Vec<&str> {
        self.calls.iter().map(|c| syscall_name(c)).collect()
    }

    fn listing(&self, what: &str) -> String {
        format!(
            "{what}: {} system calls\n    {}",
            self.calls.len(),
            self.calls.join("\n    ")
        )
    }
}

static TRACE_ID: AtomicU32 = AtomicU32::new(0);

/// Runs `tcp_connect args…` under `strace -f` in the router namespace.
fn trace_connect(t: &Topology, exe: &str, args: &[&str]) -> Result<Traced> {
    let file = std::env::temp_dir().join(format!(
        "vrf-lab-strace-{}-{}.txt",
        std::process::id(),
        TRACE_ID.fetch_add(1, Ordering::Relaxed)
    ));
    let file_arg = file.to_str().context("temp path is not UTF-8")?;
    let mut strace = vec!["-f", "-qq", "-o", file_arg, exe];
    strace.extend_from_slice(args);
    let run = cmd::run(&mut t.router_cmd("strace", &strace))?;
    let trace = std::fs::read_to_string(&file)
        .with_context(|| format!("{}\nleft no trace", run.describe("ran")))?;
    let _ = std::fs::remove_file(&file);
    let calls = between_markers(&trace)
        .with_context(|| format!("{}\ntrace:\n{trace}", run.describe("ran")))?;
    Ok(Traced { run, calls })
}

/// The system calls strictly between the `write(2)` of `connect-start` and the one of `connect-done`.
fn between_markers(trace: &str) -> Result<Vec<String>> {
    let lines: Vec<&str> = trace
        .lines()
        .map(strip_pid)
        // Signals (`--- SIGCHLD …`) and exits (`+++ exited …`) are not system calls.
        .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
        .collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(r#"write(2, "connect-start\n""#))
        .context("no write of connect-start in the trace")?;
    let done = lines[start..]
        .iter()
        .position(|l| l.starts_with(r#"write(2, "connect-done\n""#))
        .context("no write of connect-done after connect-start")?;
    Ok(lines[start + 1..start + done]
        .iter()
        .map(|l| l.to_string())
        .collect())
}

/// `strace -f` starts each line with the pid: `1234 socket(…) = 3` becomes `socket(…) = 3`.
fn strip_pid(line: &str) -> &str {
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() < line.len() && rest.starts_with(' ') {
        rest.trim_start()
    } else {
        line
    }
}

fn syscall_name(call: &str) -> &str {
    call.split('(').next().unwrap_or(call)
}

/// The binding to the VRF: `SO_BINDTOIFINDEX`, and the read-back by name that checks the device is
/// still there.
fn is_vrf_binding(call: &str) -> bool {
    (call.starts_with("setsockopt(") && call.contains("SOL_SOCKET, SO_BINDTOIFINDEX,"))
        || (call.starts_with("getsockopt(") && call.contains("SOL_SOCKET, SO_BINDTODEVICE,"))
}

/// `tcp_connect --vrf` to the blue peer against `tcp_connect --plain` to a listener in the router's default
/// VRF (loopback): both connects succeed, and the VRF one has exactly two more system calls, the
/// `SO_BINDTOIFINDEX` and the `SO_BINDTODEVICE` read-back that checks it. A plain connect to the peer itself fails (the default VRF has no route), and a
/// failed std connect also closes its socket before returning, so it is no baseline: it is checked apart.
fn vrf_connect_costs_two_syscalls_more(fam: Fam) -> Result<()> {
    let exe = vrf_lab::example("tcp_connect")?;
    let exe = exe.to_str().context("example path is not UTF-8")?;
    ensure!(
        cmd::which("strace").is_some(),
        "strace not found in PATH: apt-get install strace (or run scripts/install-deps.sh)"
    );
    let t = Topology::new()?;
    let who = format!("peer-of-{}", t.blue.vrf);
    let answer = who.clone();
    let _peer = netns::tcp_server(
        &t.blue.peer_ns,
        move || Ok(TcpListener::bind(fam.any(PORT))?),
        move |mut conn, _| {
            let _ = conn.write_all(answer.as_bytes());
        },
    )?;
    let _local = netns::tcp_server(
        &t.router_ns,
        move || Ok(TcpListener::bind(fam.loopback(PORT))?),
        |mut conn, _| {
            let _ = conn.write_all(b"router-default");
        },
    )?;
    let peer = fam.peer(PORT).to_string();
    let local = fam.loopback(PORT).to_string();

    let vrf = trace_connect(&t, exe, &["--vrf", &t.blue.vrf, &peer])?;
    ensure!(
        vrf.run.success() && vrf.run.stdout == who,
        "{}",
        vrf.run.describe("did not reach the blue peer")
    );
    let plain = trace_connect(&t, exe, &["--plain", &local])?;
    ensure!(
        plain.run.success() && plain.run.stdout == "router-default",
        "{}",
        plain
            .run
            .describe("did not reach the router's loopback listener")
    );
    let extra: Vec<&String> = vrf.calls.iter().filter(|c| is_vrf_binding(c)).collect();
    let vrf_rest: Vec<&str> = vrf
        .calls
        .iter()
        .filter(|c| !is_vrf_binding(c))
        .map(|c| syscall_name(c))
        .collect();
    ensure!(
        vrf.calls.len() == plain.calls.len() + 2 && extra.len() == 2 && vrf_rest == plain.names(),
        "expected the VRF connect to cost the plain one's system calls plus \
         setsockopt(SOL_SOCKET, SO_BINDTOIFINDEX) and getsockopt(SOL_SOCKET, SO_BINDTODEVICE)\n{}\n{}",
        vrf.listing("VRF connect"),
        plain.listing("plain connect")
    );

    // From the default VRF the peer's address has no route.
    let unreachable = trace_connect(&t, exe, &["--plain", &peer])?;
    let refused = unreachable.calls.iter().any(|c| {
        c.starts_with("connect(") && (c.contains("ENETUNREACH") || c.contains("EHOSTUNREACH"))
    });
    let mut closed = plain.names();
    closed.push("close");
    ensure!(
        !unreachable.run.success() && refused && unreachable.names() == closed,
        "expected a plain connect to the peer to fail with no route (socket, connect, close)\n{}\n{}",
        unreachable.listing("plain connect to the peer"),
        unreachable.run.describe("ran")
    );
    Ok(())
}

// --- tokio_hello -----------------------------------------------------------------------------------

/// `tokio_hello serve` in the router with one listener per VRF on the same port: each peer (both have the
/// same address) connects to the router's address and is told its own VRF, which the server learnt from
/// `bound_vrf` on the accepted tokio stream. Then `tokio_hello get VRF PEER PORT` in the router reaches
/// each VRF's own peer, whose server answers with its VRF's name.
fn tokio_hello_in_each_vrf(fam: Fam) -> Result<()> {
    let exe = vrf_lab::example("tokio_hello")?;
    let exe = exe.to_str().context("example path is not UTF-8")?;
    let t = Topology::new()?;
    let port = PORT.to_string();
    let mut cmd = t.router_cmd(exe, &["serve", port.as_str(), &t.blue.vrf, &t.red.vrf]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Reaped(
        cmd.spawn()
            .with_context(|| format!("starting `{}`", cmd::line_of(&cmd)))?,
    );
    let stdout = child.0.stdout.take().context("no stdout pipe")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut listening = Vec::new();
    while listening.len() < 2 {
        match lines.recv_timeout(WAIT) {
            Ok(line) => listening.push(line),
            Err(_) => {
                let _ = child.0.kill();
                let mut err = String::new();
                if let Some(mut e) = child.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                bail!("tokio_hello serve printed {listening:?} within {WAIT:?}; stderr: {err}");
            }
        }
    }
    for site in t.sites() {
        let want = format!("listening on port {PORT} in VRF {}", site.vrf);
        ensure!(listening.contains(&want), "no {want:?} in {listening:?}");
    }

    for site in t.sites() {
        let to = fam.router(PORT);
        let reply = netns::run_in(&site.peer_ns, move || {
            let mut conn = std::net::TcpStream::connect_timeout(&to, WAIT)?;
            conn.set_read_timeout(Some(WAIT))?;
            let mut reply = String::new();
            std::io::Read::read_to_string(&mut conn, &mut reply)?;
            Ok(reply)
        })
        .with_context(|| format!("the peer of {} connecting to {to}", site.vrf))?;
        let want = format!(", this is VRF {}\n", site.vrf);
        ensure!(
            reply.starts_with("hello ")
                && reply.contains(&fam.ip(PEER_V4, PEER_V6).to_string())
                && reply.ends_with(&want),
            "the peer of {} got {reply:?}, expected a greeting from VRF {}",
            site.vrf,
            site.vrf
        );
    }

    let peer_port = PORT + 1;
    let mut servers = Vec::new();
    for site in t.sites() {
        let answer = format!("peer of {}", site.vrf);
        servers.push(netns::tcp_server(
            &site.peer_ns,
            move || Ok(TcpListener::bind(fam.any(peer_port))?),
            move |mut conn, _| {
                let _ = conn.write_all(answer.as_bytes());
            },
        )?);
    }
    let peer = fam.ip(PEER_V4, PEER_V6).to_string();
    let peer_port = peer_port.to_string();
    for site in t.sites() {
        let got = cmd::run(&mut t.router_cmd(exe, &["get", &site.vrf, &peer, &peer_port]))?;
        ensure!(
            got.success() && got.stdout == format!("peer of {}", site.vrf),
            "{}",
            got.describe(&format!("did not reach the peer of {}", site.vrf))
        );
    }
    Ok(())
}
