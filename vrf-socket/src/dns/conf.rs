//! resolv.conf as glibc reads it: name servers, the search list and the options that matter, with every
//! line that cannot be used reported instead of failing.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_resolver::proto::rr::Name;

/// glibc's limit on name servers (`MAXNS`): later `nameserver` lines are ignored.
const MAX_NAME_SERVERS: usize = 3;

/// A name server line of a resolv.conf: an address and, for IPv6, an optional scope (`%eth0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConfNameServer {
    /// The address.
    pub ip: IpAddr,
    /// The device (name or interface index) after `%`, if any.
    pub scope: Option<String>,
}

impl fmt::Display for ConfNameServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Some(s) => write!(f, "{}%{s}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

/// A resolv.conf line that was skipped or only partly used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfWarning {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why it was skipped.
    pub reason: String,
}

impl fmt::Display for ConfWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}`: {}", self.line, self.text, self.reason)
    }
}

/// A parsed resolv.conf: what glibc would use, plus the lines it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvConf {
    /// Where it was read from (`None` when parsed from text, or when the system file does not exist).
    pub path: Option<PathBuf>,
    /// `nameserver` lines, in order (at most 3).
    pub name_servers: Vec<ConfNameServer>,
    /// The search list: the last `search` or `domain` line wins, as in glibc.
    pub search: Vec<String>,
    /// `options ndots:N` (capped at 15).
    pub ndots: Option<usize>,
    /// `options timeout:N` (seconds, capped at 30).
    pub timeout: Option<Duration>,
    /// `options attempts:N` (capped at 5).
    pub attempts: Option<usize>,
    /// `options rotate`: spread queries over the servers.
    pub rotate: bool,
    /// `options use-vc`: TCP only.
    pub use_vc: bool,
    /// Lines skipped or partly used, with the reason.
    pub warnings: Vec<ConfWarning>,
}

impl ResolvConf {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> io::Result<ResolvConf> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        let mut conf = ResolvConf::parse(&text);
        conf.path = Some(path.to_path_buf());
        Ok(conf)
    }

    /// Parses resolv.conf text. Never fails: a line that cannot be used is skipped and described in
    /// [`ResolvConf::warnings`]. Unknown `options` are ignored silently, as glibc does.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        let mut warnings = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let mut warn = |reason: String| {
                conf_warning(&mut warnings, i + 1, raw, reason);
            };
            // Everything from a `#` or `;` on is a comment (glibc only knows them at the line's start).
            let line = raw.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let args: Vec<&str> = words.collect();
            match keyword {
                "nameserver" => match args.first() {
                    None => warn("no address after `nameserver`".into()),
                    Some(addr) => match parse_name_server(addr) {
                        Err(reason) => warn(reason),
                        Ok(_) if conf.name_servers.len() >= MAX_NAME_SERVERS => warn(format!(
                            "more than {MAX_NAME_SERVERS} name servers: ignored, as glibc does"
                        )),
                        Ok(ns) => conf.name_servers.push(ns),
                    },
                },
                "domain" | "search" => {
                    let mut list = Vec::new();
                    for d in &args {
                        match Name::from_str(d) {
                            Ok(name) if name.is_root() => {
                                warn(format!("{d:?} is the root, not a search domain: skipped"))
                            }
                            Ok(_) => list.push(d.trim_end_matches('.').to_string()),
                            Err(e) => warn(format!("{d:?} is not a domain name ({e}): skipped")),
                        }
                    }
                    if keyword == "domain" {
                        list.truncate(1);
                    }
                    if list.is_empty() && args.is_empty() {
                        warn(format!("no domain after `{keyword}`"));
                    }
                    conf.search = list;
                }
                "options" => {
                    for opt in &args {
                        if let Err(reason) = conf.apply_option(opt) {
                            warn(reason);
                        }
                    }
                }
                // Address sorting is not done (hickory's order is the server's, AAAA first).
                "sortlist" => {}
                other => warn(format!("unknown keyword {other:?}: line ignored")),
            }
        }
        conf.warnings = warnings;
        conf
    }

    fn apply_option(&mut self, opt: &str) -> Result<(), String> {
        let number = |value: &str, max: usize| -> Result<usize, String> {
            value
                .parse::<usize>()
                .map(|n| n.min(max))
                .map_err(|_| format!("option {opt:?}: {value:?} is not a number"))
        };
        match opt.split_once(':') {
            Some(("ndots", v)) => self.ndots = Some(number(v, 15)?),
            Some(("timeout", v)) => {
                self.timeout = Some(Duration::from_secs(number(v, 30)?.max(1) as u64))
            }
            Some(("attempts", v)) => self.attempts = Some(number(v, 5)?.max(1)),
            None if opt == "rotate" => self.rotate = true,
            None if opt == "use-vc" || opt == "usevc" => self.use_vc = true,
            _ => {}
        }
        Ok(())
    }
}

fn conf_warning(warnings: &mut Vec<ConfWarning>, line: usize, text: &str, reason: String) {
    warnings.push(ConfWarning {
        line,
        text: text.trim().to_string(),
        reason,
    });
}

/// `10.0.0.1`, `2001:db8::1`, `fe80::1%eth0`.
fn parse_name_server(addr: &str) -> Result<ConfNameServer, String> {
    let (ip, scope) = match addr.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (addr, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    match scope {
        Some("") => Err(format!("{addr:?}: empty scope after `%`")),
        Some(_) if ip.is_ipv4() => Err(format!("{addr:?}: a scope (`%dev`) is for IPv6 only")),
        scope => Ok(ConfNameServer {
            ip,
            scope: scope.map(str::to_string),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_resolv_conf_and_keeps_going_past_bad_lines() {
        let c = ResolvConf::parse(
            "# generated\n\
             nameserver 10.0.0.53\n\
             nameserver fe80::1%eth0\n\
             nameserver bogus\n\
             nameserver\n\
             nameserver 10.1.1.1%eth0\n\
             nameserver 2001:db8::53   # v6\n\
             nameserver 10.9.9.9\n\
             ; comment\n\
             search a.example b.example\n\
             options ndots:3 timeout:40 attempts:x rotate edns0 use-vc\n\
             frobnicate yes\n\
             sortlist 10.0.0.0/8\n",
        );
        let ips: Vec<String> = c.name_servers.iter().map(|n| n.to_string()).collect();
        assert_eq!(ips, ["10.0.0.53", "fe80::1%eth0", "2001:db8::53"]);
        assert_eq!(c.search, ["a.example", "b.example"]);
        assert_eq!(c.ndots, Some(3));
        assert_eq!(
            c.timeout,
            Some(Duration::from_secs(30)),
            "capped as glibc does"
        );
        assert_eq!(c.attempts, None);
        assert!(c.rotate && c.use_vc);
        let lines: Vec<usize> = c.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [4, 5, 6, 8, 11, 12], "{:#?}", c.warnings);
        assert!(c.warnings[0].reason.contains("not an IP address"));
        assert!(c.warnings[2].reason.contains("IPv6 only"));
        assert!(c.warnings[3].reason.contains("more than 3"));
        assert!(c.warnings[4].to_string().contains("attempts:x"));
        assert!(c.warnings[5].reason.contains("unknown keyword"));
    }

    /// Found by the `resolv_conf` fuzz target: `domain .` put an empty domain in the search list.
    #[test]
    fn the_root_is_no_search_domain() {
        let c = ResolvConf::parse("domain .\n");
        assert!(c.search.is_empty(), "{:?}", c.search);
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].reason.contains("root"), "{}", c.warnings[0]);
        let c = ResolvConf::parse("search . a.example\n");
        assert_eq!(c.search, ["a.example"]);
    }

    #[test]
    fn the_last_search_or_domain_line_wins() {
        let c = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(c.search, ["c.example"]);
        let c = ResolvConf::parse("domain c.example\nsearch x.example.\n");
        assert_eq!(c.search, ["x.example"]);
        assert!(c.warnings.is_empty());
    }
}
