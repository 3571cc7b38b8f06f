//! Ctrl-C and Ctrl-\ as iputils handles them, through signal-hook.
//!
//! - SIGINT sets a flag: the loop stops, prints the statistics and exits with the usual status.
//! - SIGQUIT sets another flag: the loop prints the status line on stderr and goes on.
//! - Both also write a byte to a socket pair that the loop's `ppoll` watches, so a signal that
//!   arrives after the loop checked the flags and before it went to sleep wakes it at once (the
//!   self-pipe pattern; the flag is set before the byte is written, and the loop empties the pipe
//!   before it reads the flags again).
//! - SIGPIPE keeps (gets back) its default action, see `sys::default_sigpipe`; SIGTERM keeps its
//!   default, as in iputils.
//!
//! signal-hook installs its handlers with `SA_RESTART`, where the previous hand-made handler had none.
//! That changes nothing here: `ppoll` is never restarted by the kernel (it returns `EINTR`, and the
//! pipe is readable anyway), the ICMP socket is non-blocking, and a write to standard output that a
//! signal interrupts is retried by the standard library either way.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGQUIT};

/// The caught signals: flags, and the read end of the wake-up pipe.
#[derive(Debug)]
pub struct Signals {
    interrupted: Arc<AtomicBool>,
    status: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Signals {
    /// Catches SIGINT and SIGQUIT from now on. Call once.
    pub fn catch() -> io::Result<Signals> {
        let (wake, write) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let interrupted = Arc::new(AtomicBool::new(false));
        let status = Arc::new(AtomicBool::new(false));
        // Actions run in the order they were registered: the flag first, then the wake-up.
        signal_hook::flag::register(SIGINT, Arc::clone(&interrupted))?;
        signal_hook::flag::register(SIGQUIT, Arc::clone(&status))?;
        signal_hook::low_level::pipe::register(SIGINT, write.try_clone()?)?;
        signal_hook::low_level::pipe::register(SIGQUIT, write)?;
        Ok(Signals {
            interrupted,
            status,
            wake,
        })
    }

    /// True once SIGINT arrived.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// True (once per SIGQUIT) when a status line was asked for.
    pub fn take_status_request(&self) -> bool {
        self.status.swap(false, Ordering::SeqCst)
    }

    /// Readable once a signal arrived: what `ppoll` watches.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake-up pipe, before the flags are read again.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGQUIT sets its flag and wakes the pipe; reading the flag clears it. (SIGINT is not raised
    /// here: the test harness shares the process.)
    #[test]
    fn sigquit_wakes_and_asks_for_a_status_line() {
        let s = Signals::catch().unwrap();
        assert!(!s.take_status_request() && !s.interrupted());
        signal_hook::low_level::raise(SIGQUIT).unwrap();
        let mut fds = [nix::poll::PollFd::new(
            s.wake_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
        assert_eq!(ready, 1, "the pipe woke up");
        s.drain();
        assert!(s.take_status_request());
        assert!(!s.take_status_request(), "once per signal");
        assert!(!s.interrupted());
    }
}
