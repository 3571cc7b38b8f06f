//! vrf-ping on the host (no VRF needed): help, errors that come before any packet, and the default VRF
//! over loopback (replies, -I, names from /etc/hosts, signals).
//! Its behaviour in VRFs is tested in the lab (vrf-lab/suite/ping.rs); this test also makes
//! `cargo test --workspace` build the binary the lab suite runs.

use std::process::Command;

fn vrf_ping(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vrf-ping"))
        .args(args)
        .output()
        .expect("run vrf-ping");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_lists_the_iputils_options() {
    let (code, out, _) = vrf_ping(&["--help"]);
    assert_eq!(code, Some(0));
    for opt in [
        "--vrf", "-c", "-i", "-W", "-w", "-s", "-t", "-q", "-n", "-f", "-I",
    ] {
        assert!(out.contains(opt), "--help lacks {opt}:\n{out}");
    }
    // Without -V: the default VRF, or the VRF of the -I device.
    assert!(
        out.contains("Without -V, vrf-ping stands in for ping") && out.contains("default VRF"),
        "{out}"
    );
}

#[test]
fn bad_vrf_exits_2_with_a_message() {
    let (code, _, err) = vrf_ping(&["-V", "nosuchvrf0", "-c", "1", "127.0.0.1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nosuchvrf0") && err.contains("not found"),
        "{err}"
    );
    let (code, _, err) = vrf_ping(&["-V", "lo", "-c", "1", "127.0.0.1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a VRF"), "{err}");
}

// Without -V vrf-ping pings from the default VRF, as iputils ping does: the host kernel's loopback
// needs no VRF support. These run as root (raw ICMP sockets) or where ping_group_range allows the
// caller's group.

#[test]
fn default_vrf_reaches_loopback() {
    for (dst, header) in [
        (
            "127.0.0.1",
            "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.",
        ),
        ("::1", "PING ::1(::1) 56 data bytes"),
    ] {
        let (out, err) = expect(0, &["-v", "-c", "2", "-i", "0.2", dst]);
        assert_eq!(out.lines().next(), Some(header), "{out}");
        let replies = out
            .lines()
            .filter(|l| {
                l.starts_with(&format!("64 bytes from {dst}: icmp_seq=")) && l.contains(" ttl=")
            })
            .count();
        assert_eq!(replies, 2, "{out}");
        assert!(
            out.contains("2 packets transmitted, 2 received, 0% packet loss"),
            "{out}"
        );
        assert!(
            err.contains("vrf-ping: default VRF, ")
                && err.contains("ICMP socket bound to no device"),
            "{err}"
        );
    }
}

/// Runs vrf-ping, checks its exit code, returns stdout and stderr.
fn expect(code: i32, args: &[&str]) -> (String, String) {
    let (got, out, err) = vrf_ping(args);
    assert_eq!(got, Some(code), "{args:?}:\n{out}{err}");
    (out, err)
}

#[test]
fn default_vrf_device_and_source_address() {
    for (args, header) in [
        (
            &["-c", "1", "-I", "lo", "127.0.0.1"][..],
            "PING 127.0.0.1 (127.0.0.1) from 127.0.0.1 lo: 56(84) bytes of data.\n",
        ),
        (
            &["-c", "1", "-I", "::1", "::1"],
            "PING ::1(::1) from ::1 : 56 data bytes\n",
        ),
    ] {
        let (out, _) = expect(0, args);
        assert!(out.starts_with(header), "{out}");
    }
    // Not an address of this host (TEST-NET-3): refused at bind, nothing sent.
    let (out, err) = expect(2, &["-c", "1", "-I", "203.0.113.1", "127.0.0.1"]);
    assert!(
        out.is_empty()
            && err.contains("bind: Cannot assign requested address")
            && err.contains("-I 203.0.113.1 is not an address of the default VRF"),
        "{err}"
    );
    let (_, err) = expect(2, &["-c", "1", "-I", "nosuchdev0", "127.0.0.1"]);
    assert!(
        err.starts_with("vrf-ping: SO_BINDTODEVICE nosuchdev0: No such device"),
        "{err}"
    );
}

#[test]
fn default_vrf_names_come_from_the_hosts_file() {
    // `localhost` is in every /etc/hosts: no query leaves the host.
    let (out, _) = expect(0, &["-4", "-c", "1", "localhost"]);
    assert!(out.contains("PING localhost (127.0.0.1) 56(84)"), "{out}");
    assert!(
        out.contains("64 bytes from localhost (127.0.0.1): icmp_seq=1"),
        "{out}"
    );
    assert!(
        out.contains("\n--- localhost ping statistics ---\n"),
        "{out}"
    );
}

/// vrf-ping started with `args`, its stdout read line by line.
fn spawn(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vrf-ping"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Everything the child wrote on stderr.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    err
}

/// Ctrl-\ prints the status line and goes on, Ctrl-C prints the statistics and exits as iputils
/// does (0 after replies); a closed pipe on stdout ends vrf-ping quietly (SIGPIPE).
#[test]
fn signals_behave_as_in_iputils() {
    use std::io::{BufRead, Read};
    use std::os::unix::process::ExitStatusExt;

    let (mut child, mut out) = spawn(&["-i", "0.2", "127.0.0.1"]);
    let mut seen = String::new();
    for _ in 0..3 {
        out.read_line(&mut seen).unwrap();
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).unwrap();
    out.read_line(&mut seen).unwrap(); // still pinging: another reply
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    out.read_to_string(&mut seen).unwrap();
    let err = stderr_of(&mut child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}{err}");
    assert!(
        seen.contains("\n--- 127.0.0.1 ping statistics ---\n"),
        "{seen}"
    );
    assert!(seen.contains("\nrtt min/avg/max/mdev = "), "{seen}");
    assert!(
        err.lines()
            .any(|l| l.trim_start_matches('\r').contains(" packets, ") && l.contains("% loss")),
        "no status line on stderr: {err:?}"
    );

    let (mut child, mut out) = spawn(&["-c", "5", "-i", "0.2", "127.0.0.1"]);
    out.read_line(&mut String::new()).unwrap();
    drop(out);
    let status = child.wait().unwrap();
    let err = stderr_of(&mut child);
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status}: {err}");
    assert!(err.is_empty(), "dies quietly: {err}");
}
