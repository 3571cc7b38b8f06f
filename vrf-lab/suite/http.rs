//! The lab's HTTP/HTTPS test server (`vrf_lab::http`) driven by real curl under `ip vrf exec`: the
//! baseline any HTTP client of ours is compared to. Both peers run a server on the same address and
//! port, labelled "blue" and "red"; each answer, and each server's request counter, says which VRF the
//! request went through.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use http::Version;
use vrf_lab::ca::TestCa;
use vrf_lab::cmd::Run;
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::http::{HttpServer, file_sha256, http_server, pattern_sha256};
use vrf_lab::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Site, TempDir, Topology};

vrf_lab::lab_tests! {
    curl_under_ip_vrf_exec_reaches_each_peers_server,
    https_with_test_ca_and_h2,
    https_by_name_from_each_peers_dns,
    #[timeout(600)]
    routes_as_curl_sees_them,
    large_body_hash,
}

/// The label of `site`'s server.
fn label(site: &Site) -> &'static str {
    if site.table == 10 { "blue" } else { "red" }
}

/// `[::]:port`: IPv4 and IPv6.
fn any(port: u16) -> SocketAddr {
    SocketAddr::from(([0u16; 8], port))
}

/// A server in each peer on `port`, blue's first.
fn servers(t: &Topology, port: u16, tls: Option<&TestCa>) -> Result<[HttpServer; 2]> {
    let config = match tls {
        Some(ca) => Some(ca.server_config(&["www.lab", PEER_V4, PEER_V6])?),
        None => None,
    };
    let one = |s: &Site| http_server(&s.peer_ns, any(port), label(s), config.clone());
    Ok([one(&t.blue)?, one(&t.red)?])
}

/// `ip vrf exec VRF curl args…` in the router namespace.
fn curl(t: &Topology, site: &Site, args: &[&str]) -> Result<Run> {
    let mut a = vec!["vrf", "exec", &site.vrf, "curl"];
    a.extend_from_slice(args);
    t.router_run("ip", &a)
}

/// Fails unless `r` exited 0 and printed exactly `want`.
fn ensure_stdout(r: &Run, want: &str) -> Result<()> {
    ensure!(
        r.success() && r.stdout == want,
        "{}\nexpected stdout {want:?}",
        r.describe("gave the wrong answer")
    );
    Ok(())
}

/// Request counts of both servers.
fn hits(s: &[HttpServer; 2]) -> [usize; 2] {
    [s[0].hits(), s[1].hits()]
}

/// Each VRF's curl reaches its own peer's server, over IPv4 and IPv6, and the other server sees
/// nothing; the peer sees the router's address as the client. The default VRF reaches neither.
fn curl_under_ip_vrf_exec_reaches_each_peers_server() -> Result<()> {
    let t = Topology::new()?;
    let servers = servers(&t, 80, None)?;
    for (url, router) in [
        ("http://10.99.0.2/", ROUTER_V4),
        ("http://[fd00:99::2]/", ROUTER_V6),
    ] {
        for (i, site) in t.sites().into_iter().enumerate() {
            let before = hits(&servers);
            let r = curl(&t, site, &["-sS", "-g", url])?;
            ensure_stdout(&r, &format!("{}\n", label(site)))
                .with_context(|| format!("{url} in VRF {}", site.vrf))?;
            let mut want = before;
            want[i] += 1;
            ensure!(
                hits(&servers) == want,
                "{url} in VRF {}: hits (blue, red) went from {before:?} to {:?}",
                site.vrf,
                hits(&servers)
            );
            let seen = servers[i].requests();
            let last = seen.last().context("no request seen")?;
            ensure!(
                last.peer.ip().to_string() == router
                    && last.target == "/"
                    && last.version == Version::HTTP_11,
                "{url} in VRF {}: the server saw {last:?}",
                site.vrf
            );
        }
    }
    // No route from the default VRF: curl fails (7, could not connect) and no server sees anything.
    let before = hits(&servers);
    let r = t.router_run("curl", &["-sS", "--max-time", "5", "http://10.99.0.2/"])?;
    ensure!(
        !r.success() && hits(&servers) == before,
        "{}",
        r.describe("reached a peer from the default VRF")
    );
    Ok(())
}

/// HTTPS with a certificate from the test CA for `www.lab`, 10.99.0.2 and fd00:99::2: curl trusts it
/// through `--cacert`, negotiates h2 by ALPN (or HTTP/1.1 when told), and without the CA fails with
/// exit 60 before any request.
fn https_with_test_ca_and_h2() -> Result<()> {
    let t = Topology::new()?;
    let ca = TestCa::new()?;
    let dir = TempDir::new("vrf-http")?;
    let ca_file = dir.join("ca.pem");
    ca.write_ca(&ca_file)?;
    let cacert = ca_file.to_str().context("temp path")?;
    let servers = servers(&t, 443, Some(&ca))?;
    for (i, site) in t.sites().into_iter().enumerate() {
        let s = &servers[i];
        let body = format!("{}\n", label(site));
        for url in ["https://10.99.0.2/", "https://[fd00:99::2]/"] {
            let r = curl(&t, site, &["-sS", "-g", "--cacert", cacert, url])?;
            ensure_stdout(&r, &body).with_context(|| format!("{url} in VRF {}", site.vrf))?;
        }
        let h2 = s.hits_over(Version::HTTP_2);
        let r = curl(
            &t,
            site,
            &["-sS", "--http2", "--cacert", cacert, "https://10.99.0.2/"],
        )?;
        ensure_stdout(&r, &body)?;
        ensure!(
            s.versions().contains(&Version::HTTP_2) && s.hits_over(Version::HTTP_2) == h2 + 1,
            "curl --http2 to {}: the server saw versions {:?}",
            label(site),
            s.versions()
        );
        let r = curl(
            &t,
            site,
            &[
                "-sS",
                "--http1.1",
                "--cacert",
                cacert,
                "-w",
                "%{http_version}",
                "https://10.99.0.2/",
            ],
        )?;
        ensure_stdout(&r, &format!("{body}1.1"))?;
        ensure!(s.hits_over(Version::HTTP_11) == 1, "{:?}", s.requests());
        ensure!(s.requests().iter().all(|r| r.tls), "{:?}", s.requests());
        // Not trusted without the CA: exit 60, no request reached the server.
        let (before, conns) = (s.hits(), s.connections());
        let r = curl(&t, site, &["-sS", "https://10.99.0.2/"])?;
        ensure!(
            r.code == Some(60),
            "{}\nexpected exit 60",
            r.describe("without --cacert")
        );
        ensure!(
            s.hits() == before && s.connections() == conns + 1,
            "without --cacert: hits {before} → {}, connections {conns} → {}",
            s.hits(),
            s.connections()
        );
    }
    ensure!(
        servers[0].hits() == 4 && servers[1].hits() == 4,
        "hits (blue, red): {:?}",
        hits(&servers)
    );
    Ok(())
}

/// `https://www.lab/` resolved by glibc under `ip vrf exec` from each peer's own dnsmasq (the router's
/// `/etc/netns/NS/resolv.conf` names 10.99.0.2, which is a different server in each VRF), verified
/// against the certificate's DNS name; an unknown name in the zone is NXDOMAIN (curl exit 6).
fn https_by_name_from_each_peers_dns() -> Result<()> {
    let t = Topology::new()?;
    let ca = TestCa::new()?;
    let dir = TempDir::new("vrf-http")?;
    let ca_file = dir.join("ca.pem");
    ca.write_ca(&ca_file)?;
    let cacert = ca_file.to_str().context("temp path")?;
    let servers = servers(&t, 443, Some(&ca))?;
    let www = |s: &Site| {
        Dnsmasq::builder(&s.peer_ns)
            .zone("lab")
            .host_record("www.lab", [PEER_V4, PEER_V6])
            .start()
    };
    let dns = [www(&t.blue)?, www(&t.red)?];
    let etc = PathBuf::from("/etc/netns").join(&t.router_ns);
    std::fs::create_dir_all(&etc)?;
    let _etc = RemoveDir(etc.clone());
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {PEER_V4}\n"))?;
    for (i, (site, dns)) in t.sites().into_iter().zip(&dns).enumerate() {
        let before = hits(&servers);
        let r = curl(&t, site, &["-sS", "--cacert", cacert, "https://www.lab/"])?;
        ensure_stdout(&r, &format!("{}\n", label(site)))
            .with_context(|| format!("www.lab in VRF {}; dnsmasq log:\n{}", site.vrf, dns.log()))?;
        let mut want = before;
        want[i] += 1;
        ensure!(
            hits(&servers) == want,
            "hits {before:?} → {:?}",
            hits(&servers)
        );
        ensure!(dns.queries_for("www.lab") > 0, "{}", dns.log());
        let r = curl(&t, site, &["-sS", "--cacert", cacert, "https://nope.lab/"])?;
        ensure!(
            r.code == Some(6),
            "{}\nexpected exit 6 (NXDOMAIN)",
            r.describe("an unknown name")
        );
    }
    Ok(())
}

/// Deletes a directory on drop.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The routes behave as documented, as curl sees them (what a client of ours must match).
fn routes_as_curl_sees_them() -> Result<()> {
    let t = Topology::new()?;
    let servers = servers(&t, 80, None)?;
    let blue = &t.blue;
    let url = |path: &str| format!("http://{PEER_V4}{path}");
    let get = |args: &[&str]| curl(&t, blue, args);

    let r = get(&["-sS", "-w", "%{http_code}", &url("/status/503")])?;
    ensure_stdout(&r, "status 503\n503")?;
    let r = get(&["-sS", "-f", &url("/status/503")])?;
    ensure!(r.code == Some(22), "{}", r.describe("-f on a 503"));
    let r = get(&["-sS", "-w", "%{http_code}", &url("/nope")])?;
    ensure_stdout(&r, "not found\n404")?;

    let r = get(&["-sSL", "-w", "%{num_redirects}", &url("/redirect/3")])?;
    ensure_stdout(&r, "blue redirected\n3")?;
    let r = get(&["-sS", "-D", "-", "-o", "/dev/null", &url("/redirect/3")])?;
    ensure!(
        r.stdout.starts_with("HTTP/1.1 302") && r.stdout.contains("location: /redirect/2\r\n"),
        "{}",
        r.stdout
    );
    let target = "/redirect-to?url=http%3A%2F%2F10.99.0.2%2Fstatus%2F201&status=307";
    let r = get(&["-sS", "-D", "-", "-o", "/dev/null", &url(target)])?;
    ensure!(
        r.stdout.starts_with("HTTP/1.1 307")
            && r.stdout
                .contains("location: http://10.99.0.2/status/201\r\n"),
        "{}",
        r.stdout
    );
    let r = get(&["-sSL", &url(target)])?;
    ensure_stdout(&r, "status 201\n")?;

    let r = get(&["-sS", "-I", &url("/bytes/1000")])?;
    ensure!(
        r.success()
            && r.stdout.contains("content-length: 1000\r\n")
            && r.stdout.contains("x-site: blue\r\n"),
        "{}",
        r.describe("HEAD")
    );
    let r = get(&["-sS", "-D", "-", &url("/headers")])?;
    ensure!(
        r.stdout.matches("set-cookie: ").count() == 2
            && r.stdout.contains("x-multi: a\r\nx-multi: b\r\n")
            && r.stdout.ends_with("\r\n\r\nheaders\n"),
        "{}",
        r.stdout
    );

    // HTTP/2 in cleartext with prior knowledge; the echo shows the request as the server got it.
    let r = get(&[
        "-sS",
        "--http2-prior-knowledge",
        "-H",
        "X-Test: 1",
        "--data-binary",
        "hello",
        &url("/echo?q=1"),
    ])?;
    ensure_stdout(
        &r,
        "POST /echo?q=1 HTTP/2.0\naccept: */*\ncontent-length: 5\ncontent-type: application/x-www-form-urlencoded\nuser-agent: curl/VERSION\nx-test: 1\n\nhello"
            .replace("curl/VERSION", &curl_agent(&t, blue)?)
            .as_str(),
    )?;
    ensure!(
        servers[0].versions() == [Version::HTTP_11, Version::HTTP_2],
        "{:?}",
        servers[0].versions()
    );

    // Timing: a delay, a drip over 600 ms, a timeout.
    let r = get(&["-sS", "-w", " %{time_total}", &url("/delay/300")])?;
    ensure!(
        r.success() && r.stdout.starts_with("blue late\n") && seconds(&r)? >= 0.3,
        "{}",
        r.describe("/delay/300")
    );
    let r = get(&["-sS", "-w", " %{time_total}", &url("/drip?bytes=6&ms=600")])?;
    ensure!(
        r.success() && r.stdout.starts_with("xxxxxx ") && seconds(&r)? >= 0.6,
        "{}",
        r.describe("/drip")
    );
    let r = get(&["-sS", "--max-time", "0.3", &url("/delay/5000")])?;
    ensure!(r.code == Some(28), "{}", r.describe("--max-time 0.3"));

    // Chunked: no length, the same bytes as /bytes.
    let dir = TempDir::new("vrf-http")?;
    let file = dir.join("chunked");
    let r = get(&[
        "-sS",
        "-D",
        "-",
        "-o",
        file.to_str().context("temp path")?,
        &url("/chunked/1000000"),
    ])?;
    ensure!(
        r.success()
            && r.stdout.contains("transfer-encoding: chunked\r\n")
            && !r.stdout.contains("content-length"),
        "{}",
        r.describe("/chunked")
    );
    ensure!(
        file_sha256(&file)? == pattern_sha256(1_000_000),
        "/chunked/1000000 differs"
    );
    ensure!(
        servers[1].hits() == 0,
        "red got {:?}",
        servers[1].requests()
    );
    Ok(())
}

/// The `User-Agent` curl sends: `curl/<version>`.
fn curl_agent(t: &Topology, site: &Site) -> Result<String> {
    let r = curl(t, site, &["--version"])?.ok()?;
    let v = r
        .stdout
        .split_whitespace()
        .nth(1)
        .context("curl --version")?;
    Ok(format!("curl/{v}"))
}

/// The number after the last space of the output (`-w ' %{time_total}'`).
fn seconds(r: &Run) -> Result<f64> {
    let s = r.stdout.rsplit(' ').next().unwrap_or_default();
    s.trim()
        .parse()
        .with_context(|| format!("time {s:?} in {:?}", r.stdout))
}

/// 48 MiB from `/bytes/`, to a file, over HTTP/1.1 and HTTP/2 (cleartext): the file's SHA-256
/// (`sha256sum`) is [`pattern_sha256`]'s, which is computed meanwhile on another thread. 48 MiB is more
/// than the 32 MiB HTTP/2 window curl opens, so the server must honour its window updates.
fn large_body_hash() -> Result<()> {
    const N: u64 = 48 << 20;
    let t = Topology::new()?;
    let servers = servers(&t, 80, None)?;
    let want = std::thread::spawn(|| pattern_sha256(N));
    let dir = TempDir::new("vrf-http")?;
    let url = format!("http://{PEER_V4}/bytes/{N}");
    let mut got = Vec::new();
    for (version, extra) in [("1.1", None), ("2", Some("--http2-prior-knowledge"))] {
        let file = dir.join(&format!("body-{version}"));
        let path = file.to_str().context("temp path")?;
        let mut args = vec!["-sS", "-o", path, "-w", "%{http_version} %{size_download}"];
        args.extend(extra);
        args.push(&url);
        let r = curl(&t, &t.blue, &args)?;
        ensure_stdout(&r, &format!("{version} {N}"))?;
        let len = std::fs::metadata(&file)?.len();
        ensure!(len == N, "HTTP/{version}: {len} bytes, expected {N}");
        got.push((version, file_sha256(&file)?));
        std::fs::remove_file(&file)?;
    }
    let want = want
        .join()
        .map_err(|_| anyhow::anyhow!("pattern_sha256 panicked"))?;
    for (version, got) in got {
        ensure!(got == want, "HTTP/{version}: sha256 {got}, expected {want}");
    }
    ensure!(
        servers[0].versions() == [Version::HTTP_11, Version::HTTP_2] && servers[1].hits() == 0,
        "blue saw {:?}, red {} requests",
        servers[0].versions(),
        servers[1].hits()
    );
    Ok(())
}
