//! vrf-exec on real VRFs, with programs nobody here wrote: curl, socat, python3, iputils ping and
//! `sh -c` with children must reach the peer behind their VRF (both VRFs use the same addresses), and
//! interoperate with iproute2's `ip vrf exec/identify/pids`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vrf_lab::cmd::{self, Run, spawn_ready};
use vrf_lab::netns::{self, Server};
use vrf_lab::{PEER_V4, Site, Topology};

vrf_lab::lab_tests! {
    #[timeout(600)]
    unmodified_programs_reach_their_own_peer,
    identify_and_pids_interoperate_with_iproute2,
    #[timeout(600)]
    hundred_concurrent_launches_into_ten_vrfs,
    vrf_deleted_while_running_never_falls_back,
    privilege_drop_cannot_leave_the_vrf,
    errors_and_exit_codes,
    hook_is_reused_including_iproute2s,
    per_vrf_resolv_conf,
    list_and_check,
}

const HTTP_PORT: u16 = 8080;

/// A tiny HTTP server in `site`'s peer namespace, on both families, that answers `peer-of-<vrf>`.
fn peer_http_server(site: &Site) -> Result<Server> {
    let body = peer_body(site);
    netns::tcp_server(
        &site.peer_ns,
        || {
            let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
            s.set_only_v6(false)?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from(([0u16; 8], HTTP_PORT)).into())?;
            s.listen(128)?;
            Ok(TcpListener::from(s))
        },
        move |conn, _| {
            let body = body.clone();
            // One thread per connection: a hundred clients at once must not wait on each other.
            std::thread::spawn(move || serve_http(conn, &body));
        },
    )
}

/// Reads the request (a client such as socat may send none and just close its side), answers, then
/// drains what is left before closing so that unread input does not turn the close into a reset.
fn serve_http(mut conn: std::net::TcpStream, body: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
        if req.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
}

fn peer_body(site: &Site) -> String {
    format!("peer-of-{}", site.vrf)
}

fn vrf_exec() -> Result<std::path::PathBuf> {
    vrf_lab::tool("vrf-exec")
}

/// `vrf-exec args…` in the router namespace.
fn run_vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_exec()?;
    cmd::run(&mut t.router_cmd(exe.to_str().unwrap(), args))
}

fn ensure_out(r: &Run, want: &str) -> Result<()> {
    ensure!(
        r.success() && r.stdout.trim() == want,
        "{}\nexpected stdout {want:?}",
        r.describe("gave the wrong answer")
    );
    Ok(())
}

fn unmodified_programs_reach_their_own_peer() -> Result<()> {
    let t = Topology::new()?;
    let _servers = [peer_http_server(&t.blue)?, peer_http_server(&t.red)?];
    let url4 = format!("http://{PEER_V4}:{HTTP_PORT}/");
    let url6 = format!("http://[fd00:99::2]:{HTTP_PORT}/");
    let py = format!(
        "import socket; s = socket.create_connection(('{PEER_V4}', {HTTP_PORT})); \
         s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); data = b''.join(iter(lambda: s.recv(4096), b'')); \
         print(data.decode().split('\\r\\n\\r\\n', 1)[1])"
    );
    let shell = format!("curl -s {url4} & wait; echo; sh -c 'curl -s -g {url6}'; echo");
    for s in t.sites() {
        let body = peer_body(s);
        let v = s.vrf.as_str();
        ensure_out(&run_vrf_exec(&t, &[v, "curl", "-s", &url4])?, &body).context("curl, IPv4")?;
        ensure_out(&run_vrf_exec(&t, &[v, "curl", "-s", "-g", &url6])?, &body)
            .context("curl, IPv6")?;
        let socat = run_vrf_exec(
            &t,
            &[
                v,
                "socat",
                "-T",
                "2",
                "-",
                &format!("TCP:{PEER_V4}:{HTTP_PORT}"),
            ],
        )?;
        ensure!(
            socat.stdout.ends_with(&body),
            "{}",
            socat.describe("socat reached the wrong peer")
        );
        ensure_out(
            &run_vrf_exec(&t, &[v, "/usr/bin/python3", "-c", &py])?,
            &body,
        )
        .context("python3")?;
        let kids = run_vrf_exec(&t, &[v, "sh", "-c", &shell])?;
        ensure!(
            kids.success() && kids.stdout.lines().filter(|l| *l == body).count() == 2,
            "{}",
            kids.describe("sh -c children")
        );
        for dst in [PEER_V4, "fd00:99::2"] {
            let p = run_vrf_exec(&t, &[v, "ping", "-c", "1", "-W", "2", dst])?;
            let ttl = format!("ttl={} ", s.peer_ttl);
            ensure!(
                p.success() && p.stdout.contains(&ttl),
                "{}\nexpected {ttl}",
                p.describe("iputils ping")
            );
        }
    }
    // Without vrf-exec, the same programs reach nothing.
    let r = t.router_run("curl", &["-s", "-m", "2", &url4])?;
    ensure!(
        !r.success(),
        "{}",
        r.describe("curl from the default VRF reached a peer")
    );
    Ok(())
}

fn identify_and_pids_interoperate_with_iproute2() -> Result<()> {
    let t = Topology::new()?;
    let exe = vrf_exec()?;
    let exe = exe.to_str().unwrap();
    for s in t.sites() {
        let v = s.vrf.as_str();
        ensure_out(&run_vrf_exec(&t, &[v, "ip", "vrf", "identify"])?, v)
            .context("ip vrf identify under vrf-exec")?;
        ensure_out(
            &t.router_run("ip", &["vrf", "exec", v, exe, "identify"])?,
            v,
        )
        .context("vrf-exec identify under ip vrf exec")?;
        ensure_out(&run_vrf_exec(&t, &[v, exe, "identify"])?, v)?;
    }
    ensure_out(&run_vrf_exec(&t, &["identify"])?, "").context("outside any VRF")?;
    // A process started by each tool, seen by the other's `pids`.
    let blue = t.blue.vrf.clone();
    let wait = "echo ready; exec sleep 30";
    let mut ours = spawn_ready(t.router_cmd(exe, &[blue.as_str(), "sh", "-c", wait]))?;
    let mut theirs =
        spawn_ready(t.router_cmd("ip", &["vrf", "exec", blue.as_str(), "sh", "-c", wait]))?;
    let json = run_vrf_exec(&t, &["identify", "--json", &ours.id().to_string()])?;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).context("identify --json")?;
    ensure!(
        v["pid"] == ours.id() && v["vrf"] == blue.as_str() && v["how"] == "cgroup",
        "{}",
        json.describe("identify --json")
    );
    let ip_pids = t.router_run("ip", &["vrf", "pids", &blue])?.ok()?;
    let our_pids = run_vrf_exec(&t, &["pids", &blue])?.ok()?;
    let _ = (ours.kill(), theirs.kill(), ours.wait(), theirs.wait());
    for (who, out) in [
        ("ip vrf pids", &ip_pids.stdout),
        ("vrf-exec pids", &our_pids.stdout),
    ] {
        for pid in [ours.id(), theirs.id()] {
            ensure!(
                out.split_whitespace().any(|w| w == pid.to_string()),
                "{who} lacks pid {pid}:\n{out}"
            );
        }
    }
    Ok(())
}

fn hundred_concurrent_launches_into_ten_vrfs() -> Result<()> {
    let t = Topology::new()?;
    let _servers = [peer_http_server(&t.blue)?, peer_http_server(&t.red)?];
    // Eight more VRFs (no links needed to identify them), made by one `ip -batch`.
    let mut vrfs: Vec<String> = vec![t.blue.vrf.clone(), t.red.vrf.clone()];
    let mut make = Vec::new();
    for i in 0..8 {
        let name = format!("x{i}{}", &t.blue.vrf[4..]);
        let name = name[..name.len().min(15)].to_string();
        make.push(format!("link add {name} type vrf table {}", 100 + i));
        make.push(format!("link set {name} up"));
        vrfs.push(name);
    }
    vrf_lab::topology::ip_batch(Some(&t.router_ns), &make)?;
    let exe = vrf_exec()?;
    let url = format!("http://{PEER_V4}:{HTTP_PORT}/");
    let mut children = Vec::new();
    for i in 0..100 {
        let v = &vrfs[i % vrfs.len()];
        let mut c = if i % 10 < 2 {
            t.router_cmd(
                exe.to_str().unwrap(),
                &[v.as_str(), "curl", "-s", "-m", "10", &url],
            )
        } else {
            t.router_cmd(
                exe.to_str().unwrap(),
                &[v.as_str(), "ip", "vrf", "identify"],
            )
        };
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        children.push((v.clone(), i % 10 < 2, c.spawn()?));
    }
    let mut wrong = Vec::new();
    for (v, curl, child) in children {
        let out = child.wait_with_output()?;
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = if curl {
            format!("peer-of-{v}")
        } else {
            v.clone()
        };
        if !out.status.success() || got != want {
            wrong.push(format!(
                "{v}: {got:?} ({}) {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} of 100 launches went wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    Ok(())
}

/// Deleting a VRF releases its ports to the default VRF, which then reaches the peer: a process still in
/// the VRF's cgroup must fail to connect rather than fall back.
fn vrf_deleted_while_running_never_falls_back() -> Result<()> {
    let t = Topology::new()?;
    let _servers = [peer_http_server(&t.blue)?];
    let exe = vrf_exec()?;
    let url = format!("http://{PEER_V4}:{HTTP_PORT}/");
    // The command waits for a line on stdin, then connects.
    let script = format!("echo ready; read go; curl -s -m 3 {url}; echo \" rc=$?\"");
    let mut cmd = t.router_cmd(
        exe.to_str().unwrap(),
        &[t.blue.vrf.as_str(), "sh", "-c", &script],
    );
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn_ready(cmd)?;
    t.router_run("ip", &["link", "del", &t.blue.vrf])?.ok()?;
    // The released port now routes in the default VRF: the fallback would succeed.
    let plain = t.router_run("curl", &["-s", "-m", "3", &url])?;
    ensure!(
        plain.stdout == peer_body(&t.blue),
        "{}",
        plain.describe("the default VRF should now reach the peer")
    );
    child.stdin.take().context("stdin")?.write_all(b"go\n")?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        !stdout.contains("peer-of-"),
        "a process of the deleted VRF reached the peer: {stdout:?}"
    );
    ensure!(
        stdout.contains("rc=") && !stdout.contains("rc=0"),
        "curl should fail: {stdout:?}"
    );
    // New launches into the deleted VRF fail before running anything.
    let r = run_vrf_exec(&t, &[&t.blue.vrf, "echo", "ran"])?;
    ensure!(
        r.code == Some(125) && !r.stdout.contains("ran"),
        "{}",
        r.describe("launch into a deleted VRF")
    );
    Ok(())
}

fn privilege_drop_cannot_leave_the_vrf() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (&t.blue.vrf, &t.red.vrf);
    let py = format!(
        r#"
import os, socket
print("uid", os.getuid(), os.getgid())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("bound", s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0").decode())
for dev in (b"{red}", b""):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev)
        print("rebind", dev.decode() or "none", "ALLOWED")
    except PermissionError:
        print("rebind", dev.decode() or "none", "refused")
try:
    with open("/sys/fs/cgroup/cgroup.procs", "a") as f:
        f.write(str(os.getpid()))
    print("cgroup move ALLOWED")
except PermissionError:
    print("cgroup move refused")
"#
    );
    let r = run_vrf_exec(
        &t,
        &["--user", "nobody", blue, "/usr/bin/python3", "-c", &py],
    )?;
    let want = format!(
        "uid 65534 65534\nbound {blue}\nrebind {red} refused\nrebind none refused\ncgroup move refused"
    );
    ensure_out(&r, &want)?;
    // And iputils ping, whose file capability would give it CAP_NET_RAW, gets none under no_new_privs.
    let p = run_vrf_exec(
        &t,
        &[
            "--user", "nobody", blue, "ping", "-c", "1", "-W", "2", "-I", &t.red.dev, PEER_V4,
        ],
    )?;
    ensure!(
        !p.stdout.contains(&format!("ttl={}", t.red.peer_ttl)),
        "{}",
        p.describe("ping escaped to the red peer")
    );
    Ok(())
}

fn errors_and_exit_codes() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["nosuchvrf", "true"],
            125,
            "VRF \"nosuchvrf\" not found (create it: ip link add nosuchvrf type vrf table N)",
        ),
        (
            &[&t.blue.dev, "true"],
            125,
            "is not a VRF (it is a veth device); it is enslaved to VRF",
        ),
        (&["bad/name", "true"], 125, "invalid VRF name"),
        (&[blue], 125, "required arguments were not provided"),
        (
            &[blue, "no-such-command-xyz"],
            127,
            "no-such-command-xyz: command not found",
        ),
        (
            &[blue, "/etc/passwd"],
            126,
            "/etc/passwd: permission denied",
        ),
        (&[blue, "sh", "-c", "exit 7"], 7, ""),
    ];
    for (args, code, msg) in cases {
        let r = run_vrf_exec(&t, args)?;
        ensure!(
            r.code == Some(*code) && r.stderr.contains(msg),
            "{}\nexpected exit {code} and {msg:?}",
            r.describe("wrong error")
        );
        if *code == 125 {
            ensure!(
                r.stderr.lines().count() <= 6,
                "{}",
                r.describe("error should be short")
            );
        }
    }
    t.router_run("ip", &["link", "set", &t.red.vrf, "down"])?
        .ok()?;
    let r = run_vrf_exec(&t, &[&t.red.vrf, "echo", "ran"])?;
    let msg = format!(
        "VRF \"{0}\" is down (bring it up: ip link set {0} up)",
        t.red.vrf
    );
    ensure!(
        r.code == Some(125) && r.stderr.contains(&msg) && !r.stdout.contains("ran"),
        "{}",
        r.describe("VRF down")
    );
    // The command's streams and environment are its own.
    let mut c = t.router_cmd(
        vrf_exec()?.to_str().unwrap(),
        &[blue, "sh", "-c", "read x; echo \"$x $FOO\"; echo err >&2"],
    );
    c.env("FOO", "bar")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn()?;
    child.stdin.take().context("stdin")?.write_all(b"hello\n")?;
    let out = child.wait_with_output()?;
    ensure!(
        out.stdout == b"hello bar\n" && out.stderr == b"err\n",
        "streams: {out:?}"
    );
    Ok(())
}

fn hook_is_reused_including_iproute2s() -> Result<()> {
    let t = Topology::new()?;
    let blue = t.blue.vrf.as_str();
    let hook = |r: Run| -> Result<String> {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains("hook"))
            .map(str::to_string);
        line.with_context(|| r.describe("no hook line in -v output"))
    };
    ensure!(
        hook(run_vrf_exec(&t, &["-v", blue, "true"])?)?.contains("hook Loaded"),
        "first launch should load"
    );
    ensure!(
        hook(run_vrf_exec(&t, &["-v", blue, "true"])?)?.contains("hook Reused"),
        "second launch should reuse"
    );
    // iproute2 replaces it with its own program; we recognise that one too.
    t.router_run("ip", &["vrf", "exec", blue, "true"])?.ok()?;
    ensure!(
        hook(run_vrf_exec(&t, &["-v", blue, "true"])?)?.contains("hook Reused"),
        "iproute2's hook should be reused"
    );
    // A program for a stale ifindex is replaced: recreate the VRF (new ifindex) under the same name.
    vrf_lab::topology::ip_batch(
        Some(&t.router_ns),
        &[
            format!("link del {blue}"),
            format!("link add {blue} type vrf table 10"),
            format!("link set {blue} up"),
            format!("link set {} master {blue}", t.blue.dev),
        ],
    )?;
    ensure!(
        hook(run_vrf_exec(&t, &["-v", blue, "true"])?)?.contains("hook Loaded"),
        "stale hook must be replaced"
    );
    let _server = peer_http_server(&t.blue)?;
    let r = run_vrf_exec(
        &t,
        &[
            blue,
            "curl",
            "-s",
            &format!("http://{PEER_V4}:{HTTP_PORT}/"),
        ],
    )?;
    ensure_out(&r, &peer_body(&t.blue))
}

fn per_vrf_resolv_conf() -> Result<()> {
    let t = Topology::new()?;
    let dir = format!("/etc/vrf/{}", t.blue.vrf);
    std::fs::create_dir_all(&dir)?;
    let conf = format!("# resolv.conf of {}\nnameserver {PEER_V4}\n", t.blue.vrf);
    std::fs::write(format!("{dir}/resolv.conf"), &conf)?;
    let res = (|| -> Result<()> {
        let r = run_vrf_exec(&t, &[&t.blue.vrf, "cat", "/etc/resolv.conf"])?.ok()?;
        ensure!(r.stdout == conf, "inside: {:?}", r.stdout);
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        ensure!(host != conf, "the host's /etc/resolv.conf changed");
        let r = run_vrf_exec(
            &t,
            &[
                "--no-vrf-resolv-conf",
                &t.blue.vrf,
                "cat",
                "/etc/resolv.conf",
            ],
        )?;
        ensure!(r.stdout != conf, "--no-vrf-resolv-conf was ignored");
        // A VRF without its own file keeps the host's.
        let r = run_vrf_exec(&t, &[&t.red.vrf, "cat", "/etc/resolv.conf"])?;
        ensure!(r.stdout == host, "red should see the host's resolv.conf");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    res
}

fn list_and_check() -> Result<()> {
    let t = Topology::new()?;
    let r = run_vrf_exec(&t, &["list"])?.ok()?;
    for s in t.sites() {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(&s.vrf))
            .with_context(|| format!("no {} in\n{}", s.vrf, r.stdout))?;
        let cols: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            cols[1] == s.table.to_string()
                && cols[2] == "up"
                && cols.last() == Some(&s.dev.as_str()),
            "{line}"
        );
    }
    let json = run_vrf_exec(&t, &["list", "--json"])?.ok()?;
    ensure!(
        json.stdout
            .contains(&format!("\"name\":\"{}\"", t.blue.vrf))
            && json.stdout.contains("\"table\":10"),
        "{}",
        json.stdout
    );
    let check = run_vrf_exec(&t, &["check", &t.blue.vrf])?;
    ensure!(
        check.success() && check.stdout.contains("is up"),
        "{}",
        check.describe("check")
    );
    let bad = run_vrf_exec(&t, &["check", "nosuchvrf"])?;
    ensure!(
        bad.code == Some(1) && bad.stdout.contains("FAIL"),
        "{}",
        bad.describe("check of a missing VRF")
    );
    Ok(())
}
