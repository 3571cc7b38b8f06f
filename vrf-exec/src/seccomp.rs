//! The seccomp mode: a launch that needs no privilege, no cgroup and no BPF.
//!
//! vrf-exec forks. The child sets `no_new_privs`, installs the filter of [`crate::filter`] with a
//! listener, hands the listener to the parent over a unix socket pair, and execs the command. From then
//! on every `socket(AF_INET | AF_INET6, …)` of the command and of every process it starts (the filter is
//! inherited across fork and exec and cannot be removed) blocks while the parent, the supervisor, makes a
//! socket of the same type, protocol and flags, binds it to the VRF by ifindex (`SO_BINDTOIFINDEX`,
//! allowed without privilege on a socket not yet bound since Linux 5.7), checks that the device is still
//! the VRF it launched into (same name, up), and installs it in the command as the call's result
//! (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`, Linux 5.14). When any step fails, the
//! command's `socket()` fails with that errno (`ENODEV` for a VRF deleted or renamed, `ENETDOWN` for one
//! down): it never gets an unbound socket. A bound socket stays bound: changing or removing the binding
//! needs CAP_NET_RAW, which the command does not have over the host's network namespace.
//!
//! The supervisor is not dumpable, so that processes of its user (the command among them) cannot
//! ptrace it, read or write its memory, or take its descriptors with `pidfd_getfd` (all need
//! CAP_SYS_PTRACE then): it is the one process of that user that makes unbound sockets, if only for a
//! moment. It is a transparent parent: it forwards TERM, HUP, INT, QUIT, USR1, USR2, WINCH and CONT
//! (not those the terminal already sent to the command's process group), leaves stdin, stdout, stderr and
//! the terminal alone, and ends as the command ended: with its exit status, or by the same signal. It is
//! a child subreaper, so processes the command leaves behind stay its children and stay supervised; it
//! returns once the command and all of them have ended. The command dies with it
//! (`PR_SET_PDEATHSIG`); a descendant that outlives a killed supervisor gets `ENOSYS` from every
//! `socket(AF_INET | AF_INET6)`, never an unbound socket.

use std::ffi::CString;
use std::io::{self, IoSlice, IoSliceMut};
use std::num::NonZeroU32;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    AddressFamily as NixFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    recvmsg, sendmsg, socketpair,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, getpgrp, getpid, getppid};
use vrf_socket::Vrf;

use crate::identity::Caps;
use crate::procfs::{self, Stat};
use crate::{EXIT_FAILURE, exec, filter, sys};

/// The signals the supervisor passes on to the command.
const FORWARDED: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// `si_code` of a signal the kernel sent (a terminal's INT, QUIT, WINCH to its foreground group).
const SI_KERNEL: i32 = 0x80;

/// The VRF the supervisor binds sockets to, as it was at launch.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    pub index: NonZeroU32,
}

impl Binding {
    pub fn of(vrf: &Vrf) -> Binding {
        Binding {
            name: vrf.name().to_string(),
            index: vrf.index(),
        }
    }
}

/// Whether this kernel has what the seccomp mode needs; `Err` says what is missing.
pub fn kernel_support() -> Result<(), String> {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let version: Vec<u32> = release
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    if version.len() == 2 && (version[0], version[1]) < (5, 14) {
        return Err(format!(
            "Linux {release} is older than 5.14, which added SECCOMP_ADDFD_FLAG_SEND"
        ));
    }
    if !sys::seccomp_user_notif_available() {
        return Err("the kernel has no seccomp user notification (CONFIG_SECCOMP_FILTER)".into());
    }
    Ok(())
}

/// What [`probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// New sockets of this process come unbound, and one was bound to the VRF: supervise.
    Binds,
    /// New sockets of this process come bound to the VRF already: a launch nested in the same VRF
    /// (under a supervisor, whose filter admits no second listener, or in the VRF's cgroup), or the
    /// default VRF asked for outside any VRF. Nothing to supervise: exec in place.
    AlreadyThere,
}

/// Checks, before anything runs, that this process can give the command sockets in `vrf`: a test
/// socket must bind to it, or be bound to it already (a launch nested in the same VRF); one bound
/// elsewhere means vrf-exec itself runs inside another VRF, which it cannot leave without privilege.
/// `None` (the default VRF): the test socket must be unbound.
pub fn probe(vrf: Option<&Binding>) -> Result<Probe> {
    let sock = match sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        .or_else(|_| sys::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0))
    {
        Ok(s) => s,
        Err(e) => bail!("cannot make a test socket: {e}"),
    };
    let bound = vrf_socket::bound_index(&sock).context("reading a test socket's binding")?;
    match (vrf, bound) {
        (Some(v), Some(b)) if b == v.index => Ok(Probe::AlreadyThere),
        (_, Some(b)) => {
            let there = Vrf::by_index(b).map_or(format!("ifindex {b}"), |d| {
                format!("VRF {} (ifindex {b})", d.name())
            });
            let want = vrf.map_or("the default VRF".to_string(), |v| {
                format!("VRF {} (ifindex {})", v.name, v.index)
            });
            bail!(
                "vrf-exec itself runs inside {there}: its sockets come bound there, and moving them \
                 to {want} needs CAP_NET_RAW; run it from outside that VRF"
            )
        }
        (Some(v), None) => {
            bind(&sock, v).map_err(|(_, why)| anyhow!(why))?;
            Ok(Probe::Binds)
        }
        (None, None) => Ok(Probe::AlreadyThere),
    }
}

/// Binds `sock` to `vrf`, then checks that the device at that index is still the VRF launched into:
/// the errno the command's `socket()` gets when not, with a message for the supervisor to print once.
fn bind(sock: &OwnedFd, vrf: &Binding) -> Result<(), (Errno, String)> {
    let fail = |e: io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    // Bound first, read back only when that fails (one system call less per socket): a socket that
    // comes bound already cannot be re-bound without CAP_NET_RAW.
    if let Err(e) = vrf_socket::bind_to_index(sock, vrf.index) {
        let errno = fail(e);
        let why = match (errno, vrf_socket::bound_index(sock)) {
            // Bound to this VRF already (by a hook of the cgroup this process is in): fine.
            (Errno::EPERM, Ok(Some(i))) if i == vrf.index => String::new(),
            (Errno::EPERM, Ok(Some(i))) => format!(
                "a new socket comes bound to ifindex {i}, not to VRF {} (ifindex {}): vrf-exec runs \
                 inside another VRF",
                vrf.name, vrf.index
            ),
            (Errno::EPERM, _) => format!(
                "binding a socket to VRF {} needs Linux 5.7 or CAP_NET_RAW: new sockets of the \
                 command fail with EPERM",
                vrf.name
            ),
            (Errno::ENODEV, _) => format!(
                "VRF {} (ifindex {}) is gone: new sockets of the command fail with ENODEV",
                vrf.name, vrf.index
            ),
            (e, _) => format!(
                "binding a socket to VRF {} (ifindex {}) failed: {e}",
                vrf.name, vrf.index
            ),
        };
        if !why.is_empty() {
            return Err((errno, why));
        }
    }
    match sys::if_name_and_flags(sock.as_fd(), vrf.index.get()) {
        Ok((name, _)) if name != vrf.name => Err((
            Errno::ENODEV,
            format!(
                "VRF {} (ifindex {}) was renamed {name}: new sockets of the command fail with ENODEV",
                vrf.name, vrf.index
            ),
        )),
        Ok((_, flags)) if flags & libc::IFF_UP as i16 == 0 => Err((
            Errno::ENETDOWN,
            format!(
                "VRF {} is down: new sockets of the command fail with ENETDOWN",
                vrf.name
            ),
        )),
        Ok(_) => Ok(()),
        // SO_BINDTOIFINDEX takes an index that no longer exists; this is where it shows.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Err((
            Errno::ENODEV,
            format!(
                "VRF {} (ifindex {}) is gone: new sockets of the command fail with ENODEV",
                vrf.name, vrf.index
            ),
        )),
        Err(e) => {
            let errno = fail(e);
            Err((
                errno,
                format!(
                    "VRF {} (ifindex {}) cannot be read: {errno}",
                    vrf.name, vrf.index
                ),
            ))
        }
    }
}

/// Runs `command` under the supervisor, bound to `vrf`. Returns how vrf-exec should end: the command's
/// exit status, or 125 when the launch failed before the command ran (126/127 when exec failed, as the
/// child reports). A command killed by a signal ends this process by the same signal, here.
pub fn run(vrf: &Binding, command: &[String], env: Option<&[CString]>) -> Result<ExitCode> {
    let argv: Vec<CString> = command
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("an argument contains a NUL byte"))?;
    let program = filter::program();
    let (ours, theirs) = socketpair(
        NixFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair for the seccomp listener")?;
    // Signals wait in a signalfd from now on: none is lost between fork and the loop.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for s in FORWARDED {
        mask.add(s);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old)).context("sigprocmask")?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    // Not dumpable, from before the fork on (the child's exec makes the command dumpable again): a
    // process of the same user, the command included, can neither ptrace the supervisor, nor read or
    // write its memory, nor take its descriptors with pidfd_getfd (its listener: answering its own
    // calls with SECCOMP_USER_NOTIF_FLAG_CONTINUE would make unbound sockets); that takes
    // CAP_SYS_PTRACE, which the child gives up for good (see `child`).
    nix::sys::prctl::set_dumpable(false).context("PR_SET_DUMPABLE")?;
    let parent = getpid();
    match sys::fork().context("fork")? {
        ForkResult::Child => {
            drop(ours);
            child(parent, &old, &program, theirs, &argv, env)
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            let listener = receive_listener(&ours);
            drop(ours);
            let listener = match listener {
                Ok(Some(l)) => l,
                // The child failed before exec and said why on stderr; its status is ours.
                Ok(None) => return Ok(end_like(wait_for(child)?)),
                Err(e) => {
                    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                    let _ = wait_for(child);
                    return Err(e.context("receiving the seccomp listener from the command"));
                }
            };
            let status = supervise(vrf, child, &listener, &signals)?;
            Ok(end_like(status))
        }
    }
}

/// The child, between fork and exec. Never returns.
fn child(
    parent: Pid,
    old_mask: &SigSet,
    program: &[libc::sock_filter],
    to_parent: OwnedFd,
    argv: &[CString],
    env: Option<&[CString]>,
) -> ! {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("vrf-exec: {what}: {e}; the command was not run");
        sys::exit_now(i32::from(EXIT_FAILURE))
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        fail("PR_SET_PDEATHSIG", &e);
    }
    if getppid() != parent {
        fail(
            "vrf-exec ended before the command started",
            &"no supervisor",
        );
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(old_mask), None) {
        fail("sigprocmask", &e);
    }
    // CAP_SYS_PTRACE out of the bounding set and no ambient capabilities, so that no exec gives it to
    // the command: root in a user namespace (`unshare -Ur`, a rootless container) would otherwise hold
    // it over the supervisor's namespace and could take the supervisor's listener. Without
    // CAP_SETPCAP (an ordinary user) there is nothing to drop: EPERM is fine then.
    match sys::drop_bounding_cap(CAP_SYS_PTRACE) {
        Ok(()) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {}
        Err(e) => fail("PR_CAPBSET_DROP(CAP_SYS_PTRACE)", &e),
    }
    if let Err(e) = sys::clear_ambient_caps() {
        fail("PR_CAP_AMBIENT_CLEAR_ALL", &e);
    }
    if holds_sys_ptrace() {
        fail(
            "the command would keep CAP_SYS_PTRACE (it is in vrf-exec's permitted set and cannot be \
             dropped without CAP_SETPCAP), with which it could take the supervisor's listener",
            &"refused",
        );
    }
    if let Err(e) = nix::sys::prctl::set_no_new_privs() {
        fail("PR_SET_NO_NEW_PRIVS", &e);
    }
    let listener = match sys::seccomp_filter_with_listener(program) {
        Ok(l) => l,
        Err(e) => fail("installing the seccomp filter", &e),
    };
    let fds = [listener.as_raw_fd()];
    let sent = sendmsg::<()>(
        to_parent.as_raw_fd(),
        &[IoSlice::new(b"L")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    if let Err(e) = sent {
        fail("handing the seccomp listener to the supervisor", &e);
    }
    drop(listener);
    drop(to_parent);
    let e = exec::exec_args(argv, env);
    eprintln!("vrf-exec: {}", e.message);
    sys::exit_now(i32::from(e.status))
}

/// `CAP_SYS_PTRACE` (linux/capability.h).
const CAP_SYS_PTRACE: u32 = 19;

/// Whether the command could still get CAP_SYS_PTRACE: it is in this process's bounding set and its
/// permitted or inheritable set (what an exec as uid 0, or of a file with capabilities, can keep).
fn holds_sys_ptrace() -> bool {
    let caps = Caps::of_self().unwrap_or_default();
    let bit = 1u64 << CAP_SYS_PTRACE;
    // no_new_privs (set next) keeps file capabilities from adding to the permitted set; uid 0 gets
    // the bounding set; anything else keeps at most its inheritable and ambient sets.
    let uid0 = nix::unistd::getuid().is_root() || nix::unistd::geteuid().is_root();
    caps.bounding & bit != 0 && (uid0 || (caps.inheritable | caps.ambient) & bit != 0)
}

/// The listener the child sends; `None` when it closed its end first (it failed and said why).
fn receive_listener(sock: &OwnedFd) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.context("recvmsg")?,
        }
    };
    if msg.bytes == 0 {
        return Ok(None);
    }
    for c in msg.cmsgs().context("reading the control message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut fds = fds.into_iter();
            if let Some(fd) = fds.next() {
                let owned = sys::received_fd(fd);
                for extra in fds {
                    drop(sys::received_fd(extra));
                }
                return Ok(Some(owned));
            }
        }
    }
    bail!("the message carried no file descriptor")
}

/// The supervisor's loop: answers the command's `socket()` calls, forwards signals, reaps children.
/// Returns how the command (`command`, the first child) ended, once it and every process left behind
/// with this one as its subreaper have ended.
fn supervise(
    vrf: &Binding,
    command: Pid,
    listener: &OwnedFd,
    signals: &SignalFd,
) -> Result<WaitStatus> {
    let mut status: Option<WaitStatus> = None;
    let mut listening = true;
    let mut told = Vec::<Errno>::new();
    loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if listening {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        let sig_ready = fds[0].any().unwrap_or(false);
        let notif = fds
            .get(1)
            .and_then(PollFd::revents)
            .unwrap_or(PollFlags::empty());
        if notif.contains(PollFlags::POLLIN) {
            answer(listener.as_fd(), vrf, &mut told);
        } else if notif.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // No process uses the filter any more (Linux 5.8): only reaping is left.
            listening = false;
        }
        if sig_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                if sig == Signal::SIGCHLD {
                    continue;
                }
                forward(sig, &info, command, status.is_some());
            }
            // Reap whatever ended; SIGCHLDs merge, so look until nothing is left to reap.
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                    Ok(WaitStatus::StillAlive) => break,
                    Ok(s) if s.pid() == Some(command) => status = Some(s),
                    Ok(_) => {}
                    Err(Errno::EINTR) => {}
                    Err(Errno::ECHILD) => {
                        return status.ok_or_else(|| anyhow!("the command's status was lost"));
                    }
                    Err(e) => return Err(e).context("waitpid"),
                }
            }
        }
    }
}

/// Answers one waiting `socket()` call with a socket bound to `vrf`, or the errno that says why not.
/// Says on stderr, once per errno, why sockets are refused.
fn answer(listener: BorrowedFd<'_>, vrf: &Binding, told: &mut Vec<Errno>) {
    let req = match sys::notif_recv(listener) {
        Ok(r) => r,
        // The caller went away (ENOENT), or a signal: nothing to answer.
        Err(_) => return,
    };
    if req.data.nr != filter::NATIVE.socket as i32 {
        let _ = sys::notif_send_error(listener, req.id, libc::ENOSYS);
        return;
    }
    // socket(2) takes ints: the kernel would read the low 32 bits, and so do we.
    let (domain, ty, proto) = (
        req.data.args[0] as i32,
        req.data.args[1] as i32,
        req.data.args[2] as i32,
    );
    let made = sys::socket(domain, ty | libc::SOCK_CLOEXEC, proto)
        .map_err(|e| (Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)), None))
        .and_then(|s| match bind(&s, vrf) {
            Ok(()) => Ok(s),
            Err((errno, why)) => Err((errno, Some(why))),
        });
    match made {
        Ok(sock) => {
            let cloexec = ty & libc::SOCK_CLOEXEC != 0;
            match sys::notif_addfd_send(listener, req.id, sock.as_fd(), cloexec) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(libc::EIO);
                    let _ = sys::notif_send_error(listener, req.id, errno);
                }
            }
        }
        Err((errno, why)) => {
            if let Some(why) = why
                && !told.contains(&errno)
            {
                told.push(errno);
                eprintln!("vrf-exec: {why}");
            }
            let _ = sys::notif_send_error(listener, req.id, errno as i32);
        }
    }
}

/// Passes signal `sig` on: to the command while it runs, then to the processes it left behind. Not when
/// the command is in this process's group and the terminal sent the signal to that group (Ctrl-C,
/// Ctrl-\\, a resize: the command has it already), nor when the command sent it. A signal another
/// process sends to the whole group (`kill -TERM -PGID`, `timeout`) reaches a command in that group
/// twice: once directly, once from vrf-exec, which cannot tell it from one sent to its own pid (which
/// must be passed on).
fn forward(sig: Signal, info: &nix::sys::signalfd::siginfo, command: Pid, ended: bool) {
    let same_group = nix::unistd::getpgid(Some(command)).is_ok_and(|g| g == getpgrp());
    let from_command = info.ssi_pid == command.as_raw() as u32;
    if same_group && (info.ssi_code == SI_KERNEL || from_command) {
        return;
    }
    if !ended {
        let _ = nix::sys::signal::kill(command, sig);
        return;
    }
    for pid in children() {
        let _ = nix::sys::signal::kill(pid, sig);
    }
}

/// This process's children (those left behind included), from `/proc/self/task/*/children`.
fn children() -> Vec<Pid> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .map(Pid::from_raw),
                );
            }
        }
    }
    out
}

/// Waits for `pid` to end (signals stay blocked: the loop is not running).
fn wait_for(pid: Pid) -> Result<WaitStatus> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(s),
            Ok(_) => continue,
            Err(e) => return Err(e).context("waitpid"),
        }
    }
}

/// Ends as the command ended: its exit status, or its signal raised on ourselves with the default
/// action (no core file of ours), so that the shell sees what it would have seen of the command.
fn end_like(status: WaitStatus) -> ExitCode {
    match status {
        WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
        WaitStatus::Signaled(_, sig, _) => {
            let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
            sys::default_action(sig);
            let mut set = SigSet::empty();
            set.add(sig);
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
            let _ = nix::sys::signal::raise(sig);
            ExitCode::from(128 + sig as u8)
        }
        _ => ExitCode::from(EXIT_FAILURE),
    }
}

/// The VRF of process `pid` when it runs under a seccomp-mode supervisor: the nearest ancestor that is
/// a vrf-exec launch (comm `vrf-exec`, a launch's command line) while `pid` carries a seccomp filter.
/// `None` otherwise, and for the supervisor itself, whose own sockets are not bound.
pub fn vrf_of(pid: u32) -> Option<String> {
    if !filtered(pid) {
        return None;
    }
    let mut at = stat(pid)?.ppid;
    // Bounded: a pid's ancestry is finite, but /proc can change under us.
    for _ in 0..4096 {
        if at <= 1 {
            return None;
        }
        if let Some(vrf) = supervised_vrf(at) {
            return Some(vrf);
        }
        at = stat(at)?.ppid;
    }
    None
}

/// The processes supervised in VRF `vrf` in the seccomp mode: every filtered descendant of a
/// vrf-exec supervisor launched into it.
pub fn pids_in(vrf: &str) -> Vec<u32> {
    pids_by_vrf().remove(vrf).unwrap_or_default()
}

/// Every process supervised in the seccomp mode, by VRF (one pass over `/proc`).
pub fn pids_by_vrf() -> std::collections::HashMap<String, Vec<u32>> {
    let all: Vec<Stat> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(stat)
                .collect()
        })
        .unwrap_or_default();
    let mut out = std::collections::HashMap::<String, Vec<u32>>::new();
    for sup in all.iter().filter(|s| s.comm == "vrf-exec") {
        let Some(vrf) = supervised_vrf(sup.pid) else {
            continue;
        };
        let found = out.entry(vrf).or_default();
        let mut frontier = vec![sup.pid];
        while let Some(p) = frontier.pop() {
            for c in all.iter().filter(|s| s.ppid == p) {
                if filtered(c.pid) && !found.contains(&c.pid) {
                    found.push(c.pid);
                    frontier.push(c.pid);
                }
            }
        }
    }
    for pids in out.values_mut() {
        pids.sort_unstable();
    }
    out
}

/// The VRF that process `pid` supervises, when it is a vrf-exec launch.
fn supervised_vrf(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim_end() != "vrf-exec" {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    procfs::launched_vrf(&cmdline)
}

/// Whether process `pid` runs under a seccomp filter (`Seccomp: 2` in its status).
fn filtered(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|s| procfs::seccomp_filtered(&s))
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    procfs::parse_stat(pid, &text)
}
