//! The command line: curl's option names and meanings, plus `--vrf`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::error::{Failure, code};

const ABOUT: &str = "Transfer a URL inside a VRF, the way curl would";

const LONG_ABOUT: &str = "\
Fetches an http:// or https:// URL with everything inside one Linux VRF: the name is resolved by DNS \
servers reached through the VRF (the VRF's own /etc/vrf/VRF/resolv.conf if it exists, else /etc/resolv.conf), \
and every connection is a socket bound to the VRF device. Nothing falls back to the default VRF: a name \
that cannot be resolved or an address that cannot be reached inside the VRF is an error.

Options, output and exit codes follow curl's. HTTP/1.1 and HTTP/2 (negotiated with ALPN over TLS; \
--http2-prior-knowledge for cleartext), TLS by rustls with the system's root certificates.";

const AFTER_HELP: &str = "\
Examples:
  vrf-curl-lite --vrf blue https://www.example.com/
  vrf-curl-lite --vrf blue -fsS -o image.iso -L http://mirror.lab/image.iso
  vrf-curl-lite --vrf red --interface 10.99.0.1 -w '%{http_code} %{time_total}\\n' -o /dev/null http://10.99.0.2/
  vrf-curl-lite --vrf mgmt -v -X PUT -H 'Content-Type: application/json' -d @body.json https://api.lab/v1/x

DNS inside the VRF: put the VRF's name servers in /etc/vrf/VRF/resolv.conf (the same file vrf-exec shows \
to programs it runs), or use --resolve HOST:PORT:ADDRESS. A server on loopback (127.0.0.53) is not \
reachable from a VRF and is skipped.

Exit codes (curl's): 0 success, 1 unsupported protocol, 2 bad option, 3 malformed URL, 6 could not \
resolve host, 7 could not connect, 8 bad server reply, 18 partial file, 22 HTTP error with -f, \
23 write error, 26 read error, 28 timeout, 35 TLS handshake failed, 45 the VRF or the --interface \
address cannot be used (missing, not a VRF, down, address not in the VRF), 47 too many redirects, \
49 malformed --resolve entry, 52 empty reply, 56 receive failure, 60 server certificate not trusted, 77 CA certificate file unusable.";

/// `vrf-curl-lite [OPTIONS] --vrf VRF URL`
#[derive(Parser, Debug)]
#[command(
    name = "vrf-curl-lite",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    /// The VRF to resolve and connect in (a VRF device: `ip link add NAME type vrf table N`).
    #[arg(long, value_name = "VRF", help_heading = "VRF")]
    pub vrf: String,

    /// Source address for the connections; it must belong to a device in the VRF (curl binds to an
    /// interface or address; here the VRF is the interface, so this takes an address).
    #[arg(long, value_name = "ADDRESS", help_heading = "VRF")]
    pub interface: Option<IpAddr>,

    /// Use HOST:PORT's ADDRESS instead of resolving it (repeatable): HOST:PORT:ADDRESS[,ADDRESS...],
    /// IPv6 addresses in brackets, HOST "*" for any host; -HOST:PORT removes an entry.
    #[arg(long, value_name = "HOST:PORT:ADDRESS", help_heading = "VRF")]
    pub resolve: Vec<String>,

    /// Resolve names to IPv4 addresses only.
    #[arg(short = '4', long, conflicts_with = "ipv6", help_heading = "VRF")]
    pub ipv4: bool,

    /// Resolve names to IPv6 addresses only.
    #[arg(short = '6', long, help_heading = "VRF")]
    pub ipv6: bool,

    /// Write the body to FILE instead of standard output ("-" is standard output).
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,

    /// Write the body to a file named like the URL's last path segment, in the current directory.
    #[arg(short = 'O', long, conflicts_with = "output", help_heading = "Output")]
    pub remote_name: bool,

    /// Include the response headers in the output, before the body.
    #[arg(short = 'i', long, help_heading = "Output")]
    pub include: bool,

    /// Fetch the headers only (a HEAD request) and print them.
    #[arg(short = 'I', long, help_heading = "Output")]
    pub head: bool,

    /// Write the response headers to FILE ("-" is standard output).
    #[arg(short = 'D', long, value_name = "FILE", help_heading = "Output")]
    pub dump_header: Option<PathBuf>,

    /// Silent: no progress meter, no error messages.
    #[arg(short = 's', long, help_heading = "Output")]
    pub silent: bool,

    /// With -s, still print the error message when it fails.
    #[arg(short = 'S', long, help_heading = "Output")]
    pub show_error: bool,

    /// No progress meter, but error messages as usual.
    #[arg(long, help_heading = "Output")]
    pub no_progress_meter: bool,

    /// Say what happens: connection, TLS, request (>) and response (<) headers, on standard error.
    #[arg(short = 'v', long, help_heading = "Output")]
    pub verbose: bool,

    /// After the transfer, print FORMAT with %{variables} filled in: http_code, time_total,
    /// time_namelookup, time_connect, time_appconnect, time_starttransfer, size_download, speed_download,
    /// remote_ip, remote_port, local_ip, url_effective, num_redirects, vrf, json... ("@FILE" reads it
    /// from FILE, "@-" from standard input). Times are seconds since the transfer started (after the
    /// VRF lookup), as curl's are since its transfer started.
    #[arg(short = 'w', long, value_name = "FORMAT", help_heading = "Output")]
    pub write_out: Option<String>,

    /// Fail on HTTP errors (status 400 and above): no body output, exit code 22.
    #[arg(short = 'f', long, help_heading = "HTTP")]
    pub fail: bool,

    /// Follow redirects (Location), up to --max-redirs.
    #[arg(short = 'L', long, help_heading = "HTTP")]
    pub location: bool,

    /// How many redirects -L may follow (-1: no limit).
    #[arg(
        long,
        value_name = "NUM",
        default_value_t = 50,
        allow_negative_numbers = true,
        help_heading = "HTTP"
    )]
    pub max_redirs: i64,

    /// Extra request header "Name: value"; "Name:" removes a header we would send, "Name;" sends it
    /// empty (repeatable).
    #[arg(short = 'H', long, value_name = "HEADER", help_heading = "HTTP")]
    pub header: Vec<String>,

    /// Request method to use instead of GET (or POST with -d).
    #[arg(short = 'X', long, value_name = "METHOD", help_heading = "HTTP")]
    pub request: Option<String>,

    /// Send DATA in a POST (application/x-www-form-urlencoded); "@FILE" reads it from FILE without
    /// newlines, "@-" from standard input; several are joined with "&".
    #[arg(short = 'd', long, value_name = "DATA", help_heading = "HTTP")]
    pub data: Vec<String>,

    /// Like -d, but "@FILE" is sent exactly as it is.
    #[arg(long, value_name = "DATA", help_heading = "HTTP")]
    pub data_binary: Vec<String>,

    /// Like -d, but "@" has no special meaning.
    #[arg(long, value_name = "DATA", help_heading = "HTTP")]
    pub data_raw: Vec<String>,

    /// User-Agent header to send.
    #[arg(short = 'A', long, value_name = "NAME", help_heading = "HTTP")]
    pub user_agent: Option<String>,

    /// Use HTTP/1.1 only (no HTTP/2 in ALPN).
    #[arg(long = "http1.1", help_heading = "HTTP")]
    pub http1_1: bool,

    /// Use HTTP/2 where the server agrees (the default for https://).
    #[arg(long, help_heading = "HTTP")]
    pub http2: bool,

    /// Use HTTP/2 straight away, also over cleartext http://.
    #[arg(long, conflicts_with_all = ["http1_1", "http2"], help_heading = "HTTP")]
    pub http2_prior_knowledge: bool,

    /// Maximum time in seconds for the whole operation (fractions allowed); exit code 28 when it runs out.
    #[arg(short = 'm', long, value_name = "SECONDS", value_parser = seconds, help_heading = "Time limits")]
    pub max_time: Option<Duration>,

    /// Maximum time in seconds for each connection set-up: name lookup, TCP and TLS handshakes
    /// (default 300, as curl's).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, help_heading = "Time limits")]
    pub connect_timeout: Option<Duration>,

    /// Do not check the server's certificate (insecure).
    #[arg(short = 'k', long, help_heading = "TLS")]
    pub insecure: bool,

    /// Trust the CA certificates in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cacert: Option<PathBuf>,

    /// The URL to fetch: http:// or https:// (a URL with no scheme is taken as http://).
    #[arg(value_name = "URL")]
    pub url: String,
}

/// curl's time values: seconds, possibly fractional, not negative.
fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?}: the time must be zero or more seconds"));
    }
    Duration::try_from_secs_f64(v).map_err(|_| format!("{s:?}: too many seconds"))
}

/// One `--resolve` entry that adds addresses: `HOST:PORT` is to be reached at `addrs` instead of
/// resolving HOST (`*` for any host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// Lowercase; `*` stands for every host.
    pub host: String,
    pub port: u16,
    /// In the order given; never empty.
    pub addrs: Vec<IpAddr>,
}

/// One `--resolve` argument, as curl reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveEntry {
    /// `[+]HOST:PORT:ADDRESS[,ADDRESS]…` (curl's `+`, "may expire", means nothing here).
    Add(Pinned),
    /// `-HOST:PORT`: forget what earlier entries said about HOST:PORT.
    Remove { host: String, port: u16 },
}

impl Pinned {
    /// Parses one `--resolve` argument: `[+]HOST:PORT:ADDRESS[,ADDRESS]…` or `-HOST:PORT`. An
    /// address is IPv4 or IPv6, the latter bare or in brackets; empty items between commas are
    /// skipped, as curl does. Anything else is curl's exit 49 with curl's message and what is wrong.
    pub fn parse(s: &str) -> Result<ResolveEntry, Failure> {
        let bad = |why: String| {
            Failure::new(
                code::SETOPT_OPTION_SYNTAX,
                format!(
                    "Couldn't parse --resolve entry '{s}': {why} (expected HOST:PORT:ADDRESS[,ADDRESS...], \
                     IPv6 addresses in brackets, e.g. www.lab:443:10.99.0.2 or www.lab:443:[fd00:99::2]; \
                     -HOST:PORT removes an entry)"
                ),
            )
        };
        let port_of = |p: &str| -> Result<u16, Failure> {
            match p.parse() {
                Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(bad(format!("port {p:?} is not a number from 0 to 65535"))),
            }
        };
        if let Some(rest) = s.strip_prefix('-') {
            let (host, port) = rest.split_once(':').ok_or_else(|| bad("no port".into()))?;
            return Ok(ResolveEntry::Remove {
                host: host.to_ascii_lowercase(),
                port: port_of(port)?,
            });
        }
        let rest = s.strip_prefix('+').unwrap_or(s);
        let (host, rest) = rest.split_once(':').ok_or_else(|| bad("no port".into()))?;
        let (port, list) = rest
            .split_once(':')
            .ok_or_else(|| bad("no address".into()))?;
        let port = port_of(port)?;
        let addrs = list
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| {
                let bare = match a.strip_prefix('[') {
                    Some(inner) => inner.strip_suffix(']'),
                    None => Some(a),
                };
                bare.and_then(|b| b.parse().ok())
                    .ok_or_else(|| bad(format!("{a:?} is not an IP address")))
            })
            .collect::<Result<Vec<IpAddr>, _>>()?;
        if addrs.is_empty() {
            return Err(bad("no address".into()));
        }
        Ok(ResolveEntry::Add(Pinned {
            host: host.to_ascii_lowercase(),
            port,
            addrs,
        }))
    }

    /// The entries of every `--resolve` argument, in order: a later entry for the same HOST:PORT
    /// replaces an earlier one, `-HOST:PORT` removes it.
    pub fn parse_all(args: &[String]) -> Result<Vec<Pinned>, Failure> {
        let mut pins: Vec<Pinned> = Vec::new();
        for arg in args {
            let (host, port, add) = match Pinned::parse(arg)? {
                ResolveEntry::Add(p) => (p.host.clone(), p.port, Some(p)),
                ResolveEntry::Remove { host, port } => (host, port, None),
            };
            pins.retain(|p| p.host != host || p.port != port);
            pins.extend(add);
        }
        Ok(pins)
    }

    /// The entry for `host` (a URL's host, IPv6 in brackets or not) and `port`: its own, else a
    /// `*` one.
    pub fn find<'a>(pins: &'a [Pinned], host: &str, port: u16) -> Option<&'a Pinned> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let host = bare.to_ascii_lowercase();
        let on_port = || pins.iter().filter(|p| p.port == port);
        on_port()
            .find(|p| p.host == host)
            .or_else(|| on_port().find(|p| p.host == "*"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &str) -> Pinned {
        match Pinned::parse(s) {
            Ok(ResolveEntry::Add(p)) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolve_entries() {
        let p = add("WWW.lab:443:10.99.0.2");
        assert_eq!(p.host, "www.lab");
        assert_eq!((p.port, p.addrs), (443, vec![ip("10.99.0.2")]));
        assert_eq!(add("www.lab:80:[fd00:99::2]").addrs, [ip("fd00:99::2")]);
        // curl also takes IPv6 without brackets, lists, empty items, `+`, leading zeros.
        assert_eq!(add("a:80:fd00::2").addrs, [ip("fd00::2")]);
        assert_eq!(
            add("+a:0080:10.0.0.1,,[::1],").addrs,
            [ip("10.0.0.1"), ip("::1")]
        );
        assert_eq!(add("+a:0080:10.0.0.1").port, 80);
        assert_eq!(add("*:443:10.0.0.1").host, "*");
        assert_eq!(
            Pinned::parse("-A:80").unwrap(),
            ResolveEntry::Remove {
                host: "a".into(),
                port: 80
            }
        );
    }

    #[test]
    fn malformed_resolve_entries_are_curls_49() {
        // Each was checked against curl 7.88: "Couldn't parse CURLOPT_RESOLVE entry", exit 49.
        for s in [
            "a:80:[::1",
            "a:80:::1]",
            "a:80:[::1]x",
            "a:80:[::1]:80",
            "a:80:[::1],[::2",
            "a:80",
            "a:80:",
            "a:80:,",
            "a:80:[]",
            "a::10.0.0.1",
            "a:x:10.0.0.1",
            "a:-1:10.0.0.1",
            "a:99999:10.0.0.1",
            "a:80:10.0.0.400",
            "a:80:127.1",
            "a:80:notip",
            "a:80:10.0.0.1 ",
            "a:80:[fe80::1%eth0]",
            "a:b:80:10.0.0.1",
            "-a",
        ] {
            let e = Pinned::parse(s).unwrap_err();
            assert_eq!(e.code, code::SETOPT_OPTION_SYNTAX, "{s}");
            assert!(
                e.message
                    .starts_with(&format!("Couldn't parse --resolve entry '{s}'")),
                "{e}"
            );
        }
        assert!(
            Pinned::parse("a:80:[::1")
                .unwrap_err()
                .message
                .contains("\"[::1\" is not an IP address")
        );
    }

    #[test]
    fn later_resolve_entries_replace_and_remove() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pins = Pinned::parse_all(&args(&[
            "a:80:10.0.0.1",
            "b:80:10.0.0.2",
            "*:80:10.0.0.9",
            "A:80:10.0.0.3",
            "-b:80",
        ]))
        .unwrap();
        let at = |h: &str, port| Pinned::find(&pins, h, port).map(|p| p.addrs.clone());
        assert_eq!(at("a", 80), Some(vec![ip("10.0.0.3")]));
        assert_eq!(
            at("B", 80),
            Some(vec![ip("10.0.0.9")]),
            "b removed: the wildcard"
        );
        assert_eq!(at("a", 443), None);
        assert_eq!(
            Pinned::parse_all(&args(&["a:80:1.2.3.4", "a:80:[::1"]))
                .unwrap_err()
                .code,
            code::SETOPT_OPTION_SYNTAX
        );
    }

    #[test]
    fn seconds_parse_like_curl() {
        assert_eq!(seconds("2").unwrap(), Duration::from_secs(2));
        assert_eq!(seconds("0.25").unwrap(), Duration::from_millis(250));
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
        assert!(seconds("1e30").is_err());
        assert!(seconds("inf").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
