//! The system calls nix and socket2 do not wrap; every `unsafe` of vrf-ping lives here.
//!
//! - `ICMP_FILTER` (raw ICMPv4) and `ICMP6_FILTER` (raw ICMPv6): which ICMP types reach the socket.
//! - Signals: SIGINT and SIGQUIT set a flag and wake the main loop through a self-pipe, so a signal that
//!   arrives just before `poll` is never missed; SIGPIPE goes back to its default (die quietly, like
//!   iputils, when the reader of our output goes away).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// `ICMP_FILTER` (linux/icmp.h), at level `SOL_RAW`.
const ICMP_FILTER: libc::c_int = 1;
/// `ICMP6_FILTER` (linux/icmpv6.h), at level `IPPROTO_ICMPV6`.
const ICMP6_FILTER: libc::c_int = 1;

/// Lets only the ICMPv4 types in `pass` reach the raw socket `fd` (`struct icmp_filter`: a bit set is a
/// type blocked; types above 31 always pass).
pub fn set_icmp_filter(fd: BorrowedFd<'_>, pass: &[u8]) -> io::Result<()> {
    let mut blocked: u32 = !0;
    for &t in pass.iter().filter(|t| **t < 32) {
        blocked &= !(1 << t);
    }
    setsockopt(fd.as_raw_fd(), libc::SOL_RAW, ICMP_FILTER, &blocked)
}

/// Lets only the ICMPv6 types in `pass` reach the raw socket `fd` (`struct icmp6_filter`: 256 bits, a
/// bit set is a type blocked).
pub fn set_icmp6_filter(fd: BorrowedFd<'_>, pass: &[u8]) -> io::Result<()> {
    let mut blocked = [!0u32; 8];
    for &t in pass {
        blocked[usize::from(t >> 5)] &= !(1 << (t & 31));
    }
    setsockopt(fd.as_raw_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, &blocked)
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live reference to a plain value of `size_of::<T>()` bytes, which the kernel
    // only reads; an invalid fd or option is reported as an error.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static STATUS: AtomicBool = AtomicBool::new(false);
/// The self-pipe's write end, or -1 before [`catch_signals`].
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    if signal == libc::SIGQUIT {
        STATUS.store(true, Ordering::SeqCst);
    } else {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking (a full pipe already wakes
        // the loop) and lives for the rest of the process; errno is saved and restored around it.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Installs the SIGINT and SIGQUIT handlers (SIGTERM keeps its default, as in iputils) and returns the self-pipe's read end, readable
/// once a signal arrived. Call once.
pub fn catch_signals() -> io::Result<OwnedFd> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)?;
    // The write end stays open for the life of the process: the handler may run at any time.
    WAKE_FD.store(std::os::fd::IntoRawFd::into_raw_fd(write), Ordering::SeqCst);
    // No SA_RESTART: a signal also ends a blocking call at once.
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: the handler only touches atomics and calls write(2), which is async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(read)
}

/// True once SIGINT arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// True (once per SIGQUIT) when a status line was asked for.
pub fn take_status_request() -> bool {
    STATUS.swap(false, Ordering::SeqCst)
}

/// Empties the self-pipe after a wake-up.
pub fn drain_wake_pipe(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    while matches!(nix::unistd::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Restores SIGPIPE's default action (the Rust runtime ignores it), so that `vrf-ping … | head` ends
/// like iputils ping instead of reporting a write error.
pub fn default_sigpipe() {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing the default disposition runs no code of ours in signal context.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &action) };
}
