//! vrf-exec's seccomp mode under attack, as `nobody` (not root, so `--mode auto` takes the seccomp
//! mode): the command gets sockets bound to the VRF from the supervisor, and every way around that is
//! tried for real, each escape next to a run that shows the door exists on this kernel:
//!
//! - escapes: re-binding a socket to the other VRF or unbinding it (`SO_BINDTODEVICE`,
//!   `SO_BINDTOIFINDEX`), a socket made by io_uring (`IORING_OP_SOCKET`, example `uring_socket`), the
//!   i386 ABI's `socket`, `socketcall` and `io_uring_setup` through `int 0x80` and the x32 ABI's
//!   `socket` (example `i386_socket`); measured too, the one way the README says stays open: a datagram
//!   sent out of another VRF's port with `IP_PKTINFO` (no egress guard without privilege); and
//!   the command taking its supervisor's seccomp listener (`pidfd_getfd`) to answer its own calls;
//! - failing closed: an unknown or down VRF (exit 125, nothing run), a VRF set down, renamed or deleted
//!   while the command runs (its new sockets fail with `ENETDOWN` / `ENODEV`, nothing reaches a peer,
//!   the supervisor says so once);
//! - the supervisor as a transparent parent: exit statuses (125, 126, 127, the command's own, death by
//!   the command's signal), signals sent to it reach the command exactly once, Ctrl-C on a terminal
//!   reaches the command once, an interactive bash keeps job control, background children and
//!   processes left behind stay bound and supervised, a nested launch into the same VRF works and into
//!   another one is refused, no descriptor of the supervisor leaks into the command, and a killed
//!   supervisor takes the command with it while anything left behind gets no socket at all.
//!
//! Where a socket goes is read from the kernel (`SO_BINDTOIFINDEX`) by the programs themselves
//! (`bound_ifindex`, python3), never assumed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vrf_lab::cmd::{Run, line_of, shell_quote};
use vrf_lab::netns::{self, Server};
use vrf_lab::{PEER_V4, TempDir, Topology};

use crate::exec_hardening::{LIMIT, bound_to, ifindex, path_str, run_bounded};

vrf_lab::lab_tests! {
    rebinding_and_unbinding_are_refused,
    io_uring_cannot_make_a_socket,
    i386_and_x32_abis_cannot_make_a_socket,
    pktinfo_still_sends_through_another_vrfs_port,
    command_cannot_take_the_supervisors_listener,
    unknown_or_down_vrf_runs_nothing,
    vrf_set_down_or_renamed_while_running_fails_new_sockets,
    vrf_deleted_while_running_fails_closed,
    exit_statuses_are_the_commands,
    signals_sent_to_the_supervisor_reach_the_command_once,
    ctrl_c_on_a_terminal_reaches_the_command_once,
    interactive_bash_keeps_job_control,
    background_children_stay_bound_and_another_vrf_is_refused,
    nested_launch_into_the_same_vrf_works,
    processes_left_behind_stay_supervised,
    no_descriptor_of_the_supervisor_leaks,
    killed_supervisor_takes_the_command_and_starves_the_rest,
}

/// The UDP port of the peers' listeners.
const PORT: u16 = 9797;
/// How long to keep watching for a datagram that must not arrive, once one sent after it did.
const GRACE: Duration = Duration::from_secs(2);
/// How long a process may take to show a change (a line, an exit, a file) before the test fails.
const STEP: Duration = Duration::from_secs(30);

const PYTHON: &str = "/usr/bin/python3";

/// `setpriv … ARGS` in the router namespace: `ARGS` run as nobody:nogroup, no supplementary groups.
fn as_nobody<S: AsRef<std::ffi::OsStr>>(t: &Topology, args: &[S]) -> Command {
    let mut all: Vec<std::ffi::OsString> = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        .iter()
        .map(std::ffi::OsString::from)
        .collect();
    all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
    t.router_cmd("setpriv", &all)
}

/// `vrf-exec VRF ARGS…` as nobody in the router namespace.
fn nobody_in(t: &Topology, vrf: &str, args: &[&str]) -> Result<Command> {
    let exe = vrf_lab::tool("vrf-exec")?;
    let mut all = vec![path_str(&exe)?, vrf];
    all.extend(args);
    Ok(as_nobody(t, &all))
}

/// The path of example `name` (in the lab, a copy nobody may run).
fn example(name: &str) -> Result<String> {
    Ok(path_str(&vrf_lab::example(name)?)?.to_string())
}

fn vrf_exec_path() -> Result<String> {
    Ok(path_str(&vrf_lab::tool("vrf-exec")?)?.to_string())
}

/// A scratch directory that nobody may write to (the commands leave their traces there).
fn open_dir(prefix: &str) -> Result<TempDir> {
    let d = TempDir::new(prefix)?;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777))?;
    Ok(d)
}

/// Like [`run_bounded`], also returning the exit status itself (which tells a death by signal).
fn run_status(cmd: &mut Command, limit: Duration) -> Result<(ExitStatus, Run)> {
    let line = line_of(cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let pid = Pid::from_raw(i32::try_from(child.id())?);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || drop(tx.send(child.wait_with_output())));
    let Ok(out) = rx.recv_timeout(limit) else {
        let _ = kill(pid, Signal::SIGKILL);
        bail!("`{line}` did not finish within {} s", limit.as_secs());
    };
    let out = out.with_context(|| format!("waiting for `{line}`"))?;
    let run = Run {
        line,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Ok((out.status, run))
}

/// A running command the test talks to: lines to its stdin, lines from its stdout, each within
/// [`STEP`]. Killed (SIGKILL to the process started, vrf-exec after `ip netns exec` and `setpriv` exec
/// it) when dropped unfinished.
struct Session {
    line: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_done: Receiver<()>,
}

impl Session {
    fn spawn(mut cmd: Command) -> Result<Session> {
        let line = line_of(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start `{line}`"))?;
        let out = child.stdout.take().context("stdout")?;
        let mut err = child.stderr.take().context("stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (done_tx, stderr_done) = mpsc::channel();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            let _ = done_tx.send(());
        });
        Ok(Session {
            line,
            stdin: child.stdin.take(),
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr,
            stderr_done,
        })
    }

    /// The pid of the process started: vrf-exec, the supervisor.
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().map_or(0, |c| c.id() as i32))
    }

    fn describe(&self, what: &str) -> String {
        format!(
            "`{}`: {what}\n  stdout so far: {:?}\n  stderr so far: {:?}",
            self.line,
            self.seen,
            self.stderr.lock().unwrap()
        )
    }

    /// The next line of output, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> Result<String> {
        match self.lines.recv_timeout(STEP) {
            Ok(l) => {
                self.seen.push(l.clone());
                ensure!(
                    l.starts_with(prefix),
                    "{}",
                    self.describe(&format!("expected a line starting {prefix:?}, got {l:?}"))
                );
                Ok(l)
            }
            Err(_) => bail!(
                "{}",
                self.describe(&format!(
                    "no line starting {prefix:?} within {} s",
                    STEP.as_secs()
                ))
            ),
        }
    }

    /// Writes `line` to the command's stdin.
    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .with_context(|| self.describe("writing to stdin"))
    }

    /// Writes `line` and returns the answer line (which must start with `prefix`).
    fn ask(&mut self, line: &str, prefix: &str) -> Result<String> {
        self.send(line)?;
        self.expect(prefix)
    }

    /// Whether the process started is still running.
    fn running(&mut self) -> Result<bool> {
        let c = self.child.as_mut().context("already waited for")?;
        Ok(c.try_wait()?.is_none())
    }

    /// Closes stdin, waits (within [`STEP`]) for the process to end; its status and stderr.
    fn finish(mut self) -> Result<(ExitStatus, String)> {
        drop(self.stdin.take());
        let deadline = Instant::now() + STEP;
        let status = loop {
            let c = self.child.as_mut().context("already waited for")?;
            if let Some(s) = c.try_wait()? {
                break s;
            }
            ensure!(
                Instant::now() < deadline,
                "{}",
                self.describe(&format!("did not end within {} s", STEP.as_secs()))
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        // Its stderr closes with it, unless a process it left behind still holds it.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(2));
        let stderr = self.stderr.lock().unwrap().clone();
        Ok((status, stderr))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `done` every 20 ms until it holds, for at most `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
    }
}

/// The parent of process `pid`.
fn ppid(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A UDP listener on [`PORT`] in the peer namespace `ns`; what arrives (the payloads) goes to the vector.
fn listener(ns: &str) -> Result<(Server, Arc<Mutex<Vec<String>>>)> {
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let sink = arrived.clone();
    let server = netns::udp_server(
        ns,
        || Ok(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT))?),
        move |s| {
            let mut buf = [0u8; 2048];
            if let Ok(n) = s.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        },
    )?;
    Ok((server, arrived))
}

fn got(arrived: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    arrived.lock().unwrap().clone()
}

/// Parses `key=value key=value …`.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `rebind.py RED RED_INDEX`: for UDP and TCP sockets of both families, tries to move each to red by
/// name and by index, and to unbind it by name and by index; one line per socket,
/// `<family>/<type> dev-red=R idx-red=R dev-none=R idx-none=R before=N after=N`, R being `ok` or the
/// errno, N the socket's `SO_BINDTOIFINDEX` before and after the attempts.
const REBIND_PY: &str = r#"
import errno, socket, sys
red, red_index = sys.argv[1], int(sys.argv[2])
SO_BINDTODEVICE, SO_BINDTOIFINDEX = 25, 62
def bound(s):
    return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_BINDTOIFINDEX, 4), "little")
for fam, fname in ((socket.AF_INET, "v4"), (socket.AF_INET6, "v6")):
    for ty, tname in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
        s = socket.socket(fam, ty)
        out = ["%s/%s" % (fname, tname), "before=%d" % bound(s)]
        for name, opt, val in (("dev-red", SO_BINDTODEVICE, red.encode()),
                               ("idx-red", SO_BINDTOIFINDEX, red_index.to_bytes(4, "little")),
                               ("dev-none", SO_BINDTODEVICE, b""),
                               ("idx-none", SO_BINDTOIFINDEX, (0).to_bytes(4, "little"))):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, val)
                r = "ok"
            except OSError as e:
                r = errno.errorcode.get(e.errno, str(e.errno))
            out.append("%s=%s" % (name, r))
        out.append("after=%d" % bound(s))
        print(" ".join(out), flush=True)
"#;

/// Escape 1: a socket the supervisor bound to blue cannot be moved to red nor unbound, by name or by
/// index, UDP or TCP, IPv4 or IPv6 (`EPERM`: that needs CAP_NET_RAW), and stays bound to blue. The
/// same script run by root under `--mode seccomp` (root keeps CAP_NET_RAW) does move its sockets: the
/// attempts are real.
fn rebinding_and_unbinding_are_refused() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-rebind")?;
    let script = dir.file("rebind.py", REBIND_PY)?;
    let script = path_str(&script)?;
    let (blue, red) = (ifindex(&t, &t.blue.vrf)?, ifindex(&t, &t.red.vrf)?);
    let red_s = red.to_string();
    let args = [PYTHON, script, t.red.vrf.as_str(), red_s.as_str()];
    let r = run_bounded(&mut nobody_in(&t, &t.blue.vrf, &args)?, LIMIT)?;
    let lines: Vec<&str> = r.stdout.lines().collect();
    ensure!(
        r.success() && lines.len() == 4,
        "{}",
        r.describe("the rebinding script as nobody")
    );
    for l in &lines {
        let f = fields(l);
        let want_bound = blue.to_string();
        ensure!(
            ["dev-red", "idx-red", "dev-none", "idx-none"]
                .iter()
                .all(|k| f.get(*k).map(String::as_str) == Some("EPERM"))
                && f.get("before") == Some(&want_bound)
                && f.get("after") == Some(&want_bound),
            "{}\nin {l:?}: every attempt must fail with EPERM and the socket stay bound to blue ({blue})",
            r.describe("as nobody")
        );
    }
    // The control: root, same mode, same script.
    let exe = vrf_exec_path()?;
    let mut root_args = vec![exe.as_str(), "--mode", "seccomp", t.blue.vrf.as_str()];
    root_args.extend(args);
    let c = run_bounded(&mut t.router_cmd(root_args[0], &root_args[1..]), LIMIT)?;
    ensure!(
        c.success()
            && c.stdout.lines().count() == 4
            && c.stdout.lines().all(|l| {
                let f = fields(l);
                ["dev-red", "idx-red", "dev-none", "idx-none"]
                    .iter()
                    .all(|k| f.get(*k).map(String::as_str) == Some("ok"))
                    && f.get("before") == Some(&blue.to_string())
                    && f.get("after").map(String::as_str) == Some("0")
            }),
        "{}\nroot (CAP_NET_RAW) should move and unbind its sockets: the script must really try",
        c.describe("the control as root under --mode seccomp")
    );
    Ok(())
}

/// Escape 2: io_uring makes sockets without `socket(2)`. Outside vrf-exec, as nobody, the example's
/// ring makes an unbound socket (the door is there on this kernel); under vrf-exec `io_uring_setup`
/// itself fails with `EPERM`.
fn io_uring_cannot_make_a_socket() -> Result<()> {
    let t = Topology::new()?;
    let uring = example("uring_socket")?;
    let outside = run_bounded(&mut as_nobody(&t, &[&uring]), LIMIT)?;
    eprintln!("{}", outside.describe("outside vrf-exec"));
    ensure!(
        outside.success() && outside.stdout.trim() == "setup=ok socket=bound:0",
        "{}\nexpected an unbound socket from IORING_OP_SOCKET: without it this test proves nothing",
        outside.describe("outside vrf-exec, as nobody")
    );
    let inside = run_bounded(&mut nobody_in(&t, &t.blue.vrf, &[&uring])?, LIMIT)?;
    ensure!(
        inside.success() && inside.stdout.trim() == "setup=errno:EPERM",
        "{}\nexpected io_uring_setup to fail with EPERM",
        inside.describe("under vrf-exec, as nobody")
    );
    Ok(())
}

/// Escape 3: the i386 ABI (`int 0x80` from x86_64 code) and the x32 ABI. Outside vrf-exec the i386
/// `socket` and `socketcall` make unbound sockets and `io_uring_setup` a ring (the doors are there);
/// under vrf-exec all three fail with `EPERM`, and x32's `socket` with `ENOSYS` (outside, Debian's
/// kernel turns x32 off: the test reports what it saw there).
fn i386_and_x32_abis_cannot_make_a_socket() -> Result<()> {
    if !cfg!(target_arch = "x86_64") {
        // The i386 and x32 ABIs exist on x86_64 only; the example says `unsupported` elsewhere.
        return Ok(());
    }
    let t = Topology::new()?;
    let prog = example("i386_socket")?;
    let outside = run_bounded(&mut as_nobody(&t, &[&prog]), LIMIT)?;
    eprintln!("{}", outside.describe("outside vrf-exec"));
    let o = fields(&outside.stdout);
    ensure!(
        outside.success()
            && o.get("socket").map(String::as_str) == Some("bound:0")
            && o.get("socketcall").map(String::as_str) == Some("bound:0")
            && o.get("io_uring_setup").map(String::as_str) == Some("fd"),
        "{}\nexpected the i386 calls to work outside vrf-exec (a kernel with IA32 emulation): without it \
         this test proves nothing",
        outside.describe("outside vrf-exec, as nobody")
    );
    let inside = run_bounded(&mut nobody_in(&t, &t.blue.vrf, &[&prog])?, LIMIT)?;
    let i = fields(&inside.stdout);
    let want = [
        ("socket", "errno:EPERM"),
        ("socketcall", "errno:EPERM"),
        ("io_uring_setup", "errno:EPERM"),
        ("x32_socket", "errno:ENOSYS"),
    ];
    ensure!(
        inside.success()
            && want
                .iter()
                .all(|(k, v)| i.get(*k).map(String::as_str) == Some(*v)),
        "{}\nexpected {want:?}",
        inside.describe("under vrf-exec, as nobody")
    );
    Ok(())
}

/// `pktinfo.py RED_PORT_INDEX PORT`: from a socket of its VRF, sends `pktinfo` to the peer address
/// with an `IP_PKTINFO` control message naming red's port as the output device, then `plain` without
/// one; says what each send returned.
const PKTINFO_PY: &str = r#"
import errno, socket, struct, sys
index, port = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("bound=%d" % int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 62, 4), "little"), flush=True)
cm = [(socket.IPPROTO_IP, 8, struct.pack("i4s4s", index, bytes(4), bytes(4)))]
try:
    s.sendmsg([b"pktinfo"], cm, 0, ("10.99.0.2", port))
    print("pktinfo=sent", flush=True)
except OSError as e:
    print("pktinfo=" + errno.errorcode.get(e.errno, str(e.errno)), flush=True)
s.sendto(b"plain", ("10.99.0.2", port))
print("plain=sent", flush=True)
"#;

/// Escape 4, the one the seccomp mode leaves open (the README says so): a socket bound to blue does not
/// pin the device its packets leave through; on Linux 6.1 an `IP_PKTINFO` control message naming red's
/// port sends the datagram out there, to red's peer. The cgroup mode's egress guard drops it; the
/// seccomp mode has no guard (a cgroup BPF program needs privilege). Measured, so that the README's
/// claim stays true: the datagram arrives at red's peer, the plain one of the same socket at blue's.
fn pktinfo_still_sends_through_another_vrfs_port() -> Result<()> {
    let t = Topology::new()?;
    let (_blue_l, to_blue) = listener(&t.blue.peer_ns)?;
    let (_red_l, to_red) = listener(&t.red.peer_ns)?;
    let dir = TempDir::new("sc-pktinfo")?;
    let script = dir.file("pktinfo.py", PKTINFO_PY)?;
    let red_port = ifindex(&t, &t.red.dev)?.to_string();
    let port = PORT.to_string();
    let r = run_bounded(
        &mut nobody_in(
            &t,
            &t.blue.vrf,
            &[PYTHON, path_str(&script)?, &red_port, &port],
        )?,
        LIMIT,
    )?;
    ensure!(
        r.success() && r.stdout.contains("plain=sent"),
        "{}",
        r.describe("the pktinfo sender")
    );
    ensure!(
        eventually(STEP, || got(&to_blue).contains(&"plain".to_string())),
        "{}\nthe plain datagram never reached blue's peer (got {:?})",
        r.describe("sent"),
        got(&to_blue)
    );
    ensure!(
        eventually(STEP, || got(&to_red).contains(&"pktinfo".to_string())),
        "{}\nthe IP_PKTINFO datagram did not reach red's peer (got {:?}): the kernel now refuses it, \
         and the README's seccomp-mode row can say so",
        r.describe("as nobody in blue"),
        got(&to_red)
    );
    Ok(())
}

/// `steal.py control PID`: takes descriptor 0 of process PID (`pidfd_getfd`), prints `control=stolen`
/// or `control=ERRNO`.
/// `steal.py attack`: takes the seccomp listener of its parent, the supervisor (found in
/// `/proc/PPID/fd`, or by trying descriptors 3 to 63 when that cannot be read), stops the supervisor,
/// and answers its own `socket(AF_INET)` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`, so that the kernel
/// makes the socket unsupervised. Prints `stolen=yes|no:WHY`, then, when stolen,
/// `socket=bound:N|errno:E` (N 0: an unbound socket, in the default VRF).
const STEAL_PY: &str = r#"
import ctypes, errno, fcntl, os, signal, socket, struct, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def syscall(*args):
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))
PIDFD_OPEN, PIDFD_GETFD = 434, 438
NOTIF_RECV, NOTIF_SEND, CONTINUE = 0xC0502100, 0xC0182101, 1
def take(pid, fd):
    return syscall(PIDFD_GETFD, syscall(PIDFD_OPEN, pid, 0), fd, 0)
if sys.argv[1] == "control":
    try:
        take(int(sys.argv[2]), 0)
        print("control=stolen")
    except OSError as e:
        print("control=" + name(e))
    sys.exit(0)
sup = os.getppid()
try:
    candidates = [int(f) for f in os.listdir("/proc/%d/fd" % sup)
                  if "seccomp" in os.readlink("/proc/%d/fd/%s" % (sup, f))]
except OSError:
    candidates = list(range(3, 64))
listener, why = None, "no listener"
for fd in candidates:
    try:
        mine = take(sup, fd)
    except OSError as e:
        why = name(e)
        continue
    if "seccomp" in os.readlink("/proc/self/fd/%d" % mine):
        listener = mine
        break
    os.close(mine)
if listener is None:
    print("stolen=no:" + why, flush=True)
    sys.exit(0)
print("stolen=yes", flush=True)
os.kill(sup, signal.SIGSTOP)
try:
    result = {}
    def make():
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            result["r"] = "bound:%d" % int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 62, 4), "little")
        except OSError as e:
            result["r"] = "errno:" + name(e)
    t = threading.Thread(target=make, daemon=True)
    t.start()
    notif = bytearray(80)
    fcntl.ioctl(listener, NOTIF_RECV, notif, True)
    answer = bytearray(struct.pack("QqiI", struct.unpack_from("Q", notif)[0], 0, 0, CONTINUE))
    fcntl.ioctl(listener, NOTIF_SEND, answer, True)
    t.join(10)
    print("socket=" + result.get("r", "none"), flush=True)
finally:
    os.kill(sup, signal.SIGCONT)
"#;

/// Escape 5: the supervisor runs as the command's user, so unless it protects itself (it is not
/// dumpable, say), the command may take its descriptors: `pidfd_getfd` on the seccomp listener, then,
/// with the supervisor stopped, it answers its own `socket()` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`
/// and the kernel makes an unbound socket. The door: on this kernel (Yama's `ptrace_scope` is 0 in the
/// lab) a nobody process takes a descriptor of another, unrelated nobody process. The command must get
/// neither the listener nor an unbound socket.
///
/// The same from root in a user namespace (`unshare -Ur`), which holds CAP_SYS_PTRACE there.
///
/// Failed with the seccomp mode's first version (the supervisor was dumpable: the listener was taken
/// and the socket came unbound, `socket=bound:0`).
fn command_cannot_take_the_supervisors_listener() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-steal")?;
    let script = dir.file("steal.py", STEAL_PY)?;
    let script = path_str(&script)?;
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .unwrap_or_else(|_| "no Yama".into());
    let mut victim = Session::spawn(as_nobody(
        &t,
        &[
            PYTHON,
            "-c",
            "import time; print('ready', flush=True); time.sleep(60)",
        ],
    ))?;
    victim.expect("ready")?;
    let pid = victim.pid().to_string();
    let control = run_bounded(
        &mut as_nobody(&t, &[PYTHON, script, "control", &pid]),
        LIMIT,
    )?;
    drop(victim);
    ensure!(
        control.success() && control.stdout.trim() == "control=stolen",
        "{}\nptrace_scope {}: a nobody process should take a descriptor of another one here; without \
         that this test proves nothing",
        control.describe("the control"),
        scope.trim()
    );
    let r = run_bounded(
        &mut nobody_in(&t, &t.blue.vrf, &[PYTHON, script, "attack"])?,
        LIMIT,
    )?;
    ensure!(
        r.success() && r.stdout.starts_with("stolen=no") && !r.stdout.contains("bound:0"),
        "{}\nthe command took its supervisor's seccomp listener (ptrace_scope {})",
        r.describe("the command attacking its supervisor"),
        scope.trim()
    );
    // Root in a user namespace (a rootless container) holds CAP_SYS_PTRACE over that namespace, which
    // is the supervisor's too: vrf-exec must take it out of the command's reach.
    let exe = vrf_exec_path()?;
    let r = run_bounded(
        &mut as_nobody(
            &t,
            &[
                "unshare",
                "-Ur",
                &exe,
                &t.blue.vrf,
                PYTHON,
                script,
                "attack",
            ],
        ),
        LIMIT,
    )?;
    ensure!(
        r.success() && r.stdout.starts_with("stolen=no") && !r.stdout.contains("bound:0"),
        "{}\nroot in a user namespace took its supervisor's seccomp listener",
        r.describe("the command attacking its supervisor from unshare -Ur")
    );
    Ok(())
}

/// Fail closed at launch: an unknown VRF and a VRF that is down end vrf-exec with 125 before the
/// command runs (its `touch` leaves no file); the same command in blue leaves one (the trace works).
fn unknown_or_down_vrf_runs_nothing() -> Result<()> {
    let t = Topology::new()?;
    let dir = open_dir("sc-closed")?;
    let trace = |name: &str| -> Result<String> { Ok(path_str(&dir.join(name))?.to_string()) };
    t.router_run("ip", &["link", "set", &t.red.vrf, "down"])?
        .ok()?;
    for (vrf, why) in [("nosuchvrf0", "not found"), (t.red.vrf.as_str(), "down")] {
        let file = trace(vrf)?;
        let r = run_bounded(&mut nobody_in(&t, vrf, &["touch", &file])?, LIMIT)?;
        ensure!(
            r.code == Some(125) && r.stderr.contains(why) && !dir.join(vrf).exists(),
            "{}\nexpected exit 125, a message saying {why:?}, and no {file}",
            r.describe(&format!("launch into {vrf}"))
        );
    }
    let file = trace("blue")?;
    let r = run_bounded(&mut nobody_in(&t, &t.blue.vrf, &["touch", &file])?, LIMIT)?;
    ensure!(
        r.success() && dir.join("blue").exists(),
        "{}",
        r.describe("the control: touch in blue should leave its file")
    );
    Ok(())
}

/// `probe.py PORT`: keeps one socket made at start (`ready bound=N`), then for each line on stdin:
/// `new TAG` makes a new socket and sends TAG to the peer with it (`bound=N sent` or `err ERRNO`),
/// `send TAG` sends TAG on the socket made at start (`sent` or `err ERRNO`).
const PROBE_PY: &str = r#"
import errno, socket, sys
port = int(sys.argv[1])
def bound(s):
    return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 62, 4), "little")
def name(e):
    return "err " + errno.errorcode.get(e.errno, str(e.errno))
keep = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready bound=%d" % bound(keep), flush=True)
for line in sys.stdin:
    what, tag = line.split()
    try:
        if what == "new":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            r = "bound=%d" % bound(s)
            s.sendto(tag.encode(), ("10.99.0.2", port))
            r += " sent"
            s.close()
        else:
            keep.sendto(tag.encode(), ("10.99.0.2", port))
            r = "sent"
    except OSError as e:
        r = name(e)
    print(r, flush=True)
"#;

/// The lines of `stderr`, without empty ones.
fn stderr_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Fail closed while running: blue set down makes the command's new sockets fail with `ENETDOWN`,
/// renamed (down, renamed, up) with `ENODEV`; back as it was, they work again. Two tries each, and the
/// supervisor says it once each on stderr.
fn vrf_set_down_or_renamed_while_running_fails_new_sockets() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-down")?;
    let script = dir.file("probe.py", PROBE_PY)?;
    let port = PORT.to_string();
    let blue = t.blue.vrf.clone();
    let index = ifindex(&t, &blue)?;
    let bound = format!("bound={index} sent");
    let renamed = format!("z{}", &blue[1..]);
    let ip = |args: &[&str]| -> Result<()> { t.router_run("ip", args)?.ok().map(drop) };
    let mut s = Session::spawn(nobody_in(&t, &blue, &[PYTHON, path_str(&script)?, &port])?)?;
    s.expect(&format!("ready bound={index}"))?;
    s.ask("new a", &bound)?;
    ip(&["link", "set", &blue, "down"])?;
    s.ask("new b", "err ENETDOWN")?;
    s.ask("new c", "err ENETDOWN")?;
    ip(&["link", "set", &blue, "up"])?;
    s.ask("new d", &bound)?;
    ip(&["link", "set", &blue, "down"])?;
    ip(&["link", "set", &blue, "name", &renamed])?;
    ip(&["link", "set", &renamed, "up"])?;
    s.ask("new e", "err ENODEV")?;
    s.ask("new f", "err ENODEV")?;
    ip(&["link", "set", &renamed, "down"])?;
    ip(&["link", "set", &renamed, "name", &blue])?;
    ip(&["link", "set", &blue, "up"])?;
    s.ask("new g", &bound)?;
    let seen = s.seen.clone();
    let (status, stderr) = s.finish()?;
    let lines = stderr_lines(&stderr);
    let down = lines
        .iter()
        .filter(|l| l.contains("ENETDOWN") && l.contains(&blue))
        .count();
    let gone = lines
        .iter()
        .filter(|l| l.contains("ENODEV") && l.contains(&renamed))
        .count();
    ensure!(
        status.code() == Some(0) && lines.len() == 2 && down == 1 && gone == 1,
        "exit {status:?}, stdout {seen:?}\nstderr: {stderr:?}\nexpected exit 0 and two lines on stderr: \
         one saying {blue} is down (ENETDOWN), one saying it was renamed {renamed} (ENODEV)"
    );
    Ok(())
}

/// Fail closed while running: blue deleted under the command (its port, released to the default VRF,
/// now reaches blue's peer from there: a root sender proves it). The command's new sockets fail with
/// `ENODEV`, its old socket cannot send, nothing of it reaches either peer after the deletion, and the
/// supervisor says so in one line.
fn vrf_deleted_while_running_fails_closed() -> Result<()> {
    let t = Topology::new()?;
    let (_blue_l, to_blue) = listener(&t.blue.peer_ns)?;
    let (_red_l, to_red) = listener(&t.red.peer_ns)?;
    let dir = TempDir::new("sc-deleted")?;
    let script = dir.file("probe.py", PROBE_PY)?;
    let port = PORT.to_string();
    let blue = t.blue.vrf.clone();
    let index = ifindex(&t, &blue)?;
    let mut s = Session::spawn(nobody_in(&t, &blue, &[PYTHON, path_str(&script)?, &port])?)?;
    s.expect(&format!("ready bound={index}"))?;
    s.ask("new before-new", &format!("bound={index} sent"))?;
    s.ask("send before-old", "sent")?;
    ensure!(
        eventually(STEP, || got(&to_blue).len() == 2),
        "{}\nblue's peer got {:?} before the deletion",
        s.describe("the control"),
        got(&to_blue)
    );
    t.router_run("ip", &["link", "del", &blue])?.ok()?;
    s.ask("new after-new-1", "err ENODEV")?;
    s.ask("new after-new-2", "err ENODEV")?;
    let old = s.ask("send after-old", "")?;
    // What an unbound socket would do now: the default VRF reaches blue's peer through the port.
    netns::run_in(&t.router_ns, || {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?.send_to(b"fallback", (PEER_V4, PORT))?;
        Ok(())
    })?;
    ensure!(
        eventually(STEP, || got(&to_blue).contains(&"fallback".to_string())),
        "the default VRF's datagram never reached blue's peer after the deletion (got {:?})",
        got(&to_blue)
    );
    eventually(GRACE, || {
        got(&to_blue).len() > 3 || !got(&to_red).is_empty()
    });
    let seen = s.seen.clone();
    let (status, stderr) = s.finish()?;
    let lines = stderr_lines(&stderr);
    ensure!(
        old.starts_with("err ")
            && got(&to_blue) == ["before-new", "before-old", "fallback"]
            && got(&to_red).is_empty(),
        "stdout {seen:?}\nblue's peer got {:?}, red's {:?}: after the deletion nothing of the command may \
         arrive",
        got(&to_blue),
        got(&to_red)
    );
    ensure!(
        status.code() == Some(0)
            && lines.len() == 1
            && lines[0].contains(&blue)
            && lines[0].contains("ENODEV"),
        "exit {status:?}, stderr {stderr:?}\nexpected exit 0 and one line naming {blue} and ENODEV"
    );
    Ok(())
}

/// Exit statuses: 125 for a bad VRF, 126 for a file that is not executable, 127 for a command not
/// found, the command's own (3), and the command's death by SIGKILL: vrf-exec dies by SIGKILL too
/// (the shell that ran it sees 137, the test sees the signal).
fn exit_statuses_are_the_commands() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-exits")?;
    let not_exec = dir.file("not-executable", "#!/bin/sh\necho ran\n")?;
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644))?;
    let blue = t.blue.vrf.as_str();
    for (vrf, args, want) in [
        ("nosuchvrf0", vec!["true"], 125),
        (blue, vec![path_str(&not_exec)?], 126),
        (blue, vec!["nosuchcommand0"], 127),
        (blue, vec!["sh", "-c", "exit 3"], 3),
    ] {
        let r = run_bounded(&mut nobody_in(&t, vrf, &args)?, LIMIT)?;
        ensure!(
            r.code == Some(want) && !r.stdout.contains("ran"),
            "{}\nexpected exit {want}",
            r.describe("")
        );
    }
    let exe = vrf_exec_path()?;
    let script = format!(
        "{} {blue} sh -c 'kill -KILL $$'; echo status=$?",
        shell_quote(&exe)
    );
    let r = run_bounded(&mut as_nobody(&t, &["sh", "-c", &script]), LIMIT)?;
    ensure!(
        r.success() && r.stdout.trim() == "status=137",
        "{}\nthe shell should see 137 (128 + SIGKILL)",
        r.describe("")
    );
    let (status, r) = run_status(
        &mut nobody_in(&t, blue, &["sh", "-c", "kill -KILL $$"])?,
        LIMIT,
    )?;
    ensure!(
        status.signal() == Some(libc::SIGKILL) && status.code().is_none(),
        "{}\nvrf-exec should die by SIGKILL, got {status:?}",
        r.describe("")
    );
    Ok(())
}

/// `trap.py`: prints `ready PID`, then `got NAME` for each of USR1, HUP, INT, TERM it receives; on TERM
/// also `final NAMES…` (all it got, in order) and exits 3. Gives up after 60 s (exit 99). The handlers
/// only record; the main loop prints (a handler that printed could run again inside its own `print`
/// when the next signal comes at once).
const TRAP_PY: &str = r#"
import os, signal, sys, time
got = []
def on(sig, _frame):
    got.append(signal.Signals(sig).name)
for s in (signal.SIGUSR1, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
    signal.signal(s, on)
print("ready", os.getpid(), flush=True)
printed = 0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    while printed < len(got):
        print("got", got[printed], flush=True)
        printed += 1
        if got[printed - 1] == "SIGTERM":
            print("final", " ".join(got[:printed]), flush=True)
            sys.exit(3)
    time.sleep(0.02)
sys.exit(99)
"#;

/// Signals sent to the supervisor's pid from outside, by root (USR1, HUP) and by nobody (TERM), each
/// reach the command exactly once; vrf-exec ends with the command's status (3). TERM comes last from the
/// same sender, so a duplicate of an earlier signal would be delivered before it and show.
fn signals_sent_to_the_supervisor_reach_the_command_once() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-signals")?;
    let script = dir.file("trap.py", TRAP_PY)?;
    let mut s = Session::spawn(nobody_in(&t, &t.blue.vrf, &[PYTHON, path_str(&script)?])?)?;
    s.expect("ready")?;
    let sup = s.pid();
    ensure!(
        comm(sup) == "vrf-exec",
        "{}",
        s.describe(&format!(
            "pid {sup} is {:?}, not the supervisor vrf-exec",
            comm(sup)
        ))
    );
    kill(sup, Signal::SIGUSR1)?;
    s.expect("got SIGUSR1")?;
    kill(sup, Signal::SIGHUP)?;
    s.expect("got SIGHUP")?;
    let pid = sup.to_string();
    run_bounded(&mut as_nobody(&t, &["kill", "-TERM", &pid]), LIMIT)?.ok()?;
    s.expect("got SIGTERM")?;
    let last = s.expect("final")?;
    let (status, stderr) = s.finish()?;
    ensure!(
        last == "final SIGUSR1 SIGHUP SIGTERM" && status.code() == Some(3),
        "the command got {last:?}, vrf-exec ended {status:?} (stderr {stderr:?}): expected each signal \
         once and exit 3"
    );
    Ok(())
}

/// `on_terminal.py DEADLINE STEPS ARGV…`: runs ARGV on a new pseudo-terminal, as its session leader and
/// foreground process group, and follows STEPS (one a line): `expect TEXT` (waits for TEXT in the
/// output, after what the previous one matched), `send TEXT` (types it; `\n`, `\x03` escapes) and
/// `kill SIGNAME` (to the process started). Prints `transcript <repr>` and `status exited N` or
/// `status signaled N`. Gives up at DEADLINE seconds (kills the process, says `TIMEOUT`).
const PTY_PY: &str = r#"
import os, pty, select, signal, sys, time
deadline = time.monotonic() + float(sys.argv[1])
steps = [l for l in sys.argv[2].split("\n") if l.strip()]
argv = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
buf = b""
def read_some(t):
    global buf
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            return False
        if not d:
            return False
        buf += d
    return True
pos = 0
for st in steps:
    cmd, _, arg = st.partition(" ")
    arg = arg.encode().decode("unicode_escape")
    if cmd == "expect":
        found = True
        while arg.encode() not in buf[pos:]:
            if time.monotonic() > deadline or not read_some(0.1):
                print("TIMEOUT waiting for %r" % arg)
                found = False
                break
        if not found:
            break
        pos = buf.index(arg.encode(), pos) + len(arg)
    elif cmd == "send":
        os.write(fd, arg.encode())
    elif cmd == "kill":
        os.kill(pid, getattr(signal, arg))
while time.monotonic() < deadline and read_some(0.2):
    pass
if time.monotonic() >= deadline:
    print("TIMEOUT at the end")
    os.kill(pid, signal.SIGKILL)
_, st = os.waitpid(pid, 0)
print("transcript", repr(buf.decode(errors="replace")))
print("status", ("exited %d" % os.WEXITSTATUS(st)) if os.WIFEXITED(st) else ("signaled %d" % os.WTERMSIG(st)))
"#;

/// Runs `argv` (as nobody, under vrf-exec in `vrf`) on a pseudo-terminal through `on_terminal.py`, with `steps`;
/// the driver's report and the final status line.
fn on_terminal(
    t: &Topology,
    dir: &TempDir,
    steps: &[&str],
    env: &[(&str, &str)],
    argv: &[&str],
) -> Result<(Run, String)> {
    // Not `pty.py`: the script's directory comes first on its module path, and would shadow `pty`.
    let driver = dir.file("on_terminal.py", PTY_PY)?;
    let exe = vrf_exec_path()?;
    let deadline = (STEP.as_secs() * 2).to_string();
    let steps = steps.join("\n");
    let mut all = vec![
        path_str(&driver)?,
        deadline.as_str(),
        steps.as_str(),
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        exe.as_str(),
        t.blue.vrf.as_str(),
    ];
    all.extend(argv);
    let mut c = t.router_cmd(PYTHON, &all);
    for (k, v) in env {
        c.env(k, v);
    }
    let r = run_bounded(&mut c, LIMIT)?;
    let status = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("status "))
        .unwrap_or("none")
        .to_string();
    ensure!(
        r.success() && !r.stdout.contains("TIMEOUT"),
        "{}",
        r.describe("the terminal driver")
    );
    Ok((r, status))
}

/// Ctrl-C typed on the terminal: the kernel sends SIGINT to the foreground process group, supervisor
/// and command alike; the supervisor must not pass its copy on. A python command that traps it gets it
/// once (a TERM sent afterwards ends it with 3, which vrf-exec returns); a `sleep` dies of it, and so
/// does vrf-exec.
fn ctrl_c_on_a_terminal_reaches_the_command_once() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-ctrlc")?;
    let script = dir.file("trap.py", TRAP_PY)?;
    let (r, status) = on_terminal(
        &t,
        &dir,
        &[
            "expect ready",
            "send \\x03",
            "expect got SIGINT",
            "kill SIGTERM",
        ],
        &[],
        &[PYTHON, path_str(&script)?],
    )?;
    ensure!(
        r.stdout.matches("got SIGINT").count() == 1
            && r.stdout.contains("final SIGINT SIGTERM")
            && status == "exited 3",
        "{}\nexpected SIGINT once, then TERM, and exit 3",
        r.describe("Ctrl-C to a python command")
    );
    let (r, status) = on_terminal(
        &t,
        &dir,
        &["expect go", "send \\x03"],
        &[],
        &["sh", "-c", "echo go; exec sleep 60"],
    )?;
    ensure!(
        status == format!("signaled {}", libc::SIGINT),
        "{}\nexpected vrf-exec to die by SIGINT, as its command did",
        r.describe("Ctrl-C to sleep")
    );
    Ok(())
}

/// An interactive bash under vrf-exec, on a terminal: job control works (no "no job control"; a
/// background job gets a process group of its own), the job shows in `jobs` and is killed by
/// `kill %1` (the `wait` after it returns), and `exit` ends it all with status 0.
fn interactive_bash_keeps_job_control() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-bash")?;
    let steps = [
        "expect JC$ ",
        "send sleep 60 &\\n",
        "expect JC$ ",
        // With job control a background job is a process group of its own: its pgid is its pid.
        "send echo pg=$(( $(ps -o pgid= -p $!) - $! ))\\n",
        "expect \\r\\npg=",
        "expect JC$ ",
        "send jobs\\n",
        "expect Running",
        "expect JC$ ",
        "send kill %1\\n",
        "expect JC$ ",
        // The terminal echoes what is typed: only the shell's answer says `waited=2`.
        "send wait; jobs; echo waited=$((1+1))\\n",
        "expect waited=2",
        "expect JC$ ",
        "send exit\\n",
    ];
    let (r, status) = on_terminal(
        &t,
        &dir,
        &steps,
        &[("PS1", "JC$ ")],
        &["bash", "--norc", "--noprofile", "--noediting", "-i"],
    )?;
    ensure!(
        status == "exited 0"
            && !r.stdout.contains("no job control")
            && !r.stdout.contains("cannot set terminal process group")
            && r.stdout.contains("pg=0")
            && r.stdout.contains("sleep 60")
            && !r.stdout.contains("no such job"),
        "{}\nexpected job control (the job in a group of its own, `pg=0`), the job listed, killed \
         by `kill %1` (else `wait` would not return), and exit 0",
        r.describe("bash -i under vrf-exec")
    );
    Ok(())
}

/// A shell's background children are bound to blue like the shell; a nested `vrf-exec red` inside blue
/// is refused (125, saying it runs inside blue), its command neither bound to red nor unbound.
fn background_children_stay_bound_and_another_vrf_is_refused() -> Result<()> {
    let t = Topology::new()?;
    let bound = example("bound_ifindex")?;
    let exe = vrf_exec_path()?;
    let script = format!(
        "{b} & {b} & wait; {x} {red} {b}; echo status=$?",
        b = shell_quote(&bound),
        x = shell_quote(&exe),
        red = t.red.vrf
    );
    let r = run_bounded(
        &mut nobody_in(&t, &t.blue.vrf, &["sh", "-c", &script])?,
        LIMIT,
    )?;
    let blue = bound_to(ifindex(&t, &t.blue.vrf)?);
    let want = format!("{blue}\n{blue}\nstatus=125");
    ensure!(
        r.success()
            && r.stdout.trim() == want
            && r.stderr.contains(&format!("inside VRF {}", t.blue.vrf)),
        "{}\nexpected:\n{want}\nand a message saying vrf-exec runs inside VRF {}",
        r.describe("background children and a nested launch into red"),
        t.blue.vrf
    );
    Ok(())
}

/// A nested `vrf-exec blue` inside blue (a script that calls vrf-exec itself): its command runs, bound
/// to blue.
///
/// Failed with the seccomp mode's first version: the kernel allows one listener per filter chain
/// (`seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)` fails with `EBUSY` under a filter that has one), so the
/// nested launch ended with 125; it now finds its sockets bound to blue already and execs in place.
fn nested_launch_into_the_same_vrf_works() -> Result<()> {
    let t = Topology::new()?;
    let bound = example("bound_ifindex")?;
    let exe = vrf_exec_path()?;
    let script = format!(
        "{} {} {}; echo status=$?",
        shell_quote(&exe),
        t.blue.vrf,
        shell_quote(&bound)
    );
    let r = run_bounded(
        &mut nobody_in(&t, &t.blue.vrf, &["sh", "-c", &script])?,
        LIMIT,
    )?;
    let want = format!("{}\nstatus=0", bound_to(ifindex(&t, &t.blue.vrf)?));
    ensure!(
        r.success() && r.stdout.trim() == want,
        "{}\nexpected:\n{want}",
        r.describe("vrf-exec blue inside vrf-exec blue")
    );
    Ok(())
}

/// A process the command leaves behind (`(…) & exit 0`) stays with the supervisor (its subreaper): the
/// command ends, vrf-exec keeps running, the process's sockets made afterwards are still bound to blue,
/// and vrf-exec returns, with the command's status, only once it has ended.
fn processes_left_behind_stay_supervised() -> Result<()> {
    let t = Topology::new()?;
    let dir = open_dir("sc-left")?;
    let go = dir.join("go");
    let out = dir.join("out");
    let bound = example("bound_ifindex")?;
    // Bounded: gives up after 30 s without `go`.
    let script = format!(
        "(i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; {b} > {out}) \
         </dev/null >/dev/null 2>&1 & echo $$ $!",
        go = shell_quote(path_str(&go)?),
        out = shell_quote(path_str(&out)?),
        b = shell_quote(&bound)
    );
    let mut s = Session::spawn(nobody_in(&t, &t.blue.vrf, &["sh", "-c", &script])?)?;
    let pids = s.expect("")?;
    let (Some(Ok(command)), Some(Ok(left))) = ({
        let mut it = pids.split_whitespace().map(str::parse::<i32>);
        (it.next(), it.next())
    }) else {
        bail!("{}", s.describe("expected `PID PID`"));
    };
    ensure!(
        eventually(STEP, || ended(command)),
        "{}",
        s.describe("the command (sh) did not end")
    );
    let sup = s.pid().as_raw();
    ensure!(
        s.running()? && ppid(left) == Some(sup),
        "{}",
        s.describe(&format!(
            "the command ended: vrf-exec (pid {sup}) must still run, as the parent of the process left \
             behind (pid {left}, parent {:?})",
            ppid(left)
        ))
    );
    std::fs::write(&go, "")?;
    let (status, stderr) = s.finish()?;
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    let blue = bound_to(ifindex(&t, &t.blue.vrf)?);
    ensure!(
        status.code() == Some(0) && written.trim() == blue && ended(left),
        "exit {status:?}, stderr {stderr:?}; the process left behind wrote {written:?}: expected {blue}, \
         and vrf-exec to return after it ended"
    );
    Ok(())
}

/// `fds.py`: the open descriptors of the process, `N:target …` (the one listing them included).
const FDS_PY: &str = r#"
import os
out = []
for f in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        out.append("%s:%s" % (f, os.readlink("/proc/self/fd/" + f)))
    except OSError:
        out.append("%s:closed" % f)
print(" ".join(out))
"#;

/// Closes every descriptor above 2, then execs `argv[1:]`.
const CLOSE_AND_EXEC_PY: &str =
    "import os, sys; os.closerange(3, 1 << 20); os.execvp(sys.argv[1], sys.argv[1:])";

/// The supervisor keeps nothing of its own open in the command (no seccomp listener, no socket pair,
/// no signalfd): started with 0, 1 and 2 only, the command has the same descriptors as the same
/// program run without vrf-exec: 0, 1, 2 and the one it lists them with.
fn no_descriptor_of_the_supervisor_leaks() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("sc-fds")?;
    let script = dir.file("fds.py", FDS_PY)?;
    let script = path_str(&script)?;
    let numbers = |r: &Run| -> Vec<String> {
        r.stdout
            .split_whitespace()
            .filter_map(|f| f.split_once(':'))
            .map(|(n, _)| n.to_string())
            .collect()
    };
    let exe = vrf_exec_path()?;
    // Only 0, 1 and 2 open from the start: the lab VM's init leaves descriptors of its own to the
    // tests, which every child would inherit.
    let only_012 = |args: &[&str]| -> Result<Run> {
        let mut all = vec![
            "-c",
            CLOSE_AND_EXEC_PY,
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ];
        all.extend(args);
        run_bounded(&mut t.router_cmd(PYTHON, &all), LIMIT)?.ok()
    };
    let outside = only_012(&[PYTHON, script])?;
    let inside = only_012(&[&exe, &t.blue.vrf, PYTHON, script])?;
    ensure!(
        numbers(&outside) == ["0", "1", "2", "3"] && numbers(&inside) == numbers(&outside),
        "outside vrf-exec: {}\nunder vrf-exec:   {}\nexpected 0, 1, 2 and the listing's own in both",
        outside.stdout.trim(),
        inside.stdout.trim()
    );
    Ok(())
}

/// `orphan.py DIR`: forks a process of its own session that waits (up to 30 s) for `DIR/go`, then tries
/// an AF_INET socket and a unix one and writes what happened to `DIR/orphan`; prints `ready PID`
/// and sleeps.
const ORPHAN_PY: &str = r#"
import errno, os, socket, sys, time
d = sys.argv[1]
child = os.fork()
if child == 0:
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for _ in range(600):
        if os.path.exists(d + "/go"):
            break
        time.sleep(0.05)
    out = []
    for fam, name in ((socket.AF_INET, "inet"), (socket.AF_UNIX, "unix")):
        try:
            socket.socket(fam, socket.SOCK_DGRAM).close()
            out.append(name + "=ok")
        except OSError as e:
            out.append(name + "=" + errno.errorcode.get(e.errno, str(e.errno)))
    with open(d + "/orphan.tmp", "w") as f:
        f.write(" ".join(out) + "\n")
    os.rename(d + "/orphan.tmp", d + "/orphan")
    os._exit(0)
print("ready", os.getpid(), flush=True)
time.sleep(60)
"#;

/// The supervisor killed (SIGKILL): the command, its direct child, dies with it (`PR_SET_PDEATHSIG`);
/// a process the command had left in a session of its own outlives it, and from then on gets `ENOSYS`
/// for every AF_INET socket (never an unbound one), while a unix socket still works.
fn killed_supervisor_takes_the_command_and_starves_the_rest() -> Result<()> {
    let t = Topology::new()?;
    let dir = open_dir("sc-sup-death")?;
    let script = dir.file("orphan.py", ORPHAN_PY)?;
    let mut s = Session::spawn(nobody_in(
        &t,
        &t.blue.vrf,
        &[PYTHON, path_str(&script)?, path_str(dir.path())?],
    )?)?;
    let ready = s.expect("ready")?;
    let command: i32 = ready
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .with_context(|| s.describe("no pid"))?;
    let sup = s.pid();
    ensure!(
        comm(sup) == "vrf-exec" && ppid(command) == Some(sup.as_raw()),
        "{}",
        s.describe(&format!(
            "pid {sup} should be vrf-exec ({:?}) and the parent of the command {command}",
            comm(sup)
        ))
    );
    kill(sup, Signal::SIGKILL)?;
    let (status, _) = s.finish()?;
    ensure!(
        status.signal() == Some(libc::SIGKILL),
        "vrf-exec ended {status:?}"
    );
    ensure!(
        eventually(STEP, || ended(command)),
        "the command (pid {command}) outlived its killed supervisor"
    );
    std::fs::write(dir.join("go"), "")?;
    let report = dir.join("orphan");
    ensure!(
        eventually(STEP, || report.exists()),
        "the process left behind never reported"
    );
    let got = std::fs::read_to_string(&report)?;
    ensure!(
        got.trim() == "inet=ENOSYS unix=ok",
        "the process left behind by the command got {got:?} after the supervisor died: expected \
         inet=ENOSYS unix=ok"
    );
    Ok(())
}
