//! What to send: the URL, method, headers and body that the options ask for, and how a redirect
//! changes them (curl's rules).

use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use url::Url;

use crate::cli::Cli;
use crate::error::{Failure, code};

/// A user header from `-H`.
#[derive(Debug, Clone)]
pub enum UserHeader {
    /// "Name: value" (replaces a header we would send).
    Set(HeaderName, HeaderValue),
    /// "Name:" (do not send that header).
    Remove(HeaderName),
}

/// The request to make, before any redirect.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: Url,
    pub method: Method,
    /// `-X` was given: the method stays the same across redirects.
    pub custom_method: bool,
    pub body: Option<Bytes>,
    pub user_agent: HeaderValue,
    pub headers: Vec<UserHeader>,
}

impl Plan {
    pub fn from_cli(cli: &Cli) -> Result<Plan, Failure> {
        let url = parse_url(&cli.url)?;
        let body = body_of(cli)?;
        if cli.head && body.is_some() {
            return Err(Failure::new(
                code::BAD_OPTION,
                "You can only select one HTTP request method! You asked for both POST (-d) and HEAD (-I).",
            ));
        }
        let (method, custom_method) = match &cli.request {
            Some(m) => (
                Method::from_bytes(m.as_bytes()).map_err(|_| {
                    Failure::new(
                        code::BAD_OPTION,
                        format!("-X {m:?}: not a valid method name"),
                    )
                })?,
                true,
            ),
            None if cli.head => (Method::HEAD, false),
            None if body.is_some() => (Method::POST, false),
            None => (Method::GET, false),
        };
        let headers = cli
            .header
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?;
        Ok(Plan {
            url,
            method,
            custom_method,
            body,
            user_agent: match &cli.user_agent {
                Some(a) => user_agent(a)?,
                None => {
                    HeaderValue::from_static(concat!("vrf-curl-lite/", env!("CARGO_PKG_VERSION")))
                }
            },
            headers,
        })
    }
}

/// Parses the command-line URL: only http and https; no scheme means http (as curl guesses).
pub fn parse_url(s: &str) -> Result<Url, Failure> {
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| Failure::new(code::URL_MALFORMED, format!("URL rejected: {s:?}: {e}")))?;
    check_url(&url, s)?;
    Ok(url)
}

/// A URL we can fetch, from the command line or a redirect (`shown` as the user wrote it): http or
/// https (else curl's 1), with a host that can be an HTTP authority (else 3: the URL standard lets
/// through some that HTTP does not, such as `` http://`/ ``).
pub fn check_url(url: &Url, shown: &str) -> Result<(), Failure> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Failure::new(
                code::UNSUPPORTED_PROTOCOL,
                format!("Protocol \"{other}\" not supported (only http and https)"),
            ));
        }
    }
    let rejected = |why: String| {
        Failure::new(
            code::URL_MALFORMED,
            format!("URL rejected: {shown:?}: {why}"),
        )
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(rejected("no host name".into()));
    }
    let authority = host_header(url);
    if authority.parse::<http::uri::Authority>().is_err() {
        return Err(rejected(format!("bad host name {authority:?}")));
    }
    Ok(())
}

/// A CR or LF in a header from the command line would end the header line early and let the rest
/// pass for another header (curl 7.88 sends it as it is): refused with exit 2, never dropped.
fn no_line_break(option: &str, arg: &str) -> Result<(), Failure> {
    if arg.contains(['\r', '\n']) {
        return Err(Failure::new(
            code::BAD_OPTION,
            format!(
                "{option} {arg:?}: a header cannot contain a line break (CR or LF); give each header in its own {option}"
            ),
        ));
    }
    Ok(())
}

/// `-A NAME`: a User-Agent value, on one line.
fn user_agent(a: &str) -> Result<HeaderValue, Failure> {
    no_line_break("-A", a)?;
    HeaderValue::from_str(a).map_err(|_| {
        Failure::new(
            code::BAD_OPTION,
            format!("-A {a:?}: not a valid header value (control characters are not allowed)"),
        )
    })
}

/// `-H` syntax: "Name: value", "Name:" (remove), "Name;" (empty value).
fn parse_header(h: &str) -> Result<UserHeader, Failure> {
    no_line_break("-H", h)?;
    let bad = |why: &str| Failure::new(code::BAD_OPTION, format!("-H {h:?}: {why}"));
    let name = |n: &str| {
        HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| bad("not a valid header name"))
    };
    if let Some((n, v)) = h.split_once(':') {
        let v = v.trim();
        if v.is_empty() {
            return Ok(UserHeader::Remove(name(n)?));
        }
        let value = HeaderValue::from_str(v).map_err(|_| bad("not a valid header value"))?;
        return Ok(UserHeader::Set(name(n)?, value));
    }
    if let Some(n) = h.strip_suffix(';') {
        return Ok(UserHeader::Set(name(n)?, HeaderValue::from_static("")));
    }
    Err(bad("expected \"Name: value\""))
}

/// The body from -d/--data-binary/--data-raw, joined with "&" in the order given per kind.
fn body_of(cli: &Cli) -> Result<Option<Bytes>, Failure> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for d in &cli.data {
        parts.push(match d.strip_prefix('@') {
            Some(f) => read_source(f)?
                .into_iter()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
            None => d.as_bytes().to_vec(),
        });
    }
    for d in &cli.data_binary {
        parts.push(match d.strip_prefix('@') {
            Some(f) => read_source(f)?,
            None => d.as_bytes().to_vec(),
        });
    }
    for d in &cli.data_raw {
        parts.push(d.as_bytes().to_vec());
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Bytes::from(parts.join(&b'&'))))
}

/// "@FILE" contents, "@-" standard input; curl's 26 when it cannot be read.
fn read_source(name: &str) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let r = if name == "-" {
        std::io::stdin().read_to_end(&mut buf).map(|_| ())
    } else {
        std::fs::File::open(Path::new(name)).and_then(|mut f| f.read_to_end(&mut buf).map(|_| ()))
    };
    r.map_err(|e| {
        Failure::new(
            code::READ_ERROR,
            format!("Failed to read data from {name:?}: {e}"),
        )
    })?;
    Ok(buf)
}

/// A redirect status that -L follows.
pub fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The method and body of the request after a redirect with `status` (curl's rules): 303 turns
/// anything but HEAD into GET; 301 and 302 turn POST into GET; 307 and 308 keep both; `-X` keeps its
/// method always.
pub fn after_redirect(
    status: StatusCode,
    method: &Method,
    custom: bool,
    body: Option<Bytes>,
) -> (Method, Option<Bytes>) {
    if custom {
        return (method.clone(), body);
    }
    let to_get = match status.as_u16() {
        303 => *method != Method::HEAD,
        301 | 302 => *method == Method::POST,
        _ => false,
    };
    if to_get {
        (Method::GET, None)
    } else {
        (method.clone(), body)
    }
}

/// Whether `-H` credentials (`Authorization`, `Cookie`) go to `to` in a transfer that started at
/// `first`: only to the same scheme, host and port (curl's rule since 7.83, without
/// `--location-trusted`). Not to another port of the same host, not from https to http.
pub fn credentials_allowed(first: &Url, to: &Url) -> bool {
    first.scheme() == to.scheme()
        && first.host() == to.host()
        && first.port_or_known_default() == to.port_or_known_default()
}

/// The `-H` headers of a request to `url` in a transfer that started at `first`: credentials only to
/// `first`'s origin ([`credentials_allowed`]), a custom `Host` only to `first`'s host.
pub fn headers_for<'a>(
    headers: &'a [UserHeader],
    first: &Url,
    url: &Url,
) -> impl Iterator<Item = &'a UserHeader> {
    let credentials = credentials_allowed(first, url);
    let host = first.host() == url.host();
    headers.iter().filter(move |h| match h {
        UserHeader::Set(n, _) if n == header::AUTHORIZATION || n == header::COOKIE => credentials,
        UserHeader::Set(n, _) if n == header::HOST => host,
        _ => true,
    })
}

/// (scheme, host, port): requests to the same origin share a connection.
pub fn origin_of(url: &Url) -> (String, String, u16) {
    (
        url.scheme().to_string(),
        url.host_str().unwrap_or_default().to_string(),
        url.port_or_known_default().unwrap_or(80),
    )
}

/// The `Host` header (and HTTP/2 authority): "host" or "host:port" when the port is not the scheme's
/// default; IPv6 in brackets.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The request target: the path and the query, as in the URL.
pub fn target(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The file name for `-O`: the last segment of the URL's path (as written, not decoded).
pub fn remote_name(url: &Url) -> Result<String, Failure> {
    let last = url.path().rsplit('/').next().unwrap_or("");
    if last.is_empty() {
        return Err(Failure::new(
            code::WRITE_ERROR,
            format!("Remote file name has no length: {url} ends in '/'; use -o FILE"),
        ));
    }
    Ok(last.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<Plan, Failure> {
        let mut v = vec!["vrf-curl-lite", "--vrf", "blue"];
        v.extend_from_slice(args);
        Plan::from_cli(&Cli::try_parse_from(v).unwrap())
    }

    #[test]
    fn methods_follow_the_options() {
        assert_eq!(plan(&["http://a/"]).unwrap().method, Method::GET);
        assert_eq!(plan(&["-I", "http://a/"]).unwrap().method, Method::HEAD);
        let p = plan(&["-d", "x=1", "-d", "y=2", "http://a/"]).unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(p.body.unwrap(), Bytes::from_static(b"x=1&y=2"));
        let p = plan(&["-X", "PUT", "-d", "z", "http://a/"]).unwrap();
        assert_eq!((p.method, p.custom_method), (Method::PUT, true));
        assert_eq!(
            plan(&["-I", "-d", "x", "http://a/"]).unwrap_err().code,
            code::BAD_OPTION
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("10.99.0.2/x").unwrap().as_str(),
            "http://10.99.0.2/x"
        );
        assert_eq!(
            parse_url("ftp://a/").unwrap_err().code,
            code::UNSUPPORTED_PROTOCOL
        );
        assert_eq!(parse_url("http://").unwrap_err().code, code::URL_MALFORMED);
        assert_eq!(
            parse_url("http://[::1/").unwrap_err().code,
            code::URL_MALFORMED
        );
        // Found by the parse_url fuzz target: a host the URL parser takes and HTTP does not (curl
        // 7.88: exit 3 too). It went on to a name lookup for "`" before.
        for bad in ["http://`/", "https://a`b:8443/x", "`"] {
            let e = parse_url(bad).unwrap_err();
            assert_eq!(e.code, code::URL_MALFORMED, "{bad}");
            assert!(e.message.contains("bad host name"), "{e}");
        }
        let u = parse_url("https://[fd00:99::2]:8443/a?b").unwrap();
        assert_eq!(u.host_str(), Some("[fd00:99::2]"));
        assert_eq!(
            remote_name(&parse_url("http://a/dir/file.iso").unwrap()).unwrap(),
            "file.iso"
        );
        assert_eq!(
            remote_name(&parse_url("http://a/").unwrap())
                .unwrap_err()
                .code,
            code::WRITE_ERROR
        );
    }

    #[test]
    fn headers() {
        let p = plan(&[
            "-H",
            "X-A: 1",
            "-H",
            "Accept:",
            "-H",
            "X-Empty;",
            "http://a/",
        ])
        .unwrap();
        assert!(matches!(&p.headers[0], UserHeader::Set(n, v) if n == "x-a" && v == "1"));
        assert!(matches!(&p.headers[1], UserHeader::Remove(n) if n == "accept"));
        assert!(matches!(&p.headers[2], UserHeader::Set(n, v) if n == "x-empty" && v.is_empty()));
        assert_eq!(
            plan(&["-H", "nonsense", "http://a/"]).unwrap_err().code,
            code::BAD_OPTION
        );
    }

    #[test]
    fn line_breaks_in_headers_are_refused_not_dropped() {
        // curl 7.88 sends these as they are, so a value can smuggle in a header of its own; before,
        // a trailing CR LF was trimmed away, and a bad -A left the request without a User-Agent.
        for (opt, arg) in [
            ("-H", "X-A: 1\r\nX-Injected: 2"),
            ("-H", "X-A: 1\nX-Injected: 2"),
            ("-H", "X-A: 1\rX-Injected: 2"),
            ("-H", "X-A: 1\r\n"),
            ("-H", "\r\nX-A: 1"),
            ("-H", "X-Empty;\n"),
            ("-A", "agent\r\nX-Injected: 1"),
            ("-A", "agent\n"),
        ] {
            let e = plan(&[opt, arg, "http://a/"]).unwrap_err();
            assert_eq!(e.code, code::BAD_OPTION, "{opt} {arg:?}");
            assert!(
                e.message.starts_with(&format!("{opt} {arg:?}"))
                    && e.message.contains("line break"),
                "{e}"
            );
        }
        let e = plan(&["-A", "agent\u{1}", "http://a/"]).unwrap_err();
        assert_eq!(e.code, code::BAD_OPTION, "{e}");
        let p = plan(&["-A", "agent/1 (x; y)\tz", "http://a/"]).unwrap();
        assert_eq!(p.user_agent, "agent/1 (x; y)\tz");
        assert!(
            plan(&["http://a/"])
                .unwrap()
                .user_agent
                .to_str()
                .unwrap()
                .starts_with("vrf-curl-lite/")
        );
    }

    #[test]
    fn credentials_go_only_to_the_first_origin() {
        let u = |s: &str| parse_url(s).unwrap();
        for (first, to, allowed) in [
            ("http://a.lab/x", "http://a.lab/y", true),
            ("http://a.lab/x", "http://A.LAB:80/y", true),
            ("http://a.lab/", "http://a.lab:8080/", false),
            ("http://a.lab:8080/", "http://a.lab:8081/", false),
            ("http://a.lab/", "https://a.lab/", false),
            ("https://a.lab/", "http://a.lab/", false),
            ("https://a.lab/", "http://a.lab:443/", false),
            ("https://a.lab/", "https://a.lab:443/z", true),
            ("http://a.lab/", "http://b.lab/", false),
            ("http://10.0.0.1/", "http://[::ffff:10.0.0.1]/", false),
            ("http://[fd00::2]/", "http://[FD00:0::2]/q", true),
        ] {
            assert_eq!(
                credentials_allowed(&u(first), &u(to)),
                allowed,
                "{first} -> {to}"
            );
        }
    }

    #[test]
    fn redirects_drop_credentials_but_keep_other_headers() {
        let p = plan(&[
            "-H",
            "Authorization: Bearer x",
            "-H",
            "Cookie: a=1",
            "-H",
            "Host: v.lab",
            "-H",
            "X-Other: 1",
            "-H",
            "Accept:",
            "http://a.lab/",
        ])
        .unwrap();
        let names = |to: &str| -> Vec<String> {
            let to = parse_url(to).unwrap();
            headers_for(&p.headers, &p.url, &to)
                .map(|h| match h {
                    UserHeader::Set(n, _) | UserHeader::Remove(n) => n.to_string(),
                })
                .collect()
        };
        let all = ["authorization", "cookie", "host", "x-other", "accept"];
        assert_eq!(names("http://a.lab/next"), all);
        assert_eq!(names("http://a.lab:8080/"), ["host", "x-other", "accept"]);
        assert_eq!(names("https://a.lab/"), ["host", "x-other", "accept"]);
        assert_eq!(names("http://b.lab/"), ["x-other", "accept"]);
        // Back at the first origin after a detour: curl sends them again.
        assert_eq!(names("http://a.lab/back"), all);
    }

    #[test]
    fn redirects_change_methods_like_curl() {
        let b = Some(Bytes::from_static(b"x"));
        let s = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(
            after_redirect(s(302), &Method::POST, false, b.clone()),
            (Method::GET, None)
        );
        assert_eq!(
            after_redirect(s(307), &Method::POST, false, b.clone()),
            (Method::POST, b.clone())
        );
        assert_eq!(
            after_redirect(s(303), &Method::PUT, false, b.clone()),
            (Method::GET, None)
        );
        assert_eq!(
            after_redirect(s(303), &Method::HEAD, false, None),
            (Method::HEAD, None)
        );
        assert_eq!(
            after_redirect(s(301), &Method::PUT, false, b.clone()),
            (Method::PUT, b.clone())
        );
        assert_eq!(
            after_redirect(s(302), &Method::POST, true, b.clone()),
            (Method::POST, b)
        );
    }
}
