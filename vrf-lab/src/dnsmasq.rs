//! dnsmasq as the lab's DNS server: started in a namespace (usually a peer's), configured only from its
//! command line, its log kept in memory, killed on drop.
//!
//! A server for the peer behind `site` that answers `www.lab` with the peer's own addresses and is
//! authoritative for `lab` (any other name under it: NXDOMAIN):
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! # let t = vrf_lab::Topology::new()?;
//! # let site = &t.blue;
//! use vrf_lab::dnsmasq::Dnsmasq;
//! use vrf_lab::{PEER_V4, PEER_V6};
//!
//! let dns = Dnsmasq::builder(&site.peer_ns)
//!     .zone("lab")
//!     .host_record("www.lab", [PEER_V4, PEER_V6])
//!     .start()?;
//! // … queries to 10.99.0.2 / fd00:99::2, port 53, through the site's VRF …
//! assert!(dns.queries_for("www.lab") > 0, "{}", dns.log());
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::TempDir;

/// How long dnsmasq may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running dnsmasq, killed (and reaped) on drop. Its log (stderr: start-up messages, and each query
/// unless [`DnsmasqBuilder::log_queries`] turned that off) is collected as it runs.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    log: Arc<Mutex<String>>,
    _dir: TempDir,
}

/// What a [`Dnsmasq`] will serve and where it will listen; [`DnsmasqBuilder::start`] runs it.
///
/// Always: no configuration file, no upstream servers (`--no-resolv`), no `/etc/hosts`, port 53 (UDP
/// and TCP), running as root, in the foreground, logging to stderr.
#[derive(Debug, Clone)]
pub struct DnsmasqBuilder {
    ns: String,
    args: Vec<Arg>,
    listen: Vec<String>,
    log_queries: bool,
}

/// An option of the command line, or a hosts file to write first and name there.
#[derive(Debug, Clone)]
enum Arg {
    Option(String),
    Hosts(String),
}

impl Dnsmasq {
    /// A dnsmasq for network namespace `ns`, listening on every address of `eth0` (IPv4, IPv6,
    /// link-local; `--interface=eth0 --bind-dynamic`, the peers' device) and logging queries, serving
    /// nothing until told what.
    pub fn builder(ns: &str) -> DnsmasqBuilder {
        DnsmasqBuilder {
            ns: ns.to_string(),
            args: Vec::new(),
            listen: vec!["--interface=eth0".into(), "--bind-dynamic".into()],
            log_queries: true,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many queries for `name` it logged (any type; needs query logging, the default).
    pub fn queries_for(&self, name: &str) -> usize {
        let needle = format!(" {name} from ");
        self.log()
            .lines()
            .filter(|l| l.contains("query[") && l.contains(&needle))
            .count()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DnsmasqBuilder {
    /// Authoritative for `zone` (`--local=/zone/`): names under it are answered from this server's
    /// own records only; one it does not know is NXDOMAIN, never forwarded.
    pub fn zone(self, zone: &str) -> Self {
        self.arg(format!("--local=/{zone}/"))
    }

    /// `name` **and every name under it** resolve to `addr` (`--address=/name/addr`); call once per
    /// address (an IPv4 and an IPv6 one give A and AAAA answers).
    pub fn address(self, name: &str, addr: impl Display) -> Self {
        self.arg(format!("--address=/{name}/{addr}"))
    }

    /// Exactly `name` resolves to `addrs` (A and AAAA), and those addresses back to `name` (PTR)
    /// (`--host-record`).
    pub fn host_record<T: Display>(self, name: &str, addrs: impl IntoIterator<Item = T>) -> Self {
        let mut rec = format!("--host-record={name}");
        for a in addrs {
            rec.push_str(&format!(",{a}"));
        }
        self.arg(rec)
    }

    /// Also serves the records of `text`, a hosts file (`ADDRESS NAME…` lines; `--addn-hosts`).
    pub fn hosts(mut self, text: impl Into<String>) -> Self {
        self.args.push(Arg::Hosts(text.into()));
        self
    }

    /// Any other dnsmasq option, as written on its command line (`--txt-record=a.lab,text`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(Arg::Option(arg.into()));
        self
    }

    /// Where to listen instead of the default `--interface=eth0 --bind-dynamic`, as dnsmasq options
    /// (`["--listen-address=127.0.0.53", "--bind-interfaces"]`).
    pub fn listen(mut self, options: &[&str]) -> Self {
        self.listen = options.iter().map(|o| o.to_string()).collect();
        self
    }

    /// Whether to log each query (`--log-queries`, the default), which [`Dnsmasq::queries_for`]
    /// counts; off for benchmarks, where the logging would cost time on every query.
    pub fn log_queries(mut self, on: bool) -> Self {
        self.log_queries = on;
        self
    }

    /// Starts dnsmasq in the namespace and returns once it serves (it logged `started`, which it does
    /// after binding its sockets); the error says why not, with its log.
    pub fn start(self) -> Result<Dnsmasq> {
        let ns = &self.ns;
        let dir = TempDir::new("vrf-dnsmasq")?;
        let mut args = vec![
            "--keep-in-foreground".to_string(),
            "--conf-file=/dev/null".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--no-poll".into(),
            "--user=root".into(),
            "--group=root".into(),
            format!("--pid-file={}", dir.join("pid").display()),
            "--log-facility=-".into(),
        ];
        if self.log_queries {
            args.push("--log-queries".into());
        }
        args.push("--port=53".into());
        for (i, a) in self.args.iter().enumerate() {
            args.push(match a {
                Arg::Option(o) => o.clone(),
                Arg::Hosts(text) => {
                    let path = dir.file(&format!("hosts{i}"), text)?;
                    format!("--addn-hosts={}", path.display())
                }
            });
        }
        args.extend(self.listen.iter().cloned());
        let mut c = crate::topology::netns_cmd(ns, "dnsmasq", &args);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .context("starting dnsmasq (apt-get install dnsmasq-base)")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().context("dnsmasq stderr")?;
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let started = line.contains("started, version");
                let mut l = log2.lock().unwrap_or_else(PoisonError::into_inner);
                l.push_str(&line);
                l.push('\n');
                drop(l);
                if started {
                    let _ = tx.send(());
                }
            }
        });
        let mut d = Dnsmasq {
            child,
            log,
            _dir: dir,
        };
        if rx.recv_timeout(START_TIMEOUT).is_err() {
            let status = d.child.try_wait()?;
            bail!(
                "dnsmasq in {ns} did not start (exit {status:?}):\n{}",
                d.log()
            );
        }
        Ok(d)
    }
}
