//! The Python package `vrf_socket` (vrf-socket-py) on real VRFs: its pytest suite
//! (`vrf-socket-py/tests/`) runs in the router namespace against a topology whose peers serve HTTP
//! and HTTPS (the lab CA's certificate for `www.lab`), DNS (a dnsmasq each, the VRFs' own resolv.conf)
//! and SSH (an sshd each, with its own host key), once as root and once as `nobody` with no
//! capability. The package is the wheel `scripts/package.sh` builds (`target/wheels/`), unpacked for
//! Debian's python3, with Debian's paramiko, requests and pytest.
//!
//! The topology reaches pytest as `VRFLAB_*` variables (see `vrf-socket-py/tests/conftest.py`); a run
//! passes only if pytest exits 0, ran tests, and skipped none.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vrf_lab::ca::TestCa;
use vrf_lab::cmd::{self, Run};
use vrf_lab::dnsmasq::Dnsmasq;
use vrf_lab::http::{HttpServer, http_server};
use vrf_lab::python::{chmod, chmod_tree};
use vrf_lab::{PEER_V4, PEER_V6, ResolvConfs, Site, TempDir, Topology};

vrf_lab::lab_tests! {
    #[timeout(600)]
    pytest_as_root,
    #[timeout(600)]
    pytest_as_nobody,
}

/// What `side.lab` resolves to in each VRF: the same name, a different answer.
const SIDE: [&str; 2] = ["192.0.2.11", "192.0.2.12"];

/// The topology with every peer service running, the package unpacked and the tests copied, all
/// readable by `nobody`.
struct Lab {
    t: Topology,
    dir: TempDir,
    _http: Vec<HttpServer>,
    _dns: Vec<Dnsmasq>,
    _sshd: Vec<Sshd>,
    _confs: ResolvConfs,
}

impl Lab {
    fn new() -> Result<Lab> {
        let t = Topology::new()?;
        let dir = TempDir::new("vrf-py")?;
        chmod(dir.path(), 0o755)?;
        vrf_lab::python::unpack_wheel(&vrf_lab::python::wheel()?, &dir.join("site"))?;
        copy_tests(&dir.join("tests"))?;
        let ca = TestCa::new()?;
        ca.write_ca(dir.join("ca.pem"))?;
        let ssh_key = dir.join("client");
        keygen(&ssh_key)?;
        std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys"))?;
        // Read by the nobody run's paramiko: a throw-away key of this test.
        chmod(&ssh_key, 0o644)?;
        let mut http = Vec::new();
        let mut dns = Vec::new();
        let mut sshd = Vec::new();
        for (i, site) in t.sites().into_iter().enumerate() {
            let label = label(site);
            http.push(http_server(&site.peer_ns, "[::]:80".parse()?, label, None)?);
            let tls = ca.server_config(&["www.lab", PEER_V4, PEER_V6])?;
            http.push(http_server(
                &site.peer_ns,
                "[::]:443".parse()?,
                label,
                Some(tls),
            )?);
            dns.push(
                Dnsmasq::builder(&site.peer_ns)
                    .zone("lab")
                    .host_record("www.lab", [PEER_V4, PEER_V6])
                    .host_record("ssh.lab", [PEER_V4])
                    .host_record("side.lab", [SIDE[i]])
                    .start()?,
            );
            let host_key = dir.join(&format!("host-{label}"));
            keygen(&host_key)?;
            sshd.push(Sshd::start(site, &host_key, &dir.join("authorized_keys"))?);
        }
        let confs = ResolvConfs::write(&t, &format!("nameserver {PEER_V4}\n"))?;
        for (key, value) in [
            ("net.ipv4.tcp_l3mdev_accept", "1"),
            ("net.ipv4.udp_l3mdev_accept", "1"),
            // ICMP datagram sockets for every group, root's too (the default range allows none).
            ("net.ipv4.ping_group_range", "0 2147483647"),
        ] {
            t.router_sysctl(key, value)?;
        }
        for s in &sshd {
            s.wait_listening(&t)?;
        }
        Ok(Lab {
            t,
            dir,
            _http: http,
            _dns: dns,
            _sshd: sshd,
            _confs: confs,
        })
    }

    /// pytest in the router namespace, as `nobody` (uid and gid 65534) or root, selecting `-m marks`.
    fn pytest(&self, nobody: bool, marks: &str) -> Result<Run> {
        let mut args: Vec<String> = Vec::new();
        if nobody {
            args.extend(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "--inh-caps=-all",
                    "--",
                ]
                .map(String::from),
            );
        }
        let tests = self.dir.join("tests");
        args.extend(
            [
                "timeout",
                "-s",
                "KILL",
                "500",
                "/usr/bin/python3",
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "-rfEsx",
                "--color=no",
                "-m",
                marks,
                &tests.to_string_lossy(),
            ]
            .map(String::from),
        );
        let mut c = self.t.router_cmd(&args[0], &args[1..]);
        c.current_dir(self.dir.path())
            .env("PYTHONPATH", self.dir.join("site"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("HOME", self.dir.path())
            .env("VRFLAB_CA", self.dir.join("ca.pem"))
            .env("VRFLAB_SSH_KEY", self.dir.join("client"));
        for site in self.t.sites() {
            let up = label(site).to_uppercase();
            let side = SIDE[usize::from(site.table != 10)];
            c.env(format!("VRFLAB_{up}"), &site.vrf)
                .env(format!("VRFLAB_{up}_DEV"), &site.dev)
                .env(format!("VRFLAB_{up}_NS"), &site.peer_ns)
                .env(format!("VRFLAB_{up}_TABLE"), site.table.to_string())
                .env(format!("VRFLAB_{up}_TTL"), site.peer_ttl.to_string())
                .env(format!("VRFLAB_{up}_SIDE"), side)
                .env(
                    format!("VRFLAB_{up}_HOSTKEY"),
                    self.dir.join(&format!("host-{}.pub", label(site))),
                );
        }
        let started = Instant::now();
        let r = cmd::run(&mut c)?;
        eprintln!(
            "python: pytest as {} took {:.1} s",
            if nobody { "nobody" } else { "root" },
            started.elapsed().as_secs_f64()
        );
        Ok(r)
    }

    /// The peers' sshd logs, for a failure message.
    fn sshd_logs(&self) -> String {
        self._sshd
            .iter()
            .map(|s| {
                let log = std::fs::read_to_string(&s.log).unwrap_or_default();
                format!("sshd in {}:\n{log}", s.peer_ns)
            })
            .collect()
    }
}

fn label(site: &Site) -> &'static str {
    if site.table == 10 { "blue" } else { "red" }
}

/// Checks a pytest run: exit 0, at least `min` tests passed, none skipped, xfailed or in error.
fn passed(r: &Run, min: usize, what: &str) -> Result<usize> {
    let summary = r
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" in ") && (l.contains("passed") || l.contains("failed")))
        .unwrap_or_default();
    ensure!(r.success(), "{}", r.describe(what));
    let count = |word: &str| -> usize {
        summary
            .split(", ")
            .filter_map(|part| {
                let mut it = part.trim_matches('=').split_whitespace();
                let n: usize = it.next()?.parse().ok()?;
                (it.next()? == word).then_some(n)
            })
            .sum()
    };
    let n = count("passed");
    for bad in ["skipped", "xfailed", "xpassed", "error", "errors", "failed"] {
        ensure!(
            count(bad) == 0,
            "pytest {what}: {bad} tests ({summary}):\n{}",
            r.describe(what)
        );
    }
    ensure!(
        n >= min,
        "pytest {what} passed only {n} tests, fewer than {min} ({summary})"
    );
    eprintln!("python: {what}: {summary}");
    Ok(n)
}

/// The whole suite as root but for what only an unprivileged user sees (`nobody`-marked tests).
fn pytest_as_root() -> Result<()> {
    let lab = Lab::new()?;
    let r = lab.pytest(false, "not nobody")?;
    passed(&r, 60, "as root").with_context(|| lab.sshd_logs())?;
    Ok(())
}

/// Everything that needs no privilege, as `nobody` with no capability: lookups, VRF sockets of every
/// unprivileged kind, DNS in the VRF, HTTP, TLS, requests, paramiko, asyncio, servers, pktinfo.
fn pytest_as_nobody() -> Result<()> {
    let lab = Lab::new()?;
    let r = lab.pytest(true, "not root")?;
    passed(&r, 50, "as nobody").with_context(|| lab.sshd_logs())?;
    Ok(())
}

/// The package's tests, copied where `nobody` can read them.
fn copy_tests(to: &Path) -> Result<()> {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vrf-socket-py/tests");
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        if name.to_string_lossy().ends_with(".py") {
            std::fs::copy(e.path(), to.join(&name))?;
        }
    }
    chmod_tree(to)
}

/// An ed25519 key pair without a passphrase at `path` and `path.pub`.
fn keygen(path: &Path) -> Result<()> {
    cmd::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "vrf-lab", "-f"])
            .arg(path),
    )?
    .ok()?;
    Ok(())
}

/// Debian's sshd in a peer's namespace, with its own host key, root's key login only, SFTP only;
/// killed on drop.
struct Sshd {
    child: Child,
    log: PathBuf,
    peer_ns: String,
    vrf: String,
}

impl Sshd {
    fn start(site: &Site, host_key: &Path, authorized: &Path) -> Result<Sshd> {
        // The privilege-separation directory sshd insists on.
        std::fs::create_dir_all("/run/sshd")?;
        let log = host_key.with_extension("log");
        let opt = |k: &str, v: &str| ["-o".to_string(), format!("{k}={v}")];
        let mut args = vec![
            "-D".to_string(),
            "-e".into(),
            "-f".into(),
            "/dev/null".into(),
        ];
        for (k, v) in [
            ("HostKey", host_key.to_string_lossy().as_ref()),
            ("AuthorizedKeysFile", authorized.to_string_lossy().as_ref()),
            ("PermitRootLogin", "prohibit-password"),
            ("PasswordAuthentication", "no"),
            ("StrictModes", "no"),
            // PAM's account check, as Debian's sshd does it: without PAM sshd refuses any account
            // whose password field is locked, root's on many hosts.
            ("UsePAM", "yes"),
            ("PidFile", "none"),
            ("ListenAddress", "0.0.0.0"),
            ("ListenAddress", "::"),
            ("LogLevel", "VERBOSE"),
            // SFTP only, served inside sshd: a session that starts no shell, whose profile
            // (root's .bashrc) would cost seconds under TCG. The test reads a file of the peer.
            ("ForceCommand", "internal-sftp"),
            ("Subsystem", "sftp internal-sftp"),
        ] {
            args.extend(opt(k, v));
        }
        let child = vrf_lab::topology::netns_cmd(&site.peer_ns, "/usr/sbin/sshd", &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting sshd (apt-get install openssh-server)")?;
        Ok(Sshd {
            child,
            log,
            peer_ns: site.peer_ns.clone(),
            vrf: site.vrf.clone(),
        })
    }

    /// Waits (up to a minute: sshd starts slowly under TCG) until sshd answers with its banner
    /// through its VRF.
    fn wait_listening(&self, t: &Topology) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = cmd::run(&mut t.router_cmd(
                "timeout",
                &[
                    "5",
                    "ip",
                    "vrf",
                    "exec",
                    &self.vrf,
                    "bash",
                    "-c",
                    &format!("exec 3<>/dev/tcp/{PEER_V4}/22 && head -c 4 <&3"),
                ],
            ))?;
            if r.stdout.starts_with("SSH-") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "sshd in {} does not answer after 60 s: {}\n{}",
                    self.peer_ns,
                    r.describe("banner"),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
