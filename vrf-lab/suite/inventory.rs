//! `vrf-exec sockets`, `identify` and `pids --all` on real VRFs: sockets placed in a VRF every way there
//! is (a launch into the VRF's cgroup, a program that binds its own, the kernel binding a connection an
//! unbound listener accepted), the unbound listener that accepts from every VRF, and a launched process
//! holding a socket outside its VRF; each must be listed under the right VRF with the right process.

use std::process::{Child, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use vrf_lab::cmd::{self, Run, spawn_ready};
use vrf_lab::{PEER_V4, ROUTER_V4, Topology};

vrf_lab::lab_tests! {
    #[timeout(300)]
    sockets_are_listed_under_their_vrf,
}

/// A python3 TCP server on `port` that accepts and holds every connection; prints `ready` once
/// listening. `unbind` first clears the socket's device binding (root may), which puts a socket made in
/// a VRF's cgroup back in the default VRF.
fn holding_server(port: u16, unbind: bool) -> String {
    let unbind = if unbind {
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'')\n"
    } else {
        ""
    };
    format!(
        "import socket, sys, time\n\
         s = socket.socket()\n\
         {unbind}\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0', {port}))\n\
         s.listen(16)\n\
         print('ready', flush=True)\n\
         held = []\n\
         s.settimeout(120)\n\
         while True:\n\
         \x20   held.append(s.accept())\n"
    )
}

/// Kills and reaps the children when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn vrf_exec(t: &Topology, args: &[&str]) -> Result<Run> {
    let exe = vrf_lab::tool("vrf-exec")?;
    cmd::run(&mut t.router_cmd(exe.to_str().unwrap(), args))
}

/// The sockets of `vrf-exec sockets ARGS --json`.
fn sockets_json(t: &Topology, args: &[&str]) -> Result<Vec<Value>> {
    let mut all = vec!["sockets", "--json"];
    all.extend(args);
    let r = vrf_exec(t, &all)?.ok()?;
    let v: Value = serde_json::from_str(&r.stdout)
        .with_context(|| format!("sockets --json is not JSON: {}", r.stdout))?;
    v.as_array().cloned().context("not an array")
}

fn held_by(s: &Value, pid: u32) -> bool {
    s["processes"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["pid"] == pid))
}

/// The one socket of `list` that `pick` selects.
fn one<'a>(list: &'a [Value], what: &str, pick: impl Fn(&Value) -> bool) -> Result<&'a Value> {
    let found: Vec<_> = list.iter().filter(|s| pick(s)).collect();
    match found.as_slice() {
        [s] => Ok(s),
        _ => bail!(
            "{} sockets are {what}, expected 1:\n{}",
            found.len(),
            serde_json::to_string_pretty(list)?
        ),
    }
}

fn sockets_are_listed_under_their_vrf() -> Result<()> {
    let t = Topology::new()?;
    let (blue, red) = (t.blue.vrf.as_str(), t.red.vrf.as_str());
    t.router_sysctl("net.ipv4.tcp_l3mdev_accept", "1")?;
    // ICMP datagram sockets for root, so that vrf-ping's socket is one sock_diag cannot see.
    t.router_sysctl("net.ipv4.ping_group_range", "0 2147483647")?;
    let exe = vrf_lab::tool("vrf-exec")?;
    let exe = exe.to_str().unwrap();
    let curl = vrf_lab::tool("vrf-curl-lite")?;
    let ping = vrf_lab::tool("vrf-ping")?;
    let mut kids = Children(Vec::new());
    // In red's peer, a server that takes connections and never answers, for a client to hang on.
    kids.0.push(spawn_ready(t.peer_cmd(
        &t.red,
        "python3",
        &["-c", &holding_server(7104, false)],
    ))?);
    // 1. Launched into blue's cgroup: a listener.
    let launched =
        spawn_ready(t.router_cmd(exe, &[blue, "python3", "-c", &holding_server(7101, false)]))?;
    let launched_pid = launched.id();
    kids.0.push(launched);
    // 2. Self-bound in red: a vrf-socket program (vrf-curl-lite) waiting for an answer that never comes.
    let url = format!("http://{PEER_V4}:7104/");
    let client = t
        .router_cmd(
            curl.to_str().unwrap(),
            &["--vrf", red, "-m", "120", "-s", "-o", "/dev/null", &url],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let client_pid = client.id();
    kids.0.push(client);
    // 3. vrf-ping in blue (an ICMP datagram socket, bound by vrf-ping itself).
    let pinger = t
        .router_cmd(
            ping.to_str().unwrap(),
            &["-V", blue, "-i", "0.5", "-c", "240", "-q", PEER_V4],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let ping_pid = pinger.id();
    kids.0.push(pinger);
    // 4. An unbound listener, which tcp_l3mdev_accept=1 opens to every VRF; blue's peer connects to it,
    // and the kernel binds the accepted connection to blue.
    let unbound = spawn_ready(t.router_cmd("python3", &["-c", &holding_server(7103, false)]))?;
    let unbound_pid = unbound.id();
    kids.0.push(unbound);
    kids.0.push(
        t.peer_cmd(
            &t.blue,
            "python3",
            &[
                "-c",
                &format!(
                    "import socket, time\nc = socket.create_connection(('{ROUTER_V4}', 7103), 10)\n\
                     print('ready', flush=True)\ntime.sleep(120)\n"
                ),
            ],
        )
        .stdout(Stdio::piped())
        .spawn()?,
    );
    // 5. Launched into blue, but its listener unbound again: a socket outside its process's VRF.
    let leaky =
        spawn_ready(t.router_cmd(exe, &[blue, "python3", "-c", &holding_server(7105, true)]))?;
    let leaky_pid = leaky.id();
    kids.0.push(leaky);
    // 6. A hostile command name: escape sequences (prctl PR_SET_NAME), on an unbound listener so
    // that the warning names it too.
    let hostile = format!(
        "import ctypes\nctypes.CDLL(None).prctl(15, b'\\x1b]0;pwn\\x07\\x1b[2J', 0, 0, 0)\n{}",
        holding_server(7106, false)
    );
    let hostile = spawn_ready(t.router_cmd("python3", &["-c", &hostile]))?;
    let hostile_pid = hostile.id();
    kids.0.push(hostile);

    // Wait until the client's connection and vrf-ping's socket exist.
    let mut all = Vec::new();
    for _ in 0..100 {
        all = sockets_json(&t, &[])?;
        let ready = all
            .iter()
            .any(|s| held_by(s, client_pid) && s["state"] == "ESTAB")
            && all.iter().any(|s| held_by(s, ping_pid))
            && all
                .iter()
                .any(|s| s["local_port"] == 7103 && s["state"] == "ESTAB");
        if ready {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let s = one(&all, "blue's launched listener", |s| {
        held_by(s, launched_pid)
    })?;
    ensure!(
        s["vrf"] == blue && s["state"] == "LISTEN" && s["via"] == "cgroup" && s["netid"] == "tcp",
        "{s}"
    );
    let s = one(&all, "the red client's", |s| {
        held_by(s, client_pid) && s["netid"] == "tcp"
    })?;
    ensure!(
        s["vrf"] == red && s["state"] == "ESTAB" && s["via"] == "bound" && s["peer_port"] == 7104,
        "{s}"
    );
    let s = one(&all, "vrf-ping's", |s| held_by(s, ping_pid))?;
    ensure!(
        s["vrf"] == blue && s["netid"] == "icmp" && s["via"] == "bound",
        "vrf-ping's ICMP socket: {s}"
    );
    let s = one(&all, "the unbound listener", |s| {
        held_by(s, unbound_pid) && s["state"] == "LISTEN"
    })?;
    ensure!(
        s["vrf"] == "default"
            && s["binding"] == "unbound"
            && s["accepts_from_every_vrf"] == true
            && s["warnings"].to_string().contains("tcp_l3mdev_accept"),
        "{s}"
    );
    let s = one(&all, "the connection it accepted from blue's peer", |s| {
        held_by(s, unbound_pid) && s["state"] == "ESTAB"
    })?;
    ensure!(s["vrf"] == blue && s["via"] == "accepted", "{s}");
    let s = one(&all, "the launched process's unbound listener", |s| {
        held_by(s, leaky_pid)
    })?;
    ensure!(
        s["vrf"] == "default"
            && s["warnings"]
                .to_string()
                .contains(&format!("runs in VRF {blue} (cgroup)")),
        "{s}"
    );

    // Filters: a VRF, a kind, listening only, a family.
    let only_red = sockets_json(&t, &[red])?;
    ensure!(
        only_red
            .iter()
            .all(|s| s["vrf"] == red || s["accepts_from_every_vrf"] == true),
        "sockets {red}: {only_red:?}"
    );
    ensure!(only_red.iter().any(|s| held_by(s, client_pid)));
    ensure!(
        only_red.iter().any(|s| held_by(s, unbound_pid)),
        "the l3mdev listener accepts from red too"
    );
    let listening = sockets_json(&t, &[blue, "-t", "-l"])?;
    ensure!(
        listening
            .iter()
            .all(|s| s["netid"] == "tcp" && s["state"] == "LISTEN"),
        "{listening:?}"
    );
    ensure!(listening.iter().any(|s| held_by(s, launched_pid)));
    ensure!(!listening.iter().any(|s| held_by(s, client_pid)));
    let icmp = sockets_json(&t, &["--icmp"])?;
    ensure!(!icmp.is_empty() && icmp.iter().all(|s| s["netid"] == "icmp"));
    let v6 = sockets_json(&t, &["-6"])?;
    ensure!(v6.iter().all(|s| s["family"] == "ipv6"), "{v6:?}");
    ensure!(!v6.iter().any(|s| held_by(s, client_pid)));
    // The table: a header, the VRF first, the unbound listener marked.
    let table = vrf_exec(&t, &["sockets", "-t"])?.ok()?;
    ensure!(table.stdout.starts_with("VRF "), "{}", table.stdout);
    // The hostile name reaches neither stdout nor stderr raw; JSON carries it escaped.
    ensure!(
        table.stdout.contains(&format!("({hostile_pid})"))
            && !table.stdout.contains('\x1b')
            && !table.stderr.contains('\x1b')
            && !table.stdout.contains('\x07'),
        "control characters of a command name reached the terminal: {:?}",
        table.stdout
    );
    let s = one(&all, "the hostile-named listener", |s| {
        held_by(s, hostile_pid)
    })?;
    ensure!(
        s["processes"][0]["command"]
            .as_str()
            .is_some_and(|c| c.starts_with('\x1b')),
        "{s}"
    );
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains(":7103") && l.contains("LISTEN"))
        .context("no line for the unbound listener")?;
    ensure!(line.starts_with("default*"), "{line}");
    ensure!(
        table.stderr.contains("tcp_l3mdev_accept"),
        "no warning on stderr: {}",
        table.stderr
    );
    let red_line = table
        .stdout
        .lines()
        .find(|l| l.contains(&format!("({client_pid})")))
        .context("no line for the red client")?;
    ensure!(red_line.starts_with(red), "{red_line}");

    // identify: the self-bound client is in red, found by its sockets; pids --all lists it.
    let id = vrf_exec(&t, &["identify", &client_pid.to_string()])?.ok()?;
    ensure!(id.stdout.trim() == red, "{}", id.describe("identify"));
    let id = vrf_exec(&t, &["identify", "--json", &client_pid.to_string()])?.ok()?;
    let v: Value = serde_json::from_str(&id.stdout)?;
    ensure!(
        v["vrf"] == red && v["how"] == "sockets" && v["mixed"] == false,
        "{v}"
    );
    let id = vrf_exec(&t, &["identify", "--json", &launched_pid.to_string()])?.ok()?;
    let v: Value = serde_json::from_str(&id.stdout)?;
    ensure!(v["vrf"] == blue && v["how"] == "cgroup", "{v}");
    let plain = vrf_exec(&t, &["pids", red])?.ok()?;
    ensure!(
        !plain.stdout.contains(&client_pid.to_string()),
        "{}",
        plain.stdout
    );
    let all_red = vrf_exec(&t, &["pids", "--all", red])?.ok()?;
    ensure!(
        all_red
            .stdout
            .split_whitespace()
            .any(|w| w == client_pid.to_string()),
        "{}",
        all_red.describe("pids --all")
    );
    // Bad input: an unknown VRF is an error that names the fix; nothing is listed.
    let bad = vrf_exec(&t, &["sockets", "nosuchvrf0"])?;
    ensure!(
        bad.code == Some(1) && bad.stdout.is_empty() && bad.stderr.contains("ip link add"),
        "{}",
        bad.describe("sockets nosuchvrf0")
    );
    Ok(())
}
