//! The one system call of the lab that nix does not wrap; every `unsafe` of the lab crate lives here.

use std::io;

/// How a child ended and its peak memory, as `wait4(2)` reports them.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// The exit code, `None` when a signal ended it.
    pub code: Option<i32>,
    /// The maximum resident set size in KiB (`ru_maxrss`), across its `exec`s.
    pub max_rss_kib: u64,
}

/// Waits for child `pid` with `wait4(2)`, which (unlike `waitpid`) reports the child's own resource
/// usage, not the sum over every child.
pub fn wait4(pid: libc::pid_t) -> io::Result<Reaped> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals of the right types; a pid that is not our unwaited child
    // is an error (ECHILD), not undefined behaviour.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(io::Error::last_os_error());
    }
    Ok(Reaped {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}
