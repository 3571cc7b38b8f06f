//! The last steps of a launch, once the process is in the VRF's cgroup: dropping privileges, and exec.
//!
//! The cgroup, and so the hook, stay with the process across `setuid` and `execve`. What must not stay
//! is the power to undo them: once `setuid` leaves uid 0 the kernel clears the capabilities, so a socket
//! cannot be re-bound to another device (`SO_BINDTODEVICE` needs `CAP_NET_RAW`) and the root-owned
//! `cgroup.procs` files that would move the process elsewhere are not writable (the launch has already
//! refused a user who may write one above the VRF's group); `no_new_privs` makes `execve` grant no
//! setuid bit or file capability back.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::unistd::{execvp, execvpe, setgid, setgroups, setuid};

use crate::identity::{Caps, Target};

/// Becomes `target` (its user, primary group and groups) and sets `no_new_privs` so that no setuid or
/// file-capability program run later regains `CAP_NET_RAW`, which could re-bind a socket out of the
/// VRF. Fails unless the process is left with no capability at all.
pub fn drop_privileges(target: &Target) -> Result<()> {
    let name = &target.user.name;
    setgroups(&target.groups).with_context(|| format!("setting the groups of {name}"))?;
    setgid(target.gid).with_context(|| format!("setgid({})", target.gid))?;
    setuid(target.user.uid).with_context(|| format!("setuid({})", target.user.uid))?;
    nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    let caps = Caps::of_self().context("reading /proc/self/status after setuid")?;
    if !caps.is_empty() {
        bail!(
            "as {name} the process still has capabilities ({caps:?}), with which the command could \
             leave the VRF: securebits (SECBIT_KEEP_CAPS, SECBIT_NO_SETUID_FIXUP) or ambient \
             capabilities set by vrf-exec's caller keep them; run vrf-exec without those"
        );
    }
    Ok(())
}

/// This process's environment with `set` replacing the variables of the same names, as `NAME=VALUE`
/// strings for `execve`.
pub fn environment_with(set: &[(&str, OsString)]) -> Vec<CString> {
    std::env::vars_os()
        .filter(|(k, _)| !set.iter().any(|(n, _)| k.as_bytes() == n.as_bytes()))
        .chain(set.iter().map(|(n, v)| (OsString::from(n), v.clone())))
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

/// How exec failed, with the exit status the `env`/`chroot` convention gives it.
#[derive(Debug)]
pub struct ExecError {
    pub status: u8,
    pub message: String,
}

/// Replaces this process with `command` (searched in `PATH`), with environment `env` (`None`: this
/// process's own). Returns only on failure.
pub fn exec(command: &[String], env: Option<&[CString]>) -> ExecError {
    let args: Result<Vec<CString>, _> =
        command.iter().map(|a| CString::new(a.as_bytes())).collect();
    let Ok(args) = args else {
        return ExecError {
            status: crate::EXIT_FAILURE,
            message: "an argument contains a NUL byte".into(),
        };
    };
    exec_args(&args, env)
}

/// [`exec`] with the arguments ready for `execve` (`args[0]` the program, searched in `PATH`).
pub fn exec_args(args: &[CString], env: Option<&[CString]>) -> ExecError {
    let Err(e) = match env {
        Some(env) => execvpe(&args[0], args, env),
        None => execvp(&args[0], args),
    };
    let status = if e == Errno::ENOENT { 127 } else { 126 };
    let why = match e {
        Errno::ENOENT => "command not found".to_string(),
        Errno::EACCES => "permission denied".to_string(),
        e => e.desc().to_string(),
    };
    ExecError {
        status,
        message: format!("{}: {why}", args[0].to_string_lossy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_replaces_named_variables_only() {
        let env = environment_with(&[("HOME", OsString::from("/nonexistent"))]);
        let homes: Vec<_> = env
            .iter()
            .filter(|kv| kv.as_bytes().starts_with(b"HOME="))
            .collect();
        assert_eq!(homes, [&CString::new("HOME=/nonexistent").unwrap()]);
        if let Some(path) = std::env::var_os("PATH") {
            let mut want = b"PATH=".to_vec();
            want.extend_from_slice(path.as_bytes());
            assert!(env.iter().any(|kv| kv.as_bytes() == want), "PATH is kept");
        }
    }
}
