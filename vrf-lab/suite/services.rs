//! Services in VRFs under a real systemd (Debian 12's 252, as init of its own namespaces in the router
//! namespace: [`vrf_lab::systemd`]), run from the installed vrf-toolkit package (`/usr/bin/vrf-exec`,
//! the units in `/usr/lib/systemd/system`). Blue and red own the same addresses throughout.
//!
//! - `units_put_in_vrfs_serve_and_reach_only_their_own_peer`: `vrf-exec unit` (the default way on 252,
//!   the `ExecCondition=+vrf-exec attach` hook) puts unmodified units into blue and red: a root server,
//!   a `Type=notify` server under `DynamicUser=yes`, a `Type=forking` server with a PID file under
//!   `User=nobody` + `ProtectControlGroups=yes` + `NoNewPrivileges=yes` + `PrivateTmp=yes`, all in
//!   blue, are reached from blue's peer and refused from red's, and show blue's resolv.conf; a client
//!   unit in red (`User=nobody`, the same hardening) reaches red's peer only (each peer's HTTP server
//!   counts). `identify` and `pids` see the services' processes; `--dry-run` writes nothing and
//!   `--remove` takes a unit out.
//! - `exec_start_vrf_exec_as_root_and_as_nobody`: `ExecStart=/usr/bin/vrf-exec BLUE …` in units as root
//!   (the cgroup mode: `Type=notify` and `Type=forking` keep working) and under `User=nobody` with
//!   `ProtectControlGroups=yes` + `NoNewPrivileges=yes` + `PrivateTmp=yes` (the seccomp mode; `Type=simple`,
//!   and `Type=notify` with `NotifyAccess=all`), and under `DynamicUser=yes`: each reached from blue only.
//! - `units_fail_closed_and_follow_a_recreated_vrf`: with its VRF deleted, down, or replaced by a
//!   device that is not a VRF, a unit put in it does not start and its command never runs (each way:
//!   hook, bpf-program, wrap, and a plain `ExecStart=vrf-exec`); `--job-mode=ignore-dependencies`, which
//!   skips the pin unit, still does not start a bpf-program unit; after the VRF is re-created (new
//!   ifindex), `systemctl restart` serves in the new VRF.
//! - `sshd_template_serves_its_vrf_only`: the packaged `vrf-sshd@.service` for blue (`Type=notify`
//!   sshd) answers blue's peer with its banner and is refused from red's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::cmd::Run;
use vrf_lab::http::{HttpServer, http_server};
use vrf_lab::systemd::{self, Systemd};
use vrf_lab::topology::ip_batch;
use vrf_lab::{ROUTER_V4, Site, Topology};

use crate::exec_hardening::run_bounded;

vrf_lab::lab_tests! {
    units_put_in_vrfs_serve_and_reach_only_their_own_peer,
    exec_start_vrf_exec_as_root_and_as_nobody,
    // Twenty unit starts and failures, each a few seconds under TCG.
    #[timeout(600)]
    units_fail_closed_and_follow_a_recreated_vrf,
    sshd_template_serves_its_vrf_only,
}

/// How long systemd may take to come up, and any one command or unit start.
const LIMIT: Duration = Duration::from_secs(120);

/// The installed vrf-exec.
const VRF_EXEC: &str = "/usr/bin/vrf-exec";

/// A TCP server for units: `python3 SCRIPT MODE PORT WORD [PIDFILE]` listens on PORT (on every address
/// of the VRF its sockets are bound to), then, by MODE: `simple` serves; `notify` tells systemd it is
/// ready (`READY=1` to `$NOTIFY_SOCKET`, from the main process) and serves; `fork` forks, writes the
/// child's pid to PIDFILE and exits, the child serving (what `Type=forking` expects). Each connection
/// gets `WORD <first line of /etc/resolv.conf>`. It first adds a line to `/run/vrflab-mark-WORD` where
/// it may write there (as root): the mark that it ran.
const SERVER_PY: &str = r#"
import os, socket, sys
mode, port, word = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with open(f"/run/vrflab-mark-{word}", "a") as m:
        m.write("ran\n")
except OSError:
    pass
srv = socket.create_server(("0.0.0.0", port))
if mode == "fork":
    pid = os.fork()
    if pid:
        with open(sys.argv[4], "w") as f:
            f.write(f"{pid}\n")
        sys.exit(0)
    os.setsid()
if mode == "notify":
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.sendto(b"READY=1", addr)
while True:
    c, _ = srv.accept()
    first = open("/etc/resolv.conf").read().split("\n")[0]
    c.sendall(f"{word} {first}\n".encode())
    c.close()
"#;

/// Where the units find [`SERVER_PY`]: systemd's `/run`, which no unit setting here hides.
const SERVER_AT: &str = "/run/vrflab-server.py";

/// The name a site's HTTP server answers with.
fn label(site: &Site) -> &'static str {
    if site.table == 10 { "blue" } else { "red" }
}

/// An HTTP server on port 80 in each peer, answering `/` with its site's name.
fn http_servers(t: &Topology) -> Result<[HttpServer; 2]> {
    let serve = |s: &Site| http_server(&s.peer_ns, "[::]:80".parse()?, label(s), None);
    Ok([serve(&t.blue)?, serve(&t.red)?])
}

/// The lab's systemd in the router namespace, with the package installed, [`SERVER_PY`] in place and
/// `/etc/vrf/VRF/resolv.conf` naming 10.99.1.1 for blue and 10.99.1.2 for red (removed on drop).
struct Lab {
    sd: Systemd,
    vrfs: Vec<String>,
}

impl Lab {
    fn boot(t: &Topology) -> Result<Lab> {
        systemd::installed_package()?;
        let sd = Systemd::boot(Some(&t.router_ns), LIMIT)?;
        std::fs::write(sd.path(SERVER_AT), SERVER_PY)?;
        let lab = Lab {
            sd,
            vrfs: vec![t.blue.vrf.clone(), t.red.vrf.clone()],
        };
        for (vrf, ns) in [(&t.blue.vrf, "10.99.1.1"), (&t.red.vrf, "10.99.1.2")] {
            let dir = format!("/etc/vrf/{vrf}");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(format!("{dir}/resolv.conf"), format!("nameserver {ns}\n"))?;
        }
        Ok(lab)
    }

    /// Writes units (name, `[Service]` lines) and reloads once.
    fn units(&self, units: &[(&str, String)]) -> Result<()> {
        let texts: Vec<(&str, String)> = units
            .iter()
            .map(|(n, t)| (*n, format!("[Service]\n{t}\n")))
            .collect();
        self.sd.install_units(&texts)
    }

    /// `vrf-exec unit --via WAY VRF UNIT` for each (unit, VRF, way), then one reload.
    fn put(&self, units: &[(&str, &str, &str)]) -> Result<()> {
        for (unit, vrf, via) in units {
            let r = self.vrf_exec(&["unit", "--no-reload", "--via", via, vrf, unit])?;
            ensure!(
                r.success() && r.stderr.contains(&format!("({via}, systemd 252)")),
                "vrf-exec unit --via {via} {vrf} {unit}: {}",
                r.stderr
            );
        }
        self.sd.systemctl(&["daemon-reload"]).map(drop)
    }

    /// `systemctl start UNIT`, failing with the unit's status and journal.
    fn start(&self, unit: &str) -> Result<()> {
        let r = run_bounded(&mut self.sd.command("systemctl", &["start", unit]), LIMIT)?;
        ensure!(
            r.success(),
            "systemctl start {unit}: {}\n{}",
            r.stderr.trim(),
            self.sd.describe(unit)
        );
        Ok(())
    }

    /// `systemctl start UNIT` (with `extra` options) that must fail: systemctl says so, or (a
    /// `Type=simple` unit, started once forked) the unit fails soon after. Returns its status and journal.
    fn start_fails(&self, unit: &str, extra: &[&str]) -> Result<String> {
        let mut args = vec!["start"];
        args.extend_from_slice(extra);
        args.push(unit);
        let r = run_bounded(&mut self.sd.command("systemctl", &args), LIMIT)?;
        if !r.success() {
            return Ok(self.sd.describe(unit));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.sd.property(unit, "ActiveState")? != "failed" {
            ensure!(
                Instant::now() < deadline,
                "{unit} started with its VRF unusable\n{}",
                self.sd.describe(unit)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(self.sd.describe(unit))
    }

    /// `vrf-exec ARGS…` run inside systemd's namespaces, as root.
    fn vrf_exec(&self, args: &[&str]) -> Result<Run> {
        run_bounded(&mut self.sd.command(VRF_EXEC, args), LIMIT)
    }

    fn main_pid(&self, unit: &str) -> Result<String> {
        let pid = self.sd.property(unit, "MainPID")?;
        ensure!(
            pid != "0",
            "{unit} has no main process\n{}",
            self.sd.describe(unit)
        );
        Ok(pid)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for vrf in &self.vrfs {
            let _ = std::fs::remove_dir_all(format!("/etc/vrf/{vrf}"));
        }
    }
}

/// What a TCP connection from `site`'s peer to the router's address on `port` reads (`Err` when it is
/// refused or times out).
fn fetch(t: &Topology, site: &Site, port: u16) -> Result<String> {
    fetch_within(t, site, port, 5)
}

/// [`fetch`], waiting up to `idle` seconds for the first bytes.
fn fetch_within(t: &Topology, site: &Site, port: u16, idle: u32) -> Result<String> {
    let target = format!("TCP:{ROUTER_V4}:{port},connect-timeout=10");
    let idle = format!("-T{idle}");
    let r = run_bounded(
        &mut t.peer_cmd(site, "socat", &[idle.as_str(), "-u", &target, "-"]),
        LIMIT,
    )?;
    if !r.success() {
        bail!("{}", r.stderr.trim());
    }
    Ok(r.stdout)
}

/// Port `port` answers blue's peer with `word` and blue's resolv.conf, and refuses red's.
fn serves_blue_only(t: &Topology, port: u16, word: &str) -> Result<()> {
    // A unit's server may take a moment to listen after systemd calls it started (Type=simple).
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match fetch(t, &t.blue, port) {
            Ok(a) => break a,
            Err(e) if Instant::now() > deadline => {
                bail!("port {port} did not answer blue's peer: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    ensure!(
        answer.trim() == format!("{word} nameserver 10.99.1.1"),
        "port {port} answered blue's peer {answer:?}, not {word:?} with blue's resolv.conf"
    );
    match fetch(t, &t.red, port) {
        Ok(a) => bail!("port {port} answered red's peer too: {a:?}"),
        Err(e) => ensure!(
            e.to_string().contains("refused"),
            "red's peer should be refused on port {port}: {e}"
        ),
    }
    Ok(())
}

/// `ExecStart=` of [`SERVER_PY`] in `mode` on `port`, answering `word`.
fn server(mode: &str, port: u16, word: &str, pidfile: &str) -> String {
    format!("ExecStart=/usr/bin/python3 {SERVER_AT} {mode} {port} {word} {pidfile}")
}

const HARDENED: &str = "User=nobody\nProtectControlGroups=yes\nNoNewPrivileges=yes\nPrivateTmp=yes";

fn units_put_in_vrfs_serve_and_reach_only_their_own_peer() -> Result<()> {
    let t = Topology::new()?;
    let [blue_http, red_http] = http_servers(&t)?;
    let lab = Lab::boot(&t)?;
    let (blue, red) = (t.blue.vrf.as_str(), t.red.vrf.as_str());
    lab.units(&[
        ("srv.service", server("simple", 7101, "root", "")),
        (
            "notify.service",
            format!(
                "Type=notify\nDynamicUser=yes\nProtectControlGroups=yes\n{}",
                server("notify", 7102, "notify", "")
            ),
        ),
        (
            "forking.service",
            format!(
                "Type=forking\n{HARDENED}\nRuntimeDirectory=vrflab-fork\nPIDFile=/run/vrflab-fork/pid\n{}",
                server("fork", 7103, "forking", "/run/vrflab-fork/pid")
            ),
        ),
        (
            "client.service",
            format!(
                "Type=oneshot\n{HARDENED}\nStandardOutput=truncate:/run/vrflab-client.out\n\
                 ExecStart=/usr/bin/curl -sS --max-time 20 http://{}/",
                vrf_lab::PEER_V4
            ),
        ),
    ])?;
    // --dry-run prints the drop-in and writes nothing.
    let dry = lab.vrf_exec(&["unit", "--dry-run", blue, "srv"])?.ok()?;
    ensure!(
        dry.stdout
            .contains(&format!("ExecCondition=+{VRF_EXEC} attach {blue}\n")),
        "dry run:\n{}",
        dry.stdout
    );
    ensure!(
        !lab.sd
            .path("/etc/systemd/system/srv.service.d/50-vrf-exec.conf")
            .exists(),
        "--dry-run wrote the drop-in"
    );
    // The default way on 252 (the hook): "auto" names it, `put` checks vrf-exec says so.
    let r = lab.vrf_exec(&["unit", "--no-reload", blue, "srv"])?;
    ensure!(
        r.success() && r.stderr.contains("(hook, systemd 252)"),
        "vrf-exec unit {blue} srv: {}",
        r.stderr
    );
    lab.put(&[
        ("notify.service", blue, "hook"),
        ("forking", blue, "hook"),
        ("client", red, "hook"),
    ])?;
    for unit in ["srv.service", "notify.service", "forking.service"] {
        lab.start(unit)?;
    }
    serves_blue_only(&t, 7101, "root")?;
    serves_blue_only(&t, 7102, "notify")?;
    serves_blue_only(&t, 7103, "forking")?;
    // Type=forking: systemd's main process is the one the PID file names.
    let forked = lab.main_pid("forking.service")?;
    let pidfile = std::fs::read_to_string(lab.sd.path("/run/vrflab-fork/pid"))?;
    ensure!(
        pidfile.trim() == forked,
        "MainPID {forked}, PID file {pidfile:?}"
    );
    // The client in red reaches red's peer only.
    lab.start("client.service")?;
    let got = std::fs::read_to_string(lab.sd.path("/run/vrflab-client.out"))?;
    ensure!(got.trim() == "red", "the client in red fetched {got:?}");
    ensure!(
        (red_http.hits(), blue_http.hits()) == (1, 0),
        "hits: red {}, blue {}",
        red_http.hits(),
        blue_http.hits()
    );
    // identify and pids see the services' processes (systemd's pid numbers are the lab's through
    // nsenter's PID namespace).
    for unit in ["srv.service", "notify.service", "forking.service"] {
        let pid = lab.main_pid(unit)?;
        let id = lab.vrf_exec(&["identify", &pid])?.ok()?;
        ensure!(
            id.stdout.trim() == blue,
            "identify {pid} ({unit}): {:?}",
            id.stdout
        );
        let pids = lab.vrf_exec(&["pids", blue])?.ok()?;
        ensure!(
            pids.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(pid.as_str())),
            "pids {blue} does not list {pid} ({unit}):\n{}",
            pids.stdout
        );
        let reds = lab.vrf_exec(&["pids", red])?.ok()?;
        ensure!(
            !reds
                .stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(pid.as_str())),
            "pids {red} lists {pid} ({unit})"
        );
    }
    // --remove takes the unit out: after a restart it serves in no VRF, so neither peer reaches it.
    lab.vrf_exec(&["unit", "--remove", "srv"])?.ok()?;
    lab.sd.systemctl(&["restart", "srv.service"])?;
    let pid = lab.main_pid("srv.service")?;
    let id = lab.vrf_exec(&["identify", &pid])?.ok()?;
    ensure!(
        id.stdout.trim().is_empty(),
        "identify after --remove: {:?}",
        id.stdout
    );
    Ok(())
}

fn exec_start_vrf_exec_as_root_and_as_nobody() -> Result<()> {
    let t = Topology::new()?;
    let lab = Lab::boot(&t)?;
    let blue = t.blue.vrf.as_str();
    let wrapped = |mode: &str, port: u16, word: &str, pidfile: &str| {
        format!(
            "ExecStart={VRF_EXEC} {blue} /usr/bin/python3 {SERVER_AT} {mode} {port} {word} {pidfile}"
        )
    };
    let units = [
        (
            "root-notify.service",
            format!(
                "Type=notify\n{}",
                wrapped("notify", 7201, "root-notify", "")
            ),
        ),
        (
            "root-forking.service",
            format!(
                "Type=forking\nPIDFile=/run/vrflab-rf.pid\n{}",
                wrapped("fork", 7202, "root-forking", "/run/vrflab-rf.pid")
            ),
        ),
        (
            "nobody.service",
            format!("{HARDENED}\n{}", wrapped("simple", 7203, "nobody", "")),
        ),
        (
            "nobody-notify.service",
            format!(
                "Type=notify\nNotifyAccess=all\n{HARDENED}\n{}",
                wrapped("notify", 7204, "nobody-notify", "")
            ),
        ),
        (
            "dynamic.service",
            format!(
                "DynamicUser=yes\n{}",
                wrapped("simple", 7205, "dynamic", "")
            ),
        ),
    ];
    let units: Vec<(&str, String)> = units.iter().map(|(n, t)| (*n, t.clone())).collect();
    lab.units(&units)?;
    for (name, _) in &units {
        lab.start(name)?;
    }
    for (port, word) in [
        (7201, "root-notify"),
        (7202, "root-forking"),
        (7203, "nobody"),
        (7204, "nobody-notify"),
        (7205, "dynamic"),
    ] {
        serves_blue_only(&t, port, word)?;
    }
    // As root the command is exec'd in place: it is the main process, in blue.
    for unit in ["root-notify.service", "root-forking.service"] {
        let pid = lab.main_pid(unit)?;
        let id = lab.vrf_exec(&["identify", &pid])?.ok()?;
        ensure!(
            id.stdout.trim() == blue,
            "identify {pid} ({unit}): {:?}",
            id.stdout
        );
    }
    // All five servers (as root, as nobody under the seccomp supervisor, as a dynamic user) are in
    // blue for `pids`.
    let pids = lab.vrf_exec(&["pids", blue])?.ok()?;
    let servers = pids
        .stdout
        .lines()
        .filter(|l| l.ends_with("python3"))
        .count();
    ensure!(
        servers == 5,
        "pids {blue} lists {servers} python3, not 5:\n{}",
        pids.stdout
    );
    Ok(())
}

fn units_fail_closed_and_follow_a_recreated_vrf() -> Result<()> {
    let t = Topology::new()?;
    let lab = Lab::boot(&t)?;
    let blue = t.blue.vrf.as_str();
    // Each unit's command leaves a mark when it runs, then serves.
    let ways = [
        ("hook", 7301, Some("hook")),
        ("bpf", 7302, Some("bpf-program")),
        ("wrap", 7303, Some("wrap")),
        ("plain", 7304, None),
    ];
    let units: Vec<(String, String)> = ways
        .iter()
        .map(|(name, port, via)| {
            let cmd = format!("/usr/bin/python3 {SERVER_AT} simple {port} {name}");
            let exec = match via {
                None => format!("ExecStart={VRF_EXEC} {blue} {cmd}"),
                Some(_) => format!("ExecStart={cmd}"),
            };
            (format!("{name}.service"), exec)
        })
        .collect();
    let units: Vec<(&str, String)> = units.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    lab.units(&units)?;
    let put: Vec<(&str, &str, &str)> = ways
        .iter()
        .filter_map(|(name, _, via)| Some((*name, blue, (*via)?)))
        .collect();
    lab.put(&put)?;
    let marks = |name: &str| {
        std::fs::read_to_string(lab.sd.path(&format!("/run/vrflab-mark-{name}")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    // Working first.
    for (name, port, _) in ways {
        lab.start(&format!("{name}.service"))?;
        serves_blue_only(&t, port, name)?;
        lab.sd.systemctl(&["stop", &format!("{name}.service")])?;
    }
    let router = |cmds: &[String]| ip_batch(Some(&t.router_ns), cmds).map(drop);
    let dev = &t.blue.dev;
    // Missing, down, not a VRF: no unit starts (table 10 keeps its closing routes, which have no
    // device, through the VRF's deletion), no command runs (in the wrapped and the plain
    // ExecStart=vrf-exec units, vrf-exec exits 125 before the command).
    let breakages: [(&str, Vec<String>, Vec<String>); 3] = [
        (
            "deleted",
            vec![format!("link del {blue}")],
            vec![
                format!("link add {blue} type vrf table 10"),
                format!("link set {blue} up"),
                format!("link set {dev} master {blue}"),
            ],
        ),
        (
            "down",
            vec![format!("link set {blue} down")],
            vec![format!("link set {blue} up")],
        ),
        (
            "not a VRF",
            vec![
                format!("link del {blue}"),
                format!("link add {blue} type dummy"),
                format!("link set {blue} up"),
            ],
            vec![
                format!("link del {blue}"),
                format!("link add {blue} type vrf table 10"),
                format!("link set {blue} up"),
                format!("link set {dev} master {blue}"),
            ],
        ),
    ];
    for (what, breaks, repairs) in &breakages {
        router(breaks)?;
        for (name, _, _) in ways {
            let before = marks(name);
            let why = lab
                .start_fails(&format!("{name}.service"), &[])
                .with_context(|| format!("VRF {blue} {what}"))?;
            let ran = marks(name) - before;
            ensure!(
                ran == 0,
                "VRF {what}: {name}.service ran its command {ran} time(s)\n{why}"
            );
        }
        // A bpf-program unit started without its pin unit (the dependency skipped) still refuses.
        let why = lab
            .start_fails("bpf.service", &["--job-mode=ignore-dependencies"])
            .with_context(|| format!("VRF {blue} {what}, bpf.service without its pin unit"))?;
        ensure!(why.contains("attach --check"), "{why}");
        router(repairs)?;
    }
    // Re-created (the last repair made a new VRF device, with a new ifindex): a restart serves in it.
    for (name, port, _) in ways {
        lab.start(&format!("{name}.service"))?;
        serves_blue_only(&t, port, name)?;
        let pid = lab.main_pid(&format!("{name}.service"))?;
        let id = lab.vrf_exec(&["identify", &pid])?.ok()?;
        ensure!(
            id.stdout.trim() == blue,
            "identify {pid} ({name}) after re-creation: {:?}",
            id.stdout
        );
    }
    Ok(())
}

fn sshd_template_serves_its_vrf_only() -> Result<()> {
    let t = Topology::new()?;
    let lab = Lab::boot(&t)?;
    let blue = t.blue.vrf.as_str();
    let unit = format!("vrf-sshd@{blue}.service");
    lab.start(&unit)?;
    ensure!(
        lab.sd.property(&unit, "Type")? == "notify",
        "the template's sshd is Type=notify"
    );
    // sshd re-executes itself for each connection: its banner takes seconds under TCG.
    let banner = fetch_within(&t, &t.blue, 22, 60).with_context(|| lab.sd.describe(&unit))?;
    ensure!(
        banner.starts_with("SSH-2.0-OpenSSH"),
        "blue's peer read {banner:?} on port 22"
    );
    match fetch_within(&t, &t.red, 22, 60) {
        Ok(a) => bail!("red's peer reached sshd in blue: {a:?}"),
        Err(e) => ensure!(e.to_string().contains("refused"), "{e}"),
    }
    let pid = lab.main_pid(&unit)?;
    let id = lab.vrf_exec(&["identify", &pid])?.ok()?;
    ensure!(id.stdout.trim() == blue, "identify sshd: {:?}", id.stdout);
    Ok(())
}
