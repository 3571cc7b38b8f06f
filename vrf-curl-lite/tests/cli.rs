//! vrf-curl-lite's command line on the host (no VRF needed: everything here fails before a socket is
//! made). Also makes `cargo test --workspace` build the binary for the lab suite.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vrf-curl-lite"))
        .args(args)
        .output()
        .unwrap()
}

fn check(args: &[&str], code: i32, stderr_has: &str) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(stderr_has), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
}

#[test]
fn help_teaches_the_options_and_exit_codes() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for want in [
        "--vrf",
        "--interface",
        "--max-redirs",
        "--connect-timeout",
        "--cacert",
        "--write-out",
        "resolv.conf",
        "Exit codes",
        "28 timeout",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}");
    }
}

#[test]
fn bad_options_exit_2() {
    check(&["http://a/"], 2, "--vrf");
    check(
        &["--vrf", "blue", "--frobnicate", "http://a/"],
        2,
        "--frobnicate",
    );
    check(&["--vrf", "blue", "-m", "-1", "http://a/"], 2, "-1");
    check(&["--vrf", "blue", "-m", "soon", "http://a/"], 2, "soon");
    check(&["--vrf", "blue", "-I", "-d", "x", "http://a/"], 2, "HEAD");
    check(
        &["--vrf", "blue", "-H", "nocolon", "http://a/"],
        2,
        "nocolon",
    );
    // Refused before anything is sent: a header line break would smuggle in another header.
    check(
        &["--vrf", "blue", "-H", "X-A: 1\r\nX-B: 2", "http://a/"],
        2,
        "line break",
    );
    check(
        &["--vrf", "blue", "-A", "agent\nX-B: 2", "http://a/"],
        2,
        "line break",
    );
}

#[test]
fn malformed_resolve_entries_exit_49_like_curl() {
    for entry in ["a:80", "a:80:[::1", "a:x:10.0.0.1", "a:80:10.0.0.400"] {
        check(
            &["--vrf", "blue", "--resolve", entry, "http://a/"],
            49,
            &format!("Couldn't parse --resolve entry '{entry}'"),
        );
    }
}

#[test]
fn bad_urls_exit_1_or_3() {
    check(&["--vrf", "blue", "ftp://a/"], 1, "ftp");
    check(&["--vrf", "blue", "http://"], 3, "URL");
    check(&["--vrf", "blue", "http://[::1/"], 3, "URL");
}

#[test]
fn a_vrf_that_does_not_exist_is_45() {
    // The host may have no VRF support at all; a missing device is missing either way.
    check(
        &["--vrf", "nosuchvrf0", "http://10.99.0.2/"],
        45,
        "nosuchvrf0",
    );
    check(&["--vrf", "lo", "http://10.99.0.2/"], 45, "not a VRF");
    check(&["--vrf", "bad/name", "http://10.99.0.2/"], 45, "bad/name");
    // -s hides the message, -S brings it back; -w still reports.
    let out = run(&[
        "--vrf",
        "nosuchvrf0",
        "-s",
        "-w",
        "%{exitcode} %{http_code}",
        "http://x/",
    ]);
    assert_eq!(out.status.code(), Some(45));
    assert!(out.stderr.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "45 000");
    check(
        &["--vrf", "nosuchvrf0", "-sS", "http://x/"],
        45,
        "nosuchvrf0",
    );
}
