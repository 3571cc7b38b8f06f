//! vrf-curl-lite on real VRFs: HTTP and HTTPS servers in the blue and red peers, both at 10.99.0.2 and
//! fd00:99::2, answering with their own label, so every answer says which VRF the request went through
//! (and the servers count what they got). Certificates come from a CA made at test time. Real curl under
//! `ip vrf exec` is the reference for output and exit codes. Every client run is under
//! `timeout -s KILL` ([`KILL_AFTER`]): a hang fails its test instead of the suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use http::Version;
use vrf_lab::ca::TestCa;
use vrf_lab::cmd::{self, Run};
use vrf_lab::http::{HttpServer, http_server, pattern_sha256};
use vrf_lab::{Site, TempDir, Topology};

vrf_lab::lab_tests! {
    each_vrf_gets_its_own_page_v4_and_v6,
    https_alpn_and_certificates,
    redirects,
    fail_and_status_codes,
    timeouts,
    connect_errors_and_source_address,
    names_resolved_in_the_vrf,
    #[timeout(600)]
    large_download_hash_and_flat_memory,
    #[timeout(600)]
    same_output_as_curl,
    output_options,
    credentials_stay_with_their_origin,
}

const V4: &str = "10.99.0.2";
const V6: &str = "fd00:99::2";
/// An address on the peers' subnet that nobody has: connecting there waits for ARP, then fails.
const NOBODY_V4: &str = "10.99.0.3";

/// A topology with an HTTP server (port 80) and an HTTPS server (port 443, certificate for `www.lab`,
/// 10.99.0.2 and fd00:99::2) in each peer, and a scratch directory holding the CA as `ca.pem`.
struct Lab {
    t: Topology,
    http: [HttpServer; 2],
    https: [HttpServer; 2],
    dir: TempDir,
}

impl Lab {
    fn new() -> Result<Lab> {
        let t = Topology::new()?;
        let ca = TestCa::new()?;
        let dir = TempDir::new("vrf-curl-test")?;
        ca.write_ca(dir.join("ca.pem"))?;
        let serve = |site: &Site, port: u16, tls: bool| -> Result<HttpServer> {
            let config = if tls {
                Some(ca.server_config(&["www.lab", V4, V6])?)
            } else {
                None
            };
            let label = label(site);
            http_server(
                &site.peer_ns,
                format!("[::]:{port}").parse()?,
                label,
                config,
            )
        };
        let http = [serve(&t.blue, 80, false)?, serve(&t.red, 80, false)?];
        let https = [serve(&t.blue, 443, true)?, serve(&t.red, 443, true)?];
        Ok(Lab {
            t,
            http,
            https,
            dir,
        })
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").to_string_lossy().into_owned()
    }

    /// `vrf-curl-lite --vrf VRF args…` in the router namespace, killed after [`KILL_AFTER`].
    fn ours(&self, site: &Site, args: &[&str]) -> Result<Run> {
        ours(&self.t, &site.vrf, args)
    }

    /// `ip vrf exec VRF curl args…` in the router namespace, killed after [`KILL_AFTER`].
    fn theirs(&self, site: &Site, args: &[&str]) -> Result<Run> {
        let mut all = vec!["vrf", "exec", &site.vrf, "curl"];
        all.extend_from_slice(args);
        not_hung(cmd::run(&mut client_cmd(&self.t, "ip", &all))?)
    }

    fn hits(&self) -> [usize; 2] {
        [
            self.http[0].hits() + self.https[0].hits(),
            self.http[1].hits() + self.https[1].hits(),
        ]
    }
}

fn label(site: &Site) -> &'static str {
    if site.table == 10 { "blue" } else { "red" }
}

fn ours(t: &Topology, vrf: &str, args: &[&str]) -> Result<Run> {
    let tool = vrf_lab::tool("vrf-curl-lite")?;
    let mut all = vec!["--vrf", vrf];
    all.extend_from_slice(args);
    not_hung(cmd::run(&mut client_cmd(t, &tool.to_string_lossy(), &all))?)
}

/// A client still running after this many seconds is killed, and its test fails: nothing may hang.
/// Generous: a 100 MB download under qemu TCG on a busy host takes tens of seconds.
const KILL_AFTER: &str = "300";

/// `program args…` in the router namespace under `timeout -s KILL` [`KILL_AFTER`].
fn client_cmd(t: &Topology, program: &str, args: &[&str]) -> Command {
    let mut all = vec!["-s", "KILL", KILL_AFTER, program];
    all.extend_from_slice(args);
    t.router_cmd("timeout", &all)
}

/// `r`, or an error if `timeout` had to kill it (128 + SIGKILL).
fn not_hung(r: Run) -> Result<Run> {
    ensure!(
        r.code != Some(137),
        "{}",
        r.describe(&format!("hung: killed after {KILL_AFTER} s"))
    );
    Ok(r)
}

fn expect(run: &Run, code: i32, stdout: &str) -> Result<()> {
    ensure!(
        run.code == Some(code) && run.stdout == stdout,
        "{}\nexpected exit {code} and stdout {stdout:?}",
        run.describe("gave the wrong answer")
    );
    Ok(())
}

fn expect_code(run: &Run, code: i32, stderr_has: &str) -> Result<()> {
    ensure!(
        run.code == Some(code) && run.stderr.contains(stderr_has),
        "{}\nexpected exit {code} and an error mentioning {stderr_has:?}",
        run.describe("failed the wrong way")
    );
    Ok(())
}

/// Plain HTTP to the same address through blue and through red, IPv4 and IPv6, as root and as nobody:
/// each answer comes from the VRF's own peer, whose server saw the router's address in that VRF.
fn each_vrf_gets_its_own_page_v4_and_v6() -> Result<()> {
    let lab = Lab::new()?;
    for url in [format!("http://{V4}/"), format!("http://[{V6}]/")] {
        for site in lab.t.sites() {
            let r = lab.ours(site, &["-sS", &url])?;
            expect(&r, 0, &format!("{}\n", label(site)))?;
        }
    }
    // No privilege needed: an ordinary user binds its sockets to the VRF (Linux >= 5.7).
    let tool = vrf_lab::tool("vrf-curl-lite")?;
    let tool = tool.to_string_lossy();
    for site in lab.t.sites() {
        let args = [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            &tool,
            "--vrf",
            &site.vrf,
            "-sS",
            "http://10.99.0.2/",
        ];
        let r = not_hung(cmd::run(&mut client_cmd(&lab.t, "setpriv", &args))?)?;
        expect(&r, 0, &format!("{}\n", label(site)))?;
    }
    ensure!(
        lab.hits() == [3, 3],
        "each server must get exactly its VRF's 3 requests: {:?}",
        lab.hits()
    );
    for server in &lab.http {
        let peers: Vec<String> = server
            .requests()
            .iter()
            .map(|s| s.peer.ip().to_string())
            .collect();
        ensure!(
            peers == ["10.99.0.1", "fd00:99::1", "10.99.0.1"],
            "{}: {peers:?}",
            server.label()
        );
    }
    Ok(())
}

/// HTTPS: the test CA via --cacert; HTTP/2 by ALPN unless --http1.1; HTTP/2 with prior knowledge over
/// cleartext; an untrusted certificate is 60, -k accepts it, a missing CA file is 77, TLS to a plain
/// HTTP port is 35.
fn https_alpn_and_certificates() -> Result<()> {
    let lab = Lab::new()?;
    let ca = lab.ca();
    for site in lab.t.sites() {
        let want = format!("{}\n", label(site));
        let r = lab.ours(
            site,
            &[
                "-sS",
                "--cacert",
                &ca,
                "-w",
                "%{http_version}",
                &format!("https://{V4}/"),
            ],
        )?;
        expect(&r, 0, &format!("{want}2"))?;
        let r = lab.ours(
            site,
            &[
                "-sS",
                "--cacert",
                &ca,
                "--http1.1",
                "-w",
                "%{http_version}",
                &format!("https://[{V6}]/"),
            ],
        )?;
        expect(&r, 0, &format!("{want}1.1"))?;
    }
    for server in &lab.https {
        ensure!(
            server.hits_over(Version::HTTP_2) == 1 && server.hits_over(Version::HTTP_11) == 1,
            "{}: versions {:?}",
            server.label(),
            server.versions()
        );
    }
    let blue = &lab.t.blue;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "--http2-prior-knowledge",
            "-w",
            "%{http_version}",
            &format!("http://{V4}/"),
        ],
    )?;
    expect(&r, 0, "blue\n2")?;
    ensure!(
        lab.http[0].hits_over(Version::HTTP_2) == 1,
        "h2c: {:?}",
        lab.http[0].versions()
    );

    let r = lab.ours(blue, &["-sS", &format!("https://{V4}/")])?;
    expect_code(&r, 60, "certificate")?;
    let r = lab.ours(blue, &["-sS", "-k", &format!("https://{V4}/")])?;
    expect(&r, 0, "blue\n")?;
    // The certificate names 10.99.0.2, not 10.99.0.1 (reached through --resolve under another name).
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "--cacert",
            &ca,
            "--resolve",
            &format!("other.lab:443:{V4}"),
            "https://other.lab/",
        ],
    )?;
    expect_code(&r, 60, "certificate")?;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "--cacert",
            &ca,
            "--resolve",
            &format!("www.lab:443:{V4}"),
            "https://www.lab/",
        ],
    )?;
    expect(&r, 0, "blue\n")?;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "--cacert",
            "/nonexistent/ca.pem",
            &format!("https://{V4}/"),
        ],
    )?;
    expect_code(&r, 77, "/nonexistent/ca.pem")?;
    let r = lab.ours(
        blue,
        &["-sS", "--cacert", &ca, &format!("https://{V4}:80/")],
    )?;
    expect_code(&r, 35, "TLS")?;
    // curl agrees on the codes.
    let r = lab.theirs(blue, &["-sS", &format!("https://{V4}/")])?;
    ensure!(r.code == Some(60), "{}", r.describe("curl without the CA"));
    Ok(())
}

/// -L follows relative and absolute redirects (to another scheme too), with curl's method changes;
/// without -L the 302 is the answer and %{redirect_url} says where it pointed; --max-redirs gives 47.
fn redirects() -> Result<()> {
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    let ca = lab.ca();
    let base = format!("http://{V4}");
    let r = lab.ours(
        blue,
        &[
            "-sSL",
            "-w",
            "%{num_redirects} %{url_effective}",
            &format!("{base}/redirect/3"),
        ],
    )?;
    expect(&r, 0, &format!("blue redirected\n3 {base}/redirect/0"))?;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("{base}/redirect/3"),
        ],
    )?;
    ensure!(
        r.code == Some(0) && r.stdout.ends_with(&format!("302 {base}/redirect/2")),
        "{}",
        r.describe("without -L")
    );
    let r = lab.ours(
        blue,
        &["-sSL", "--max-redirs", "2", &format!("{base}/redirect/3")],
    )?;
    expect_code(&r, 47, "Maximum (2) redirects")?;
    // http -> https (a new connection, TLS) -> http.
    let to_https = format!(
        "{base}/redirect-to?url=https%3A%2F%2F{V4}%2Fredirect-to%3Furl%3Dhttp%253A%252F%252F{V4}%252F"
    );
    let r = lab.ours(
        blue,
        &["-sSL", "--cacert", &ca, "-w", " %{num_connects}", &to_https],
    )?;
    expect(&r, 0, "blue\n 3")?;
    // POST becomes GET after 302, stays POST (with its body) after 307.
    let post = |status: u16| -> Result<String> {
        let url = format!("{base}/redirect-to?url=%2Fecho&status={status}");
        let r = lab.ours(blue, &["-sSL", "-d", "a=1", &url])?;
        ensure!(r.success(), "{}", r.describe("POST with -L"));
        Ok(r.stdout)
    };
    let after302 = post(302)?;
    ensure!(after302.starts_with("GET /echo HTTP/1.1"), "{after302}");
    let after307 = post(307)?;
    ensure!(
        after307.starts_with("POST /echo HTTP/1.1") && after307.ends_with("\n\na=1"),
        "{after307}"
    );
    ensure!(lab.hits()[1] == 0, "red got {:?}", lab.hits());
    Ok(())
}

/// An HTTP error status is a successful transfer unless -f, which gives 22 and no body; -s hides the
/// message and -S shows it again.
fn fail_and_status_codes() -> Result<()> {
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    let url = format!("http://{V4}/status/404");
    let r = lab.ours(blue, &["-sS", "-w", "%{http_code}", &url])?;
    expect(&r, 0, "status 404\n404")?;
    let r = lab.ours(blue, &["-sSf", "-w", "%{http_code}", &url])?;
    expect(&r, 22, "404")?;
    expect_code(&r, 22, "returned error: 404")?;
    let r = lab.ours(blue, &["-sf", &url])?;
    ensure!(
        r.code == Some(22) && r.stderr.is_empty(),
        "{}",
        r.describe("-sf")
    );
    let r = lab.ours(blue, &["-sSf", &format!("http://{V4}/nowhere")])?;
    expect_code(&r, 22, "404")?;
    let r = lab.ours(blue, &["-sSf", &format!("http://{V4}/status/500")])?;
    expect_code(&r, 22, "500")?;
    for (args, code) in [(vec!["-sSf"], 22), (vec!["-sS"], 0)] {
        let mut a = args.clone();
        a.push(&url);
        let theirs = lab.theirs(blue, &a)?;
        ensure!(theirs.code == Some(code), "{}", theirs.describe("curl"));
    }
    Ok(())
}

/// -m bounds the whole operation (slow headers, slow body) with 28; --connect-timeout bounds the
/// connection only.
fn timeouts() -> Result<()> {
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    // How long the tool itself took (%{time_total}): under the lab VM, loading a debug binary over
    // 9p can take seconds before its clock starts.
    let timed = |args: &[&str]| -> Result<(Run, Duration)> {
        let mut all = vec!["-w", "%{stderr}\ntime_total=%{time_total}\n"];
        all.extend_from_slice(args);
        let mut r = lab.ours(blue, &all)?;
        let (rest, total) = r
            .stderr
            .rsplit_once("\ntime_total=")
            .with_context(|| r.describe("gave no time"))?;
        let took = Duration::from_secs_f64(total.trim().parse()?);
        r.stderr = rest.to_string();
        Ok((r, took))
    };
    let (r, took) = timed(&["-sS", "-m", "1", &format!("http://{V4}/delay/8000")])?;
    expect_code(&r, 28, "timed out")?;
    ensure!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "-m 1 took {took:?}"
    );
    let (r, took) = timed(&[
        "-sS",
        "-m",
        "1.5",
        &format!("http://{V4}/drip?bytes=1000&ms=8000"),
    ])?;
    expect_code(&r, 28, "bytes received")?;
    ensure!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(4),
        "-m 1.5 took {took:?}"
    );
    ensure!(
        !r.stderr.contains("with 0 bytes"),
        "the drip had started: {}",
        r.stderr
    );
    let (r, took) = timed(&[
        "-sS",
        "--connect-timeout",
        "1",
        &format!("http://{NOBODY_V4}/"),
    ])?;
    expect_code(&r, 28, "--connect-timeout")?;
    ensure!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "--connect-timeout 1 took {took:?}"
    );
    // A slow answer is fine under --connect-timeout: it bounds only the connection.
    let (r, took) = timed(&[
        "-sS",
        "--connect-timeout",
        "1",
        &format!("http://{V4}/delay/1500"),
    ])?;
    ensure!(
        r.code == Some(0) && r.stdout == "blue late\n" && took >= Duration::from_millis(1500),
        "{} after {took:?}",
        r.describe("--connect-timeout 1 with a slow answer")
    );
    Ok(())
}

/// Refused and unreachable are 7; a VRF that is missing, not a VRF or down is 45; --interface must be
/// an address in the VRF (45 otherwise) and is the source the server sees.
fn connect_errors_and_source_address() -> Result<()> {
    let lab = Lab::new()?;
    let t = &lab.t;
    let blue = &t.blue;
    let r = lab.ours(blue, &["-sS", &format!("http://{V4}:81/")])?;
    expect_code(&r, 7, "refused")?;
    // No route to 10.98.0.0/16 in the VRF, whose table ends in `unreachable default` (the lab closes
    // it): EHOSTUNREACH, and the default VRF is never tried.
    let r = lab.ours(blue, &["-sS", "http://10.98.0.1/"])?;
    expect_code(&r, 7, "No route to host")?;
    let theirs = lab.theirs(blue, &["-sS", &format!("http://{V4}:81/")])?;
    ensure!(theirs.code == Some(7), "{}", theirs.describe("curl"));

    let r = ours(t, "nosuchvrf", &["-sS", &format!("http://{V4}/")])?;
    expect_code(&r, 45, "not found")?;
    let r = ours(t, &blue.dev, &["-sS", &format!("http://{V4}/")])?;
    expect_code(&r, 45, "is not a VRF")?;
    let r = ours(t, "bad/name", &["-sS", &format!("http://{V4}/")])?;
    ensure!(r.code == Some(45), "{}", r.describe("invalid VRF name"));

    let r = lab.ours(
        blue,
        &["-sS", "--interface", "192.0.2.1", &format!("http://{V4}/")],
    )?;
    expect_code(&r, 45, "192.0.2.1")?;
    // Add a second address to blue's port and use it as the source.
    t.router_run("ip", &["addr", "add", "10.99.0.11/24", "dev", &blue.dev])?
        .ok()?;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "--interface",
            "10.99.0.11",
            "-w",
            " %{local_ip}",
            &format!("http://{V4}/"),
        ],
    )?;
    expect(&r, 0, "blue\n 10.99.0.11")?;
    let last = lab.http[0].requests().pop().context("no request")?;
    ensure!(last.peer.ip().to_string() == "10.99.0.11", "{last:?}");
    // The address is blue's: it cannot be used in red.
    let r = lab.ours(
        &t.red,
        &["-sS", "--interface", "10.99.0.11", &format!("http://{V4}/")],
    )?;
    expect_code(&r, 45, "10.99.0.11")?;
    // A VRF that is down.
    t.router_run("ip", &["link", "set", &t.red.vrf, "down"])?
        .ok()?;
    let r = lab.ours(&t.red, &["-sS", &format!("http://{V4}/")])?;
    expect_code(&r, 45, "down")?;
    ensure!(lab.hits()[1] == 0, "red got {:?}", lab.hits());
    Ok(())
}

/// Names resolved by each VRF's own DNS server (a dnsmasq in each peer, from the VRF's
/// /etc/vrf/VRF/resolv.conf), over HTTP and HTTPS; an unknown name is 6; a loopback name server is
/// skipped with a message.
fn names_resolved_in_the_vrf() -> Result<()> {
    use vrf_lab::dnsmasq::Dnsmasq;
    let lab = Lab::new()?;
    let t = &lab.t;
    let start = |site: &Site| {
        Dnsmasq::builder(&site.peer_ns)
            .zone("lab")
            .host_record("www.lab", [V4, V6])
            .start()
    };
    let dns = [start(&t.blue)?, start(&t.red)?];
    let confs = ResolvConfs::new(t)?;
    for (i, site) in t.sites().into_iter().enumerate() {
        confs.write(site, &format!("nameserver {V4}\n"))?;
        let want = format!("{}\n", label(site));
        let r = lab.ours(site, &["-sS", "http://www.lab/"])?;
        expect(&r, 0, &want)?;
        // -6 asks only for AAAA: one query more in the log, not two.
        let before = dns[i].queries_for("www.lab");
        let r = lab.ours(
            site,
            &[
                "-sS",
                "-6",
                "--cacert",
                &lab.ca(),
                "-w",
                "%{remote_ip}",
                "https://www.lab/",
            ],
        )?;
        expect(&r, 0, &format!("{want}{V6}"))?;
        let log = dns[i].log();
        ensure!(
            dns[i].queries_for("www.lab") == before + 1 && log.contains("query[AAAA] www.lab"),
            "-6 must ask for AAAA only:\n{log}"
        );
        ensure!(
            dns[i].queries_for("www.lab") >= 2,
            "{}'s dnsmasq saw no queries:\n{}",
            site.vrf,
            dns[i].log()
        );
        let r = lab.ours(site, &["-sS", "http://nosuch.lab/"])?;
        expect_code(&r, 6, "nosuch.lab")?;
        // blue's queries went to blue's server only.
        ensure!(
            i > 0 || dns[1].queries_for("www.lab") == 0,
            "red's dnsmasq got blue's queries: {}",
            dns[1].log()
        );
    }
    ensure!(
        dns[0].queries_for("www.lab") == dns[1].queries_for("www.lab"),
        "the same requests, the same queries: {}\n{}",
        dns[0].log(),
        dns[1].log()
    );
    confs.write(&t.blue, "nameserver 127.0.0.53\n")?;
    let r = lab.ours(&t.blue, &["-sS", "http://www.lab/"])?;
    expect_code(&r, 6, "loopback")?;
    Ok(())
}

/// /etc/vrf/VRF/resolv.conf for this topology's (uniquely named) VRFs, removed on drop.
struct ResolvConfs(Vec<PathBuf>);

impl ResolvConfs {
    fn new(t: &Topology) -> Result<ResolvConfs> {
        Ok(ResolvConfs(
            t.sites()
                .iter()
                .map(|s| PathBuf::from(format!("/etc/vrf/{}", s.vrf)))
                .collect(),
        ))
    }

    fn write(&self, site: &Site, text: &str) -> Result<()> {
        let dir = PathBuf::from(format!("/etc/vrf/{}", site.vrf));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("resolv.conf"), text)?;
        Ok(())
    }
}

impl Drop for ResolvConfs {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// 48 MB over HTTP/1.1 and HTTP/2, checked by SHA-256; the peak memory of a 48 MB download is within
/// 8 MiB of a 1 MB one (the body is streamed, never held). 48 MB is six times that margin, so a client
/// that held the body, or any buffer of more than 8 MiB, fails; and three times the 16 MiB HTTP/2
/// connection window vrf-curl-lite opens, so the transfer depends on its window updates.
fn large_download_hash_and_flat_memory() -> Result<()> {
    const BIG: u64 = 48_000_000;
    // The expected digest, computed meanwhile (generating and hashing the pattern takes seconds).
    let want_big = std::thread::spawn(|| pattern_sha256(BIG));
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    let tool = vrf_lab::tool("vrf-curl-lite")?;
    let tool = tool.to_string_lossy();
    let file = lab.dir.join("big");
    let f = file.to_string_lossy();
    let measured = |extra: &[&str], url: &str| -> Result<u64> {
        let mut args = vec!["--vrf", &blue.vrf, "-sS", "-o", &f];
        args.extend_from_slice(extra);
        args.push(url);
        let (r, kib) = cmd::run_measured(&mut client_cmd(&lab.t, &tool, &args))?;
        let r = not_hung(r)?;
        ensure!(r.success(), "{}", r.describe("download"));
        Ok(kib)
    };
    let small = measured(&[], &format!("http://{V4}/bytes/1000000"))?;
    check_file(&file, 1_000_000)?;
    let want_big = want_big
        .join()
        .map_err(|_| anyhow::anyhow!("pattern_sha256 panicked"))?;
    let check_big = || check_digest(&file, &want_big);
    let big = measured(&[], &format!("http://{V4}/bytes/{BIG}"))?;
    check_big()?;
    let ca = lab.ca();
    let big_h2 = measured(&["--cacert", &ca], &format!("https://{V4}/bytes/{BIG}"))?;
    check_big()?;
    ensure!(
        lab.https[0].hits_over(Version::HTTP_2) == 1,
        "{:?}",
        lab.https[0].versions()
    );
    let chunked = measured(&[], &format!("http://{V4}/chunked/{BIG}"))?;
    check_big()?;
    println!(
        "peak RSS: 1 MB {small} KiB, 48 MB {big} KiB, 48 MB over h2/TLS {big_h2} KiB, chunked {chunked} KiB"
    );
    for (what, kib) in [("HTTP/1.1", big), ("HTTP/2", big_h2), ("chunked", chunked)] {
        ensure!(
            kib < small + 8 * 1024,
            "{what}: 48 MB took {kib} KiB at peak against {small} KiB for 1 MB: not streamed"
        );
    }
    Ok(())
}

fn check_file(path: &Path, len: u64) -> Result<()> {
    check_digest(path, &pattern_sha256(len))
}

fn check_digest(path: &Path, want: &str) -> Result<()> {
    let got = vrf_lab::http::file_sha256(path)?;
    ensure!(got == want, "{}: sha256 {got}, want {want}", path.display());
    Ok(())
}

/// Response heads and bodies as curl under `ip vrf exec` prints them (`-i`, `-I`, `-L`, HTTP/2), the
/// Date header aside; and the same exit codes for the same failures.
fn same_output_as_curl() -> Result<()> {
    let lab = Lab::new()?;
    let ca = lab.ca();
    let base = format!("http://{V4}");
    let tls = format!("https://{V4}");
    let cases: Vec<Vec<String>> = vec![
        vec!["-si".into(), format!("{base}/")],
        vec!["-si".into(), format!("{base}/headers")],
        vec!["-si".into(), format!("{base}/status/404")],
        vec!["-sI".into(), format!("{base}/bytes/12345")],
        vec!["-siL".into(), format!("{base}/redirect/2")],
        vec!["-si".into(), format!("{base}/redirect/2")],
        vec!["-si".into(), format!("http://[{V6}]/chunked/70000")],
        vec![
            "-si".into(),
            "--cacert".into(),
            ca.clone(),
            format!("{tls}/headers"),
        ],
        vec![
            "-si".into(),
            "--cacert".into(),
            ca.clone(),
            "--http1.1".into(),
            format!("{tls}/"),
        ],
        vec![
            "-sI".into(),
            "--cacert".into(),
            ca.clone(),
            format!("{tls}/bytes/5"),
        ],
        vec![
            "-s".into(),
            "-X".into(),
            "PUT".into(),
            "-H".into(),
            "User-Agent: same".into(),
            "--data-binary".into(),
            "x\ny".into(),
            format!("{base}/echo"),
        ],
        vec![
            "-s".into(),
            "-w".into(),
            "%{http_code} %{size_download} %{num_redirects} %{remote_ip}".into(),
            "-o".into(),
            "/dev/null".into(),
            "-L".into(),
            format!("{base}/redirect/1"),
        ],
        vec!["-sSf".into(), format!("{base}/status/503")],
        vec!["-sS".into(), format!("{base}:81/")],
        vec![
            "-sSL".into(),
            "--max-redirs".into(),
            "1".into(),
            format!("{base}/redirect/2"),
        ],
        vec![
            "-sS".into(),
            "-m".into(),
            "1".into(),
            format!("{base}/delay/3000"),
        ],
    ];
    // Each VRF on a thread of its own: the two runs share nothing but the machine.
    let compare_in = |site: &Site| -> Result<()> {
        for case in &cases {
            let args: Vec<&str> = case.iter().map(String::as_str).collect();
            let a = lab.ours(site, &args)?;
            let b = lab.theirs(site, &args)?;
            let (ha, ba) = split_response(&a.stdout);
            let (hb, bb) = split_response(&b.stdout);
            if a.code != b.code || ha != hb || ba != bb {
                bail!(
                    "{:?} in {}: ours and curl's differ\nours:  {}\ncurl:  {}",
                    case,
                    site.vrf,
                    a.describe("ours"),
                    b.describe("curl")
                );
            }
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let runs = lab.t.sites().map(|site| s.spawn(move || compare_in(site)));
        runs.into_iter()
            .try_for_each(|run| run.join().map_err(|_| anyhow::anyhow!("panicked"))?)
    })
}

/// The response heads in `out` (each line, Date dropped, line ends normalised) and the rest.
fn split_response(out: &str) -> (Vec<String>, String) {
    let mut heads = Vec::new();
    let mut rest = out;
    while rest.starts_with("HTTP/") {
        let end = rest.find("\r\n\r\n").map_or(rest.len(), |i| i + 4);
        heads.extend(
            rest[..end]
                .lines()
                .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
                .map(|l| l.trim_end().to_string()),
        );
        rest = &rest[end..];
    }
    (heads, rest.to_string())
}

/// -o, -O, -D, -i, -I, -H, -X, -d (and @file), -A, -w (@file, %{json}, %{stderr}), -v, and the
/// progress meter, which curl shows when the body does not go to a terminal unless -s.
fn output_options() -> Result<()> {
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    let base = format!("http://{V4}");
    let out = lab.dir.join("out");
    let o = out.to_string_lossy().into_owned();
    let r = lab.ours(blue, &["-o", &o, &format!("{base}/bytes/300000")])?;
    ensure!(r.success(), "{}", r.describe("-o"));
    check_file(&out, 300_000)?;
    ensure!(
        r.stderr.contains("% Total") && r.stderr.contains("Dload"),
        "no progress meter: {}",
        r.describe("-o")
    );
    let r = lab.ours(blue, &["-s", "-o", &o, &format!("{base}/")])?;
    ensure!(
        r.success() && r.stderr.is_empty(),
        "{}",
        r.describe("-s -o")
    );
    ensure!(std::fs::read_to_string(&out)? == "blue\n", "-o content");

    // -O names the file after the URL, in the current directory.
    let dir = lab.dir.join("o-dir");
    std::fs::create_dir_all(&dir)?;
    let tool = vrf_lab::tool("vrf-curl-lite")?;
    let mut c = client_cmd(
        &lab.t,
        &tool.to_string_lossy(),
        &["--vrf", &blue.vrf, "-sSO", &format!("{base}/bytes/4096")],
    );
    c.current_dir(&dir);
    let r = not_hung(cmd::run(&mut c)?)?;
    ensure!(r.success(), "{}", r.describe("-O"));
    check_file(&dir.join("4096"), 4096)?;
    let r = lab.ours(blue, &["-sSO", &format!("{base}/")])?;
    expect_code(&r, 23, "Remote file name")?;

    // -D dumps the head; -I prints it; -i puts it before the body.
    let head = lab.dir.join("head");
    let h = head.to_string_lossy().into_owned();
    let r = lab.ours(blue, &["-sS", "-D", &h, &format!("{base}/")])?;
    expect(&r, 0, "blue\n")?;
    let dumped = std::fs::read_to_string(&head)?;
    ensure!(
        dumped.starts_with("HTTP/1.1 200 OK\r\n") && dumped.contains("x-site: blue\r\n"),
        "{dumped:?}"
    );
    let r = lab.ours(blue, &["-sSI", &format!("{base}/bytes/777")])?;
    ensure!(
        r.success()
            && r.stdout.starts_with("HTTP/1.1 200 OK\r\n")
            && r.stdout.contains("content-length: 777\r\n")
            && r.stdout.ends_with("\r\n\r\n"),
        "{}",
        r.describe("-I")
    );
    ensure!(
        lab.http[0]
            .requests()
            .last()
            .is_some_and(|s| s.method == http::Method::HEAD),
        "-I must send HEAD"
    );

    // Request shaping, seen by /echo.
    let data = lab.dir.join("data");
    std::fs::write(&data, "a=1\nb=2\n")?;
    let at = format!("@{}", data.display());
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "-X",
            "PATCH",
            "-H",
            "X-Test: yes",
            "-H",
            "Accept:",
            "-A",
            "agent/1",
            "-d",
            &at,
            "-d",
            "c=3",
            &format!("{base}/echo?q=1"),
        ],
    )?;
    ensure!(r.success(), "{}", r.describe("echo"));
    let e = &r.stdout;
    for want in [
        "PATCH /echo?q=1 HTTP/1.1\n",
        "x-test: yes\n",
        "user-agent: agent/1\n",
        "content-type: application/x-www-form-urlencoded\n",
        "\n\na=1b=2&c=3",
    ] {
        ensure!(e.contains(want), "echo lacks {want:?}:\n{e}");
    }
    ensure!(!e.contains("\naccept:"), "Accept: must be removed:\n{e}");

    // -w: @file, JSON, a switch to stderr.
    let fmt = lab.dir.join("fmt");
    std::fs::write(&fmt, "%{http_code}|%{vrf}|%{stderr}to-stderr")?;
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            &format!("@{}", fmt.display()),
            &format!("{base}/"),
        ],
    )?;
    ensure!(
        r.success() && r.stdout == format!("200|{}|", blue.vrf) && r.stderr == "to-stderr",
        "{}",
        r.describe("-w @file")
    );
    let r = lab.ours(
        blue,
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{json}",
            &format!("{base}/"),
        ],
    )?;
    ensure!(
        r.success()
            && r.stdout.starts_with('{')
            && r.stdout.contains("\"http_code\":200")
            && r.stdout.contains("\"remote_ip\":\"10.99.0.2\""),
        "{}",
        r.describe("-w %{json}")
    );

    // -v: connection, request and response heads on stderr; the body alone on stdout.
    let r = lab.ours(blue, &["-sv", &format!("{base}/")])?;
    ensure!(r.success() && r.stdout == "blue\n", "{}", r.describe("-v"));
    for want in [
        "* ",
        &format!("VRF {}", blue.vrf),
        "> GET / HTTP/1.1",
        "> Host: 10.99.0.2",
        "< HTTP/1.1 200 OK",
        "< x-site: blue",
    ] {
        ensure!(r.stderr.contains(want), "-v lacks {want:?}:\n{}", r.stderr);
    }
    Ok(())
}

/// -H Authorization and Cookie follow a redirect only to the origin the transfer started at: not to
/// another port, not from https to http on the same host, not to another host (curl's rule since
/// 7.83; the curl here, 7.88, is checked alongside). A later redirect back to that origin sends them
/// again, as curl does.
fn credentials_stay_with_their_origin() -> Result<()> {
    let lab = Lab::new()?;
    let blue = &lab.t.blue;
    let ca = lab.ca();
    let other_port = http_server(&blue.peer_ns, "[::]:8080".parse()?, "blue-8080", None)?;
    let http = format!("http://{V4}");
    let cases = [
        (
            "the same origin",
            format!("{http}/redirect-to?url=%2Fecho"),
            true,
        ),
        (
            "another port",
            format!("{http}/redirect-to?url=http%3A%2F%2F{V4}%3A8080%2Fecho"),
            false,
        ),
        (
            "https to http, same host",
            format!("https://{V4}/redirect-to?url=http%3A%2F%2F{V4}%2Fecho"),
            false,
        ),
        (
            "another host",
            format!("{http}/redirect-to?url=http%3A%2F%2F%5B{V6}%5D%2Fecho"),
            false,
        ),
        (
            "away and back",
            format!(
                "{http}/redirect-to?url=http%3A%2F%2F{V4}%3A8080%2Fredirect-to%3Furl%3Dhttp%253A%252F%252F{V4}%252Fecho"
            ),
            true,
        ),
    ];
    for (case, url, sent) in &cases {
        let args = [
            "-sSL",
            "--cacert",
            &ca,
            "-H",
            "Authorization: Bearer s3cret",
            "-H",
            "Cookie: session=s3cret",
            url,
        ];
        for (who, r) in [
            ("vrf-curl-lite", lab.ours(blue, &args)?),
            ("curl", lab.theirs(blue, &args)?),
        ] {
            ensure!(
                r.success() && r.stdout.starts_with("GET /echo "),
                "{case}: {}",
                r.describe(who)
            );
            let auth = r.stdout.contains("\nauthorization: Bearer s3cret\n");
            let cookie = r.stdout.contains("\ncookie: session=s3cret\n");
            ensure!(
                auth == *sent && cookie == *sent,
                "{case}: {who} sent Authorization: {auth}, Cookie: {cookie}; expected {sent} for both:\n{}",
                r.stdout
            );
        }
    }
    ensure!(
        other_port.hits() == 4,
        "the server on port 8080 must get one request of each tool in each of the two cases through it: {}",
        other_port.hits()
    );
    Ok(())
}
