//! The last steps of a launch, once the process is in the VRF's cgroup: dropping privileges, and exec.
//!
//! The cgroup, and so the hook, stay with the process across `setuid` and `execve`. What must not stay
//! is the power to undo them: once `setuid` leaves uid 0 the kernel clears the capabilities, so a socket
//! cannot be re-bound to another device (`SO_BINDTODEVICE` needs `CAP_NET_RAW`) and the root-owned
//! `cgroup.procs` files that would move the process elsewhere are not writable; `no_new_privs` makes
//! `execve` grant no setuid bit or file capability back.

use std::ffi::CString;

use anyhow::{Context, Result, anyhow};
use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User, execvp, initgroups, setgid, setgroups, setuid};

/// Becomes `user` (and `group`, default the user's primary group), with the user's supplementary groups,
/// and sets `no_new_privs` so that no setuid or file-capability program run later regains `CAP_NET_RAW`,
/// which could re-bind a socket out of the VRF.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> Result<()> {
    if user.is_none() && group.is_none() {
        return Ok(());
    }
    let gid = match group {
        Some(g) => Some(lookup_group(g)?),
        None => None,
    };
    match user {
        Some(u) => {
            let user = lookup_user(u)?;
            let gid = gid.unwrap_or(user.gid);
            let name = CString::new(user.name.as_str())?;
            initgroups(&name, gid)
                .with_context(|| format!("setting the groups of {}", user.name))?;
            setgid(gid).with_context(|| format!("setgid({gid})"))?;
            setuid(user.uid).with_context(|| format!("setuid({})", user.uid))?;
        }
        None => {
            let gid = gid.expect("group given");
            setgroups(&[gid]).context("setgroups")?;
            setgid(gid).with_context(|| format!("setgid({gid})"))?;
        }
    }
    nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    Ok(())
}

fn lookup_user(u: &str) -> Result<User> {
    let found = match u.parse::<u32>() {
        Ok(id) => User::from_uid(Uid::from_raw(id))?,
        Err(_) => User::from_name(u)?,
    };
    found.ok_or_else(|| anyhow!("no such user {u:?}"))
}

fn lookup_group(g: &str) -> Result<Gid> {
    match g.parse::<u32>() {
        Ok(id) => Ok(Gid::from_raw(id)),
        Err(_) => Ok(Group::from_name(g)?
            .ok_or_else(|| anyhow!("no such group {g:?}"))?
            .gid),
    }
}

/// How exec failed, with the exit status the `env`/`chroot` convention gives it.
#[derive(Debug)]
pub struct ExecError {
    pub status: u8,
    pub message: String,
}

/// Replaces this process with `command` (searched in `PATH`). Returns only on failure.
pub fn exec(command: &[String]) -> ExecError {
    let args: Result<Vec<CString>, _> =
        command.iter().map(|a| CString::new(a.as_bytes())).collect();
    let Ok(args) = args else {
        return ExecError {
            status: crate::EXIT_FAILURE,
            message: "an argument contains a NUL byte".into(),
        };
    };
    let Err(e) = execvp(&args[0], &args);
    let status = if e == Errno::ENOENT { 127 } else { 126 };
    let why = match e {
        Errno::ENOENT => "command not found".to_string(),
        Errno::EACCES => "permission denied".to_string(),
        e => e.desc().to_string(),
    };
    ExecError {
        status,
        message: format!("{}: {why}", command[0]),
    }
}
