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
52 empty reply, 56 receive failure, 60 server certificate not trusted, 77 CA certificate file unusable.";

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

    /// Use HOST:PORT's ADDRESS instead of resolving it (repeatable); IPv6 addresses in brackets.
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

    /// Maximum time in seconds for each connection set-up: name lookup, TCP and TLS handshakes.
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

/// One `--resolve` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

impl Pinned {
    /// `HOST:PORT:ADDRESS`, ADDRESS possibly in brackets.
    pub fn parse(s: &str) -> Result<Pinned, Failure> {
        let bad = || {
            Failure::new(
                code::BAD_OPTION,
                format!("--resolve {s:?}: expected HOST:PORT:ADDRESS, e.g. www.lab:443:10.99.0.2"),
            )
        };
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Ok(Pinned {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| bad())?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries() {
        let p = Pinned::parse("WWW.lab:443:10.99.0.2").unwrap();
        assert_eq!(p.host, "www.lab");
        assert_eq!((p.port, p.addr), (443, "10.99.0.2".parse().unwrap()));
        let p = Pinned::parse("www.lab:80:[fd00:99::2]").unwrap();
        assert_eq!(p.addr, "fd00:99::2".parse::<IpAddr>().unwrap());
        assert!(Pinned::parse("www.lab:80").is_err());
        assert!(Pinned::parse("www.lab:x:10.0.0.1").is_err());
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
