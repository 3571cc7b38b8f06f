//! vrf-socket's VRF-scoped resolver (feature `dns`) against real DNS servers: a dnsmasq in each peer
//! namespace answers the same names with different addresses (blue's peer `…1`, red's `…2`), so every
//! answer says which VRF the query went through. UDP and TCP (truncated answers), IPv4, IPv6 and
//! link-local name servers, NXDOMAIN and NODATA, a silent server, a loopback one, the per-VRF
//! resolv.conf, the hosts file, and connect-by-name with happy eyeballs.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use vrf_lab::cmd;
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::netns::{self, Server};
use vrf_lab::{PEER_V4, PEER_V6, ROUTER_V4, ROUTER_V6, Site, TempDir, Topology};
use vrf_socket::dns::ResolverOptions;
use vrf_socket::{ConnectOptions, Vrf, VrfResolver};

vrf_lab::lab_tests! {
    each_vrf_gets_its_own_answer_v4 = || each_vrf_gets_its_own_answer(PEER_V4),
    each_vrf_gets_its_own_answer_v6 = || each_vrf_gets_its_own_answer(PEER_V6),
    default_vrf_reaches_neither,
    truncated_answers_retry_over_tcp,
    nxdomain_and_nodata,
    silent_server_times_out,
    loopback_server_fails_at_once,
    per_vrf_resolv_conf_hosts_and_bad_lines,
    link_local_server,
    connect_by_name_happy_eyeballs,
}

/// Blue's peer answers with host number 1, red's with 2.
fn n(site: &Site) -> u8 {
    if site.table == 10 { 1 } else { 2 }
}

fn app_v4(site: &Site) -> IpAddr {
    format!("10.99.1.{}", n(site)).parse().unwrap()
}

fn app_v6(site: &Site) -> IpAddr {
    format!("fd00:1::{}", n(site)).parse().unwrap()
}

/// Addresses of `big.lab`: enough A records that the answer exceeds hickory's EDNS payload (1232 bytes).
const BIG: u8 = 120;

fn big_v4(site: &Site, i: u8) -> IpAddr {
    IpAddr::from([10, n(site), 7, i])
}

/// What `app.lab` resolves to behind `site`, AAAA first.
fn app_answer(site: &Site) -> Vec<IpAddr> {
    vec![app_v6(site), app_v4(site)]
}

/// The dnsmasq of `site`: authoritative for `lab` (unknown names: NXDOMAIN), listening on every address
/// of the peer's eth0 (IPv4, IPv6 and link-local) on port 53, UDP and TCP.
fn dnsmasq(site: &Site) -> Result<Dnsmasq> {
    dnsmasq_in(
        &site.peer_ns,
        n(site),
        &["--interface=eth0", "--bind-dynamic"],
    )
}

/// A dnsmasq in namespace `ns` answering with host number `n`, listening as `listen` says.
fn dnsmasq_in(ns: &str, n: u8, listen: &[&str]) -> Result<Dnsmasq> {
    let mut big = String::new();
    for i in 1..=BIG {
        big.push_str(&format!("{} big.lab\n", IpAddr::from([10, n, 7, i])));
    }
    Dnsmasq::builder(ns)
        .zone("lab")
        .address("app.lab", format!("10.99.1.{n}"))
        .address("app.lab", format!("fd00:1::{n}"))
        // peer.lab is the peer itself, for connecting by name; slow6.lab has an IPv6 address nobody
        // answers at, before the peer's IPv4 one.
        .host_record("peer.lab", [PEER_V4, PEER_V6])
        .host_record("slow6.lab", [PEER_V4, "fd00:99::77"])
        .host_record("v4only.lab", [format!("10.99.3.{n}")])
        .arg("--txt-record=txtonly.lab,no-address-here")
        .hosts(big)
        .listen(listen)
        .start()
}

/// Both dnsmasqs.
fn servers(t: &Topology) -> Result<[Dnsmasq; 2]> {
    Ok([dnsmasq(&t.blue)?, dnsmasq(&t.red)?])
}

/// `options` with a resolv.conf naming `servers`, and an empty hosts file, in `dir`.
fn opts_with(dir: &TempDir, tag: &str, conf: &str) -> Result<ResolverOptions> {
    let rc = dir.file(&format!("resolv-{tag}.conf"), conf)?;
    let hosts = dir.file("hosts", "")?;
    Ok(ResolverOptions::default()
        .resolv_conf(rc)
        .hosts(hosts)
        .timeout(Duration::from_millis(1500)))
}

/// Runs `f` in the router namespace with a current-thread tokio runtime.
fn in_router<T: Send + 'static>(
    t: &Topology,
    f: impl FnOnce(&tokio::runtime::Runtime) -> Result<T> + Send + 'static,
) -> Result<T> {
    netns::run_in(&t.router_ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        f(&rt)
    })
}

fn resolver(vrf: &str, opts: &ResolverOptions) -> Result<VrfResolver> {
    Ok(Vrf::by_name(vrf)?.resolver_with(opts)?)
}

/// TCP connections the peer namespace `ns` accepted so far (`Tcp: PassiveOpens`).
fn passive_opens(ns: &str) -> Result<u64> {
    let snmp = cmd::run(&mut vrf_lab::topology::netns_cmd(
        ns,
        "cat",
        &["/proc/net/snmp"],
    ))?
    .ok()?
    .stdout;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next(), tcp.next());
    names
        .zip(values)
        .and_then(|(n, v)| {
            n.split_whitespace()
                .zip(v.split_whitespace())
                .find(|(k, _)| *k == "PassiveOpens")
                .and_then(|(_, v)| v.parse().ok())
        })
        .context("no Tcp PassiveOpens in /proc/net/snmp")
}

fn ensure_kind(e: &io::Error, kind: io::ErrorKind, parts: &[&str]) -> Result<()> {
    let msg = e.to_string();
    ensure!(
        e.kind() == kind,
        "expected {kind:?}, got {:?}: {msg}",
        e.kind()
    );
    for p in parts {
        ensure!(msg.contains(p), "error {msg:?} does not mention {p:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------

/// Each VRF's resolver, async and blocking, reaches its own peer's server over `server`'s family: the
/// same name, two answers. Small answers stay on UDP.
fn each_vrf_gets_its_own_answer(server: &'static str) -> Result<()> {
    let t = Topology::new()?;
    let dns = servers(&t)?;
    let dir = TempDir::new("vrf-dns")?;
    let opts = opts_with(&dir, "x", &format!("nameserver {server}\n"))?;
    let tcp_before = [
        passive_opens(&t.blue.peer_ns)?,
        passive_opens(&t.red.peer_ns)?,
    ];
    for site in t.sites() {
        let (vrf, o, want) = (site.vrf.clone(), opts.clone(), app_answer(site));
        in_router(&t, move |rt| {
            let r = resolver(&vrf, &o)?;
            ensure!(
                r.name_servers() == [SocketAddr::new(server.parse()?, 53)],
                "{r:?}"
            );
            let got = rt.block_on(r.lookup_ip("app.lab"))?;
            ensure!(
                got == want,
                "async lookup in {vrf}: {got:?}, expected {want:?}"
            );
            // Blocking: on its own runtime, from a plain thread and from inside a runtime.
            let got = r.lookup_ip_blocking("APP.lab")?;
            ensure!(got == want, "blocking lookup in {vrf}: {got:?}");
            let r2 = r.clone();
            let got = rt.block_on(async move {
                let got = r2.lookup_ip_blocking("app.lab");
                drop(r2); // dropping its runtime inside another one must not panic
                got
            })?;
            ensure!(
                got == want,
                "blocking lookup inside a runtime in {vrf}: {got:?}"
            );
            // IP literals need no DNS.
            ensure!(r.lookup_ip_blocking("192.0.2.1")? == ["192.0.2.1".parse::<IpAddr>()?]);
            ensure!(
                rt.block_on(r.lookup_ip("[2001:db8::1]"))? == ["2001:db8::1".parse::<IpAddr>()?]
            );
            Ok(())
        })
        .with_context(|| format!("dnsmasq log:\n{}", dns[usize::from(n(site) - 1)].log()))?;
    }
    for (i, d) in dns.iter().enumerate() {
        ensure!(
            d.queries_for("app.lab") >= 3 * 2,
            "peer {i} saw {} queries for app.lab:\n{}",
            d.queries_for("app.lab"),
            d.log()
        );
    }
    let tcp_after = [
        passive_opens(&t.blue.peer_ns)?,
        passive_opens(&t.red.peer_ns)?,
    ];
    ensure!(
        tcp_after == tcp_before,
        "small answers went over TCP: {tcp_before:?} -> {tcp_after:?}"
    );
    Ok(())
}

/// Outside any VRF neither server is reachable: not by glibc, not by a plain hickory resolver; under
/// `ip vrf exec`, glibc gets the same answers as our resolver (a check of the setup itself).
fn default_vrf_reaches_neither() -> Result<()> {
    let t = Topology::new()?;
    let _dns = servers(&t)?;
    // `ip netns exec` shows /etc/netns/NS/resolv.conf as /etc/resolv.conf.
    let etc = PathBuf::from("/etc/netns").join(&t.router_ns);
    std::fs::create_dir_all(&etc)?;
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = RemoveDir(etc.clone());
    std::fs::write(
        etc.join("resolv.conf"),
        format!("nameserver {PEER_V4}\noptions timeout:1 attempts:1\n"),
    )?;
    let r = t.router_run("getent", &["ahosts", "app.lab"])?;
    ensure!(
        !r.success(),
        "{}",
        r.describe("resolved from the default VRF")
    );
    for site in t.sites() {
        let r = t.router_run(
            "ip",
            &["vrf", "exec", &site.vrf, "getent", "ahostsv4", "app.lab"],
        )?;
        ensure!(
            r.success() && r.stdout.contains(&app_v4(site).to_string()),
            "{}",
            r.describe(&format!("glibc under ip vrf exec {}", site.vrf))
        );
    }
    // hickory's own tokio runtime provider: unbound sockets, in the default VRF.
    in_router(&t, |rt| {
        use hickory_resolver::Resolver;
        use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let config = ResolverConfig::from_name_servers(vec![
            NameServerConfig::udp_and_tcp(PEER_V4.parse()?),
            NameServerConfig::udp_and_tcp(PEER_V6.parse()?),
        ]);
        let mut o = ResolverOpts::default();
        o.timeout = Duration::from_millis(500);
        o.attempts = 0;
        let plain = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(o)
            .build()?;
        let got = rt.block_on(plain.lookup_ip("app.lab."));
        ensure!(got.is_err(), "the default VRF resolved app.lab: {got:?}");
        Ok(())
    })
}

/// An answer too big for UDP comes back truncated, and the resolver asks again over TCP, in each VRF
/// from its own server: the connection is bound to the VRF, reused by the next truncated answer, and
/// closed when the resolver is dropped.
fn truncated_answers_retry_over_tcp() -> Result<()> {
    let t = Topology::new()?;
    let dns = servers(&t)?;
    let dir = TempDir::new("vrf-dns")?;
    for (site, server) in [(&t.blue, PEER_V4), (&t.red, PEER_V6)] {
        let opts = opts_with(&dir, &site.vrf, &format!("nameserver {server}\n"))?;
        let before = passive_opens(&site.peer_ns)?;
        let (vrf, peer_ns) = (site.vrf.clone(), site.peer_ns.clone());
        let (got, conns, opens, after_drop) = in_router(&t, move |rt| {
            let r = resolver(&vrf, &opts)?;
            let got = rt.block_on(r.lookup_ip("big.lab"))?;
            let again = r.lookup_ip_blocking("big.lab")?.len();
            let again2 = rt.block_on(r.lookup_ip("big.lab"))?.len();
            ensure!(
                again == got.len() && again2 == got.len(),
                "{again} {again2}"
            );
            let conns = tcp_connections()?;
            let opens = passive_opens(&peer_ns)?;
            drop(r);
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(300)).await });
            Ok((got, conns, opens, tcp_connections()?))
        })
        .with_context(|| format!("dnsmasq log:\n{}", dns[usize::from(n(site) - 1)].log()))?;
        let mut want: Vec<IpAddr> = (1..=BIG).map(|i| big_v4(site, i)).collect();
        let mut sorted = got.clone();
        sorted.sort();
        want.sort();
        ensure!(
            sorted == want,
            "big.lab in {}: {} addresses {got:?}",
            site.vrf,
            got.len()
        );
        // One connection for the async resolver (used twice), one for the blocking one.
        ensure!(
            opens == before + 2,
            "the peer of {} accepted {} TCP connections for 3 truncated answers",
            site.vrf,
            opens - before
        );
        let scoped = format!("%{}:", site.vrf);
        ensure!(
            conns.len() == 2
                && conns
                    .iter()
                    .all(|c| c.contains(&scoped) && c.contains(":53")),
            "TCP connections while the resolver lives: {conns:?}"
        );
        ensure!(
            after_drop.is_empty(),
            "left open after drop: {after_drop:?}"
        );
    }
    Ok(())
}

/// The established TCP connections of the calling thread's namespace, as `ss -tnH` lists them.
fn tcp_connections() -> Result<Vec<String>> {
    let r =
        cmd::run(std::process::Command::new("ss").args(["-tnH", "state", "established"]))?.ok()?;
    Ok(r.stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect())
}

/// NXDOMAIN is `NotFound` "name does not exist"; a name with no address record is `NotFound` too; a
/// name with only an A record gives just that.
fn nxdomain_and_nodata() -> Result<()> {
    let t = Topology::new()?;
    let _dns = servers(&t)?;
    let dir = TempDir::new("vrf-dns")?;
    let opts = opts_with(&dir, "x", &format!("nameserver {PEER_V6}\n"))?;
    let blue = t.blue.vrf.clone();
    in_router(&t, move |rt| {
        let r = resolver(&blue, &opts)?;
        let e = rt.block_on(r.lookup_ip("missing.lab")).unwrap_err();
        ensure_kind(
            &e,
            io::ErrorKind::NotFound,
            &["\"missing.lab\"", &blue, "name does not exist"],
        )?;
        let e = r.lookup_ip_blocking("missing.lab").unwrap_err();
        ensure_kind(&e, io::ErrorKind::NotFound, &["name does not exist"])?;
        let e = rt.block_on(r.lookup_ip("txtonly.lab")).unwrap_err();
        ensure_kind(
            &e,
            io::ErrorKind::NotFound,
            &["txtonly.lab", &blue, "no address"],
        )?;
        let got = rt.block_on(r.lookup_ip("v4only.lab"))?;
        ensure!(
            got == ["10.99.3.1".parse::<IpAddr>()?],
            "v4only.lab: {got:?}"
        );
        // Reverse: blue's server knows 10.99.3.1 (red's knows 10.99.3.2).
        let got = rt.block_on(r.lookup_addr("10.99.3.1".parse()?))?;
        ensure!(got == ["v4only.lab"], "PTR of 10.99.3.1: {got:?}");
        ensure!(r.lookup_addr_blocking("10.99.3.1".parse()?)? == ["v4only.lab"]);
        // dnsmasq, with no upstream server, refuses what it does not know.
        let e = r.lookup_addr_blocking("10.99.3.2".parse()?).unwrap_err();
        ensure_kind(&e, io::ErrorKind::Other, &["10.99.3.2", &blue, "REFUSED"])?;
        let e = r.lookup_ip_blocking("bad name!").unwrap_err();
        ensure_kind(&e, io::ErrorKind::InvalidInput, &["bad name!", &blue])?;
        Ok(())
    })
}

/// A name server nobody answers at: `TimedOut` after about timeout × attempts, naming the server.
fn silent_server_times_out() -> Result<()> {
    let t = Topology::new()?;
    let dir = TempDir::new("vrf-dns")?;
    let opts = opts_with(&dir, "x", "nameserver 10.99.0.3\n")?
        .timeout(Duration::from_millis(400))
        .attempts(2);
    let blue = t.blue.vrf.clone();
    in_router(&t, move |rt| {
        let r = resolver(&blue, &opts)?;
        for blocking in [false, true] {
            let start = Instant::now();
            let e = if blocking {
                r.lookup_ip_blocking("app.lab").unwrap_err()
            } else {
                rt.block_on(r.lookup_ip("app.lab")).unwrap_err()
            };
            let took = start.elapsed();
            ensure_kind(
                &e,
                io::ErrorKind::TimedOut,
                &[
                    "\"app.lab\"",
                    &blue,
                    "no answer from name server 10.99.0.3",
                    "2 attempts",
                ],
            )?;
            ensure!(
                took >= Duration::from_millis(700) && took < Duration::from_secs(4),
                "timing out took {took:?} (blocking: {blocking})"
            );
        }
        Ok(())
    })
}

/// systemd-resolved's stub is on loopback, which a VRF cannot reach: the lookup fails at once and says
/// so (and a query really gets no answer). With that address on the VRF device, the server is kept.
fn loopback_server_fails_at_once() -> Result<()> {
    let t = Topology::new()?;
    // A server on 127.0.0.53 in the router's default VRF, like systemd-resolved's stub.
    t.router_run("ip", &["addr", "add", "127.0.0.53/8", "dev", "lo"])?
        .ok()?;
    let stub = dnsmasq_in(
        &t.router_ns,
        9,
        &["--listen-address=127.0.0.53", "--bind-interfaces"],
    )?;
    let blue = t.blue.vrf.clone();
    in_router(&t, move |rt| {
        use hickory_resolver::Resolver;
        use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        use vrf_socket::dns::VrfRuntimeProvider;
        let config =
            ResolverConfig::from_name_servers(vec![NameServerConfig::udp("127.0.0.53".parse()?)]);
        let mut o = ResolverOpts::default();
        o.timeout = Duration::from_millis(500);
        o.attempts = 0;
        let plain = Resolver::builder_with_config(config.clone(), TokioRuntimeProvider::default())
            .with_options(o.clone())
            .build()?;
        let got = rt.block_on(plain.lookup_ip("app.lab."))?;
        ensure!(
            got.iter()
                .any(|ip| ip == "10.99.1.9".parse::<IpAddr>().unwrap()),
            "the stub works from the default VRF: {got:?}"
        );
        let in_vrf =
            Resolver::builder_with_config(config, VrfRuntimeProvider::new(Vrf::by_name(&blue)?))
                .with_options(o)
                .build()?;
        let got = rt.block_on(in_vrf.lookup_ip("app.lab."));
        ensure!(
            got.is_err(),
            "the stub answered a query from VRF {blue}: {got:?}"
        );
        Ok(())
    })
    .with_context(|| format!("stub log:\n{}", stub.log()))?;
    let dir = TempDir::new("vrf-dns")?;
    let opts = opts_with(&dir, "x", "nameserver 127.0.0.53\n")?;
    let blue = t.blue.vrf.clone();
    let o = opts.clone();
    in_router(&t, move |rt| {
        let r = resolver(&blue, &o)?;
        ensure!(
            r.name_servers().is_empty() && r.skipped().len() == 1,
            "{r:?}"
        );
        let start = Instant::now();
        let e = rt.block_on(r.lookup_ip("app.lab")).unwrap_err();
        ensure!(
            start.elapsed() < Duration::from_millis(500),
            "took {:?}",
            start.elapsed()
        );
        let want = format!(
            "resolving \"app.lab\" in VRF {blue}: name server 127.0.0.53 is on loopback, unreachable from VRF {blue}: put the VRF's servers in /etc/vrf/{blue}/resolv.conf"
        );
        ensure!(e.to_string() == want, "{e}\nexpected {want}");
        ensure!(
            e.kind() == io::ErrorKind::AddrNotAvailable,
            "{:?}",
            e.kind()
        );
        let e = r.lookup_ip_blocking("app.lab").unwrap_err();
        ensure!(e.to_string() == want, "{e}");
        // /etc/hosts and IP literals still work.
        ensure!(r.lookup_ip_blocking("10.1.2.3")? == ["10.1.2.3".parse::<IpAddr>()?]);
        Ok(())
    })?;
    t.router_run("ip", &["addr", "add", "127.0.0.53/8", "dev", &t.blue.vrf])?
        .ok()?;
    let blue = t.blue.vrf.clone();
    in_router(&t, move |_| {
        let r = resolver(&blue, &opts)?;
        ensure!(
            r.skipped().is_empty() && r.name_servers().len() == 1,
            "with 127.0.0.53/8 on the VRF device: {r:?}"
        );
        Ok(())
    })
}

/// Default options read /etc/vrf/NAME/resolv.conf when it exists (else /etc/resolv.conf); a hosts
/// file answers before any query; unparsable lines are skipped and reported.
fn per_vrf_resolv_conf_hosts_and_bad_lines() -> Result<()> {
    let t = Topology::new()?;
    let dns = servers(&t)?;
    let etc = PathBuf::from("/etc/vrf").join(&t.blue.vrf);
    std::fs::create_dir_all(&etc)?;
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = RemoveDir(etc.clone());
    std::fs::write(
        etc.join("resolv.conf"),
        format!(
            "# blue's own\nnameserver fe80::1%nosuchdev0\nnameserver not-an-address\noptions timeout:1 ndots:x\nnameserver {PEER_V4}\nsearch lab\n"
        ),
    )?;
    let (blue, red) = (t.blue.clone(), t.red.clone());
    in_router(&t, move |rt| {
        let r = Vrf::by_name(&blue.vrf)?.resolver()?;
        ensure!(r.conf_path() == etc.join("resolv.conf"), "{r:?}");
        let warnings: Vec<String> = r.conf().warnings.iter().map(|w| w.to_string()).collect();
        ensure!(
            warnings.len() == 2
                && warnings[0].contains("line 3")
                && warnings[0].contains("not an IP address")
                && warnings[1].contains("ndots:x"),
            "{warnings:#?}"
        );
        ensure!(
            r.skipped().len() == 1 && r.skipped()[0].reason.contains("not a device"),
            "{:?}",
            r.skipped()
        );
        ensure!(r.name_servers() == [SocketAddr::new(PEER_V4.parse()?, 53)]);
        // The search list makes `app` app.lab.
        let got = rt.block_on(r.lookup_ip("app"))?;
        ensure!(
            got == app_answer(&blue),
            "app via search in {}: {got:?}",
            blue.vrf
        );
        // Red has no file of its own: /etc/resolv.conf.
        let r = Vrf::by_name(&red.vrf)?.resolver()?;
        ensure!(r.conf_path() == Path::new("/etc/resolv.conf"), "{r:?}");
        Ok(())
    })
    .with_context(|| format!("dnsmasq log:\n{}", dns[0].log()))?;

    // The hosts file first: found there, no query at all (the only server is silent).
    let dir = TempDir::new("vrf-dns")?;
    let hosts = dir.file(
        "hosts",
        "# test hosts\n10.5.5.5 fromhosts.lab alias.lab\nfd00:5::5 fromhosts.lab\nbogus line\n",
    )?;
    let rc = dir.file("resolv.conf", "nameserver 10.99.0.3\n")?;
    let opts = ResolverOptions::default()
        .resolv_conf(rc)
        .hosts(hosts)
        .timeout(Duration::from_millis(300))
        .attempts(1);
    let blue = t.blue.vrf.clone();
    in_router(&t, move |rt| {
        let r = resolver(&blue, &opts)?;
        let start = Instant::now();
        let got = rt.block_on(r.lookup_ip("FromHosts.lab"))?;
        ensure!(
            got == ["fd00:5::5".parse::<IpAddr>()?, "10.5.5.5".parse()?],
            "{got:?}"
        );
        ensure!(r.lookup_ip_blocking("alias.lab")? == ["10.5.5.5".parse::<IpAddr>()?]);
        let names = r.lookup_addr_blocking("10.5.5.5".parse()?)?;
        ensure!(
            names.iter().any(|n| n == "fromhosts.lab"),
            "PTR from hosts: {names:?}"
        );
        ensure!(
            start.elapsed() < Duration::from_millis(250),
            "took {:?}",
            start.elapsed()
        );
        let e = r.lookup_ip_blocking("nothosts.lab").unwrap_err();
        ensure!(e.kind() == io::ErrorKind::TimedOut, "{e}");
        Ok(())
    })?;
    // A resolv.conf named in the options must exist.
    let blue = t.blue.vrf.clone();
    in_router(&t, move |_| {
        let e = Vrf::by_name(&blue)?
            .resolver_with(&ResolverOptions::default().resolv_conf("/nonexistent/resolv.conf"))
            .unwrap_err();
        ensure_kind(&e, io::ErrorKind::NotFound, &["/nonexistent/resolv.conf"])
    })
}

/// The IPv6 link-local address of `dev` in namespace `ns`, once DAD has finished with it.
fn link_local(ns: &str, dev: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = cmd::run(&mut vrf_lab::topology::netns_cmd(
            ns,
            "ip",
            &["-6", "-o", "addr", "show", "dev", dev, "scope", "link"],
        ))?
        .ok()?
        .stdout;
        if !out.contains("tentative")
            && let Some(addr) = out
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
        {
            return Ok(addr.to_string());
        }
        if Instant::now() > deadline {
            bail!("no usable link-local address on {dev} in {ns}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `nameserver fe80::…%dev`: used when dev is in the VRF (each packet carries the scope), skipped with a
/// reason when dev is in another VRF.
fn link_local_server() -> Result<()> {
    let t = Topology::new()?;
    let peer_ll = link_local(&t.blue.peer_ns, "eth0")?;
    link_local(&t.router_ns, &t.blue.dev)?;
    let dns = servers(&t)?;
    let dir = TempDir::new("vrf-dns")?;
    let good = opts_with(
        &dir,
        "good",
        &format!("nameserver {peer_ll}%{}\n", t.blue.dev),
    )?;
    let wrong = opts_with(
        &dir,
        "wrong",
        &format!("nameserver {peer_ll}%{}\n", t.red.dev),
    )?;
    let (blue, red) = (t.blue.clone(), t.red.clone());
    in_router(&t, move |rt| {
        let r = resolver(&blue.vrf, &good)?;
        ensure!(r.skipped().is_empty(), "{r:?}");
        let got = rt.block_on(r.lookup_ip("app.lab"))?;
        ensure!(
            got == app_answer(&blue),
            "via {peer_ll}%{}: {got:?}",
            blue.dev
        );
        let r = resolver(&blue.vrf, &wrong)?;
        ensure!(
            r.skipped().len() == 1 && r.skipped()[0].reason.contains(&red.vrf),
            "{:?}",
            r.skipped()
        );
        let e = r.lookup_ip_blocking("app.lab").unwrap_err();
        ensure_kind(
            &e,
            io::ErrorKind::AddrNotAvailable,
            &[&red.dev, &format!("in VRF {}, not {}", red.vrf, blue.vrf)],
        )?;
        Ok(())
    })
    .with_context(|| format!("dnsmasq log:\n{}", dns[0].log()))
}

const PORT: u16 = 12400;

/// A TCP server in `site`'s peer that answers `peer-of-<vrf> <client address>`; `v6`: a dual-stack
/// socket, else IPv4 only.
fn peer_server(site: &Site, port: u16, v6: bool) -> Result<Server> {
    let who = format!("peer-of-{}", site.vrf);
    netns::tcp_server(
        &site.peer_ns,
        move || {
            Ok(if v6 {
                let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
                s.set_only_v6(false)?;
                s.set_reuse_address(true)?;
                s.bind(&SocketAddr::from(([0u16; 8], port)).into())?;
                s.listen(16)?;
                TcpListener::from(s)
            } else {
                TcpListener::bind(("0.0.0.0", port))?
            })
        },
        move |mut conn, from| {
            use std::io::Write;
            let ip = match from.ip() {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                ip => ip,
            };
            let _ = write!(conn, "{who} {ip}");
        },
    )
}

fn read_reply(mut s: std::net::TcpStream) -> Result<String> {
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Connecting by name reaches each VRF's own peer (std and tokio); an address that does not answer
/// delays the next by 250 ms, not by a connect timeout; a refused one hands over at once.
fn connect_by_name_happy_eyeballs() -> Result<()> {
    let t = Topology::new()?;
    let dns = servers(&t)?;
    let _dual = [
        peer_server(&t.blue, PORT, true)?,
        peer_server(&t.red, PORT, true)?,
    ];
    let _v4only = peer_server(&t.blue, PORT + 1, false)?;
    let dir = TempDir::new("vrf-dns")?;
    let opts = opts_with(&dir, "x", &format!("nameserver {PEER_V4}\n"))?;
    // Vrf::tcp_connect_host and tokio::connect_host use the VRF's own resolv.conf.
    let mut cleanup = Vec::new();
    for site in t.sites() {
        let etc = PathBuf::from("/etc/vrf").join(&site.vrf);
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("resolv.conf"), format!("nameserver {PEER_V6}\n"))?;
        cleanup.push(etc);
    }
    struct RemoveDirs(Vec<PathBuf>);
    impl Drop for RemoveDirs {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let _cleanup = RemoveDirs(cleanup);
    let sites: Vec<Site> = t.sites().into_iter().cloned().collect();
    in_router(&t, move |rt| {
        for site in &sites {
            let vrf = Vrf::by_name(&site.vrf)?;
            let who = format!("peer-of-{}", site.vrf);
            // IPv6 first: the peer sees the router's IPv6 address.
            let s = vrf.tcp_connect_host("peer.lab", PORT, &ConnectOptions::default())?;
            let got = read_reply(s)?;
            ensure!(
                got == format!("{who} {ROUTER_V6}"),
                "std connect in {}: {got}",
                site.vrf
            );
            let got = rt.block_on(async {
                use tokio::io::AsyncReadExt;
                let mut s = vrf_socket::tokio::connect_host(
                    &vrf,
                    "peer.lab",
                    PORT,
                    &ConnectOptions::default(),
                )
                .await?;
                let mut out = String::new();
                s.read_to_string(&mut out).await?;
                Ok::<_, io::Error>(out)
            })?;
            ensure!(
                got == format!("{who} {ROUTER_V6}"),
                "tokio connect in {}: {got}",
                site.vrf
            );
            // A source address keeps only its family.
            let src = ConnectOptions::default().source(ROUTER_V4.parse()?);
            let got = read_reply(vrf.tcp_connect_host("peer.lab", PORT, &src)?)?;
            ensure!(
                got == format!("{who} {ROUTER_V4}"),
                "with an IPv4 source in {}: {got}",
                site.vrf
            );
            // IP literals need no DNS.
            let got = read_reply(vrf.tcp_connect_host(
                &format!("[{PEER_V6}]"),
                PORT,
                &ConnectOptions::default(),
            )?)?;
            ensure!(
                got == format!("{who} {ROUTER_V6}"),
                "literal in {}: {got}",
                site.vrf
            );
        }
        let blue = Vrf::by_name(&sites[0].vrf)?;
        let r = blue.resolver_with(&opts)?;
        // IPv6 refused (IPv4-only server): IPv4 at once.
        let start = Instant::now();
        let got = read_reply(r.tcp_connect("peer.lab", PORT + 1, &ConnectOptions::default())?)?;
        ensure!(
            got == format!("peer-of-{} {ROUTER_V4}", sites[0].vrf),
            "{got}"
        );
        ensure!(
            start.elapsed() < Duration::from_millis(240),
            "refused v6 took {:?}",
            start.elapsed()
        );
        // IPv6 unanswered (nobody at fd00:99::77): IPv4 250 ms later, well before any connect timeout.
        let start = Instant::now();
        let got = rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let mut s = r
                .connect("slow6.lab", PORT, &ConnectOptions::default())
                .await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            Ok::<_, io::Error>(out)
        })?;
        let took = start.elapsed();
        ensure!(
            got == format!("peer-of-{} {ROUTER_V4}", sites[0].vrf),
            "{got}"
        );
        ensure!(
            took >= Duration::from_millis(240) && took < Duration::from_secs(2),
            "slow6.lab took {took:?}"
        );
        // Nobody listening: every address is named in the error.
        let e = r
            .tcp_connect("peer.lab", PORT + 2, &ConnectOptions::default())
            .unwrap_err();
        ensure_kind(
            &e,
            io::ErrorKind::ConnectionRefused,
            &[
                "\"peer.lab\"",
                &sites[0].vrf,
                &format!("[{PEER_V6}]:{}", PORT + 2),
                &format!("{PEER_V4}:{}", PORT + 2),
            ],
        )?;
        // The whole connect bounded by opts.timeout.
        let e = r
            .tcp_connect(
                "slow6.lab",
                PORT + 2,
                &ConnectOptions::default()
                    .source(ROUTER_V6.parse()?)
                    .timeout(Duration::from_millis(300)),
            )
            .unwrap_err();
        ensure_kind(&e, io::ErrorKind::TimedOut, &["\"slow6.lab\"", "timed out"])?;
        Ok(())
    })
    .with_context(|| anyhow!("dnsmasq log:\n{}", dns[0].log()))
}
