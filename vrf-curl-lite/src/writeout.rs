//! curl's `-w/--write-out FORMAT`: what to print once a transfer is over.
//!
//! The format language, as curl 7.88.1 (the reference here) implements it:
//!
//! * `%{name}` prints a variable. Names are matched case-insensitively
//!   (`%{HTTP_CODE}` works in 7.88; curl 8.x later made the match exact). An
//!   unknown name prints nothing; curl then says
//!   `curl: unknown --write-out variable: 'name'` on stderr. Here that message
//!   is collected by [`WriteOut::parse`] and handed out by
//!   [`WriteOut::warnings`] (with our program name in front) so the caller can
//!   print it; [`WriteOut::write`] never prints it.
//! * `%header{name}` prints the value of the first response header called
//!   `name` (case-insensitive), without leading and trailing blanks, or nothing
//!   if there is no such header. curl prints only the *first* of several
//!   headers with the same name; it does not join them (`%{header_json}` is the
//!   way to see them all).
//! * `%%` prints `%`. A `%` followed by any other character (`%x`, `%\`) prints
//!   both characters as they are, and neither is looked at again, so `%\n`
//!   prints a backslash and an `n`. A `%` at the very end prints `%`.
//! * `%{` without a closing `}` prints `%{` and carries on with the text after
//!   it; `%header{` without `}` likewise prints `%header{`.
//! * Backslash escapes: `\n`, `\r` and `\t`. Any other backslash pair is printed
//!   as it is: `\\` prints *two* backslashes and `\x` prints `\x`. A backslash
//!   at the very end prints a backslash.
//! * `%{stdout}` and `%{stderr}` switch the stream the rest goes to.
//! * `%{onerror}`: the rest of the format is printed only if the transfer
//!   failed (`exitcode` is not 0).
//! * `%{json}` prints one JSON object of all variables (in alphabetical order
//!   of their names, as curl does) and `%{header_json}` one JSON object of the
//!   last response's headers.
//!
//! How values print (checked against curl 7.88.1):
//!
//! * times: seconds with six decimals, `0.012345`;
//! * `http_code`/`response_code`/`http_connect`: three digits, `000` when
//!   there was no response; plain numbers in JSON;
//! * sizes and speeds: whole numbers (speeds in bytes per second, truncated);
//! * `http_version`: `0` (no response), `1` (HTTP/1.0), `1.1`, `2`, `3`;
//! * `scheme`: upper case, `HTTP`/`HTTPS` (curl 7.88 prints its protocol
//!   name; curl 8 later switched to lower case);
//! * `remote_ip`/`local_ip`: empty when there was no connection, and ports `0`;
//! * `errormsg`: only when the transfer failed; `content_type`,
//!   `redirect_url`: nothing when there is none; in JSON all of these (and
//!   other strings that are not known) are `null`.
//!
//! Deliberate differences from curl 7.88.1, which has bugs there: JSON strings
//! escape control characters as `\u00XX` (7.88 forgets the backslash) and pass
//! non-ASCII UTF-8 through untouched (7.88 mangles each byte), empty header
//! values print `""` in `%{header_json}`, and headers whose names differ only
//! in case are grouped properly. `%{json}` has no `curl_version` key (we are
//! not curl) and has our extra `vrf` key.
//!
//! Reading the format from `@file` or `@-` is the caller's business.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

/// What a finished transfer reports (every time is seconds since the transfer
/// started, like curl).
#[derive(Debug, Default, Clone)]
pub struct Info {
    /// The last response's status code; 0 when no response came.
    pub http_code: u16,
    /// The status a proxy gave to CONNECT; 0 when none.
    pub http_connect: u16,
    /// HTTP version of the last response: "1.1", "2", "1.0"; "0" (or empty)
    /// if none. Printed as curl does: "1.0" comes out as "1".
    pub http_version: String,
    /// The request method of the last request, "GET".
    pub method: String,
    /// The URL scheme used, "http"/"https" (printed upper case, as curl 7.88
    /// does); empty when no connection was made.
    pub scheme: String,
    /// The URL as given.
    pub url: String,
    /// The last URL fetched.
    pub url_effective: String,
    /// A `Location` that was not followed.
    pub redirect_url: Option<String>,
    /// Redirects followed.
    pub num_redirects: u32,
    /// New connections made.
    pub num_connects: u32,
    /// The last response's `Content-Type`.
    pub content_type: Option<String>,
    /// Address of the peer of the last connection.
    pub remote_ip: Option<IpAddr>,
    /// Port of the peer of the last connection.
    pub remote_port: Option<u16>,
    /// Our address on the last connection.
    pub local_ip: Option<IpAddr>,
    /// Our port on the last connection.
    pub local_port: Option<u16>,
    /// Seconds until the name was resolved.
    pub time_namelookup: f64,
    /// Seconds until TCP was connected.
    pub time_connect: f64,
    /// Seconds until TLS was set up (0 without TLS).
    pub time_appconnect: f64,
    /// Seconds until the request was about to be sent.
    pub time_pretransfer: f64,
    /// Seconds until the first response byte.
    pub time_starttransfer: f64,
    /// Seconds spent on redirects before the final request.
    pub time_redirect: f64,
    /// Seconds for the whole operation.
    pub time_total: f64,
    /// Body bytes received.
    pub size_download: u64,
    /// Header bytes received.
    pub size_header: u64,
    /// Request bytes sent (headers and all).
    pub size_request: u64,
    /// Body bytes sent.
    pub size_upload: u64,
    /// Average download speed, bytes per second.
    pub speed_download: f64,
    /// Average upload speed, bytes per second.
    pub speed_upload: f64,
    /// Result of the TLS certificate check, 0 for fine.
    pub ssl_verify_result: i64,
    /// The exit code of the transfer, 0 for success.
    pub exitcode: i32,
    /// The error message when `exitcode` is not 0.
    pub errormsg: String,
    /// Last response's headers in order (name as received), for
    /// `%header{name}`, `%{header_json}` and `%{num_headers}`.
    pub headers: Vec<(String, String)>,
    /// Our extra variable `%{vrf}`: the VRF the transfer ran in.
    pub vrf: String,
}

/// The variables that print a value of [`Info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ContentType,
    ErrorMsg,
    ExitCode,
    HttpCode,
    HttpConnect,
    HttpVersion,
    LocalIp,
    LocalPort,
    Method,
    NumConnects,
    NumHeaders,
    NumRedirects,
    RedirectUrl,
    RemoteIp,
    RemotePort,
    Scheme,
    SizeDownload,
    SizeHeader,
    SizeRequest,
    SizeUpload,
    SpeedDownload,
    SpeedUpload,
    SslVerifyResult,
    TimeAppconnect,
    TimeConnect,
    TimeNamelookup,
    TimePretransfer,
    TimeRedirect,
    TimeStarttransfer,
    TimeTotal,
    Url,
    UrlEffective,
    Vrf,
}

/// Variable names with what they print, in alphabetical order: the order of
/// the keys in `%{json}`. `response_code` is curl's other name for
/// `http_code`, and both are JSON keys, as in curl.
const VARIABLES: &[(&str, Var)] = &[
    ("content_type", Var::ContentType),
    ("errormsg", Var::ErrorMsg),
    ("exitcode", Var::ExitCode),
    ("http_code", Var::HttpCode),
    ("http_connect", Var::HttpConnect),
    ("http_version", Var::HttpVersion),
    ("local_ip", Var::LocalIp),
    ("local_port", Var::LocalPort),
    ("method", Var::Method),
    ("num_connects", Var::NumConnects),
    ("num_headers", Var::NumHeaders),
    ("num_redirects", Var::NumRedirects),
    ("redirect_url", Var::RedirectUrl),
    ("remote_ip", Var::RemoteIp),
    ("remote_port", Var::RemotePort),
    ("response_code", Var::HttpCode),
    ("scheme", Var::Scheme),
    ("size_download", Var::SizeDownload),
    ("size_header", Var::SizeHeader),
    ("size_request", Var::SizeRequest),
    ("size_upload", Var::SizeUpload),
    ("speed_download", Var::SpeedDownload),
    ("speed_upload", Var::SpeedUpload),
    ("ssl_verify_result", Var::SslVerifyResult),
    ("time_appconnect", Var::TimeAppconnect),
    ("time_connect", Var::TimeConnect),
    ("time_namelookup", Var::TimeNamelookup),
    ("time_pretransfer", Var::TimePretransfer),
    ("time_redirect", Var::TimeRedirect),
    ("time_starttransfer", Var::TimeStarttransfer),
    ("time_total", Var::TimeTotal),
    ("url", Var::Url),
    ("url_effective", Var::UrlEffective),
    ("vrf", Var::Vrf),
];

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Bytes printed as they are (escapes already resolved).
    Text(Vec<u8>),
    /// `%{name}` of a known variable.
    Var(Var),
    /// `%header{name}`.
    Header(String),
    /// `%{json}`.
    Json,
    /// `%{header_json}`.
    HeaderJson,
    /// `%{stdout}`.
    Stdout,
    /// `%{stderr}`.
    Stderr,
    /// `%{onerror}`.
    OnError,
}

/// A parsed `--write-out` format.
///
/// Parsing never fails: whatever is not a known variable or escape is printed
/// as curl would print it, and unknown variables become [`warnings`].
///
/// [`warnings`]: WriteOut::warnings
#[derive(Debug, Clone)]
pub struct WriteOut {
    pieces: Vec<Piece>,
    warnings: Vec<String>,
}

/// The program name our messages start with, where curl's say `curl: `.
const PROGRAM: &str = "vrf-curl-lite";

impl WriteOut {
    /// Parses a format. Never fails.
    pub fn parse(format: &str) -> WriteOut {
        let bytes = format.as_bytes();
        let mut pieces = Vec::new();
        let mut warnings = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let next = bytes.get(i + 1).copied();
            match (bytes[i], next) {
                (b'%', Some(b'%')) => {
                    text.push(b'%');
                    i += 2;
                }
                (b'%', Some(b'{')) => match find_close(bytes, i + 2) {
                    None => {
                        text.extend_from_slice(b"%{");
                        i += 2;
                    }
                    Some(end) => {
                        // Both ends are ASCII, so these are char boundaries.
                        let name = &format[i + 2..end];
                        match control(name) {
                            Some(piece) => push_piece(&mut pieces, &mut text, piece),
                            None => warnings
                                .push(format!("{PROGRAM}: unknown --write-out variable: '{name}'")),
                        }
                        i = end + 1;
                    }
                },
                (b'%', Some(_)) if bytes[i + 1..].starts_with(b"header{") => {
                    let start = i + 1 + b"header{".len();
                    match find_close(bytes, start) {
                        None => {
                            text.extend_from_slice(b"%header{");
                            i = start;
                        }
                        Some(end) => {
                            let name = format[start..end].to_owned();
                            push_piece(&mut pieces, &mut text, Piece::Header(name));
                            i = end + 1;
                        }
                    }
                }
                (b'%', Some(other)) => {
                    text.push(b'%');
                    text.push(other);
                    i += 2;
                }
                (b'\\', Some(other)) => {
                    match other {
                        b'n' => text.push(b'\n'),
                        b'r' => text.push(b'\r'),
                        b't' => text.push(b'\t'),
                        _ => text.extend_from_slice(&[b'\\', other]),
                    }
                    i += 2;
                }
                (c, _) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        WriteOut { pieces, warnings }
    }

    /// Messages about the format to print on stderr, one per line (no line
    /// ends), like `vrf-curl-lite: unknown --write-out variable: 'nope'`.
    ///
    /// curl prints these while writing, each time the format is written;
    /// [`write`](WriteOut::write) leaves that to the caller.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Writes the format filled in from `info`, starting on `stdout`.
    ///
    /// `%{stderr}` and `%{stdout}` switch between the two writers. Nothing is
    /// flushed.
    pub fn write(
        &self,
        info: &Info,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> io::Result<()> {
        let mut to_stderr = false;
        for piece in &self.pieces {
            let out: &mut dyn Write = if to_stderr {
                &mut *stderr
            } else {
                &mut *stdout
            };
            match piece {
                Piece::Text(bytes) => out.write_all(bytes)?,
                Piece::Var(var) => out.write_all(value(*var, info).text().as_bytes())?,
                Piece::Header(name) => {
                    if let Some(v) = first_header(&info.headers, name) {
                        out.write_all(v.as_bytes())?;
                    }
                }
                Piece::Json => out.write_all(json(info).as_bytes())?,
                Piece::HeaderJson => out.write_all(header_json(&info.headers).as_bytes())?,
                Piece::Stdout => to_stderr = false,
                Piece::Stderr => to_stderr = true,
                Piece::OnError => {
                    if info.exitcode == 0 {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The index of the first `}` at or after `from`.
fn find_close(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == b'}')
        .map(|p| from + p)
}

/// Ends the pending text piece, if any, and adds `piece`.
fn push_piece(pieces: &mut Vec<Piece>, text: &mut Vec<u8>, piece: Piece) {
    if !text.is_empty() {
        pieces.push(Piece::Text(std::mem::take(text)));
    }
    pieces.push(piece);
}

/// What `%{name}` stands for, or `None` for an unknown name. Names match
/// case-insensitively, as in curl 7.88.
fn control(name: &str) -> Option<Piece> {
    let special = [
        ("json", Piece::Json),
        ("header_json", Piece::HeaderJson),
        ("stdout", Piece::Stdout),
        ("stderr", Piece::Stderr),
        ("onerror", Piece::OnError),
    ];
    for (n, piece) in special {
        if n.eq_ignore_ascii_case(name) {
            return Some(piece);
        }
    }
    VARIABLES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, var)| Piece::Var(var))
}

/// A variable's value, typed the way curl prints it.
#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    /// Not available: nothing in text, `null` in JSON.
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Uint(u64),
    /// A status code: three digits in text, a plain number in JSON.
    Code(u16),
    /// Seconds: six decimals in both forms.
    Time(f64),
}

impl Value<'_> {
    /// The text form, as `%{name}` prints it.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Str(s) => Cow::Borrowed(s),
            Value::Int(n) => Cow::Owned(n.to_string()),
            Value::Uint(n) => Cow::Owned(n.to_string()),
            Value::Code(c) => Cow::Owned(format!("{c:03}")),
            Value::Time(t) => Cow::Owned(seconds(*t)),
        }
    }

    /// The JSON form, as `%{json}` prints it.
    fn json(&self) -> String {
        match self {
            Value::Null => "null".to_owned(),
            Value::Str(s) => json_string(s, false),
            Value::Int(n) => n.to_string(),
            Value::Uint(n) => n.to_string(),
            Value::Code(c) => c.to_string(),
            Value::Time(t) => seconds(*t),
        }
    }
}

/// A string that is `null` when empty.
fn non_empty(s: &str) -> Value<'_> {
    if s.is_empty() {
        Value::Null
    } else {
        Value::Str(Cow::Borrowed(s))
    }
}

/// Whole bytes per second, as curl keeps speeds (truncated, never negative).
fn speed(bytes_per_sec: f64) -> Value<'static> {
    // `as` saturates: NaN and negatives become 0, huge values u64::MAX.
    Value::Uint(bytes_per_sec as u64)
}

fn ip(addr: Option<IpAddr>) -> Value<'static> {
    Value::Str(Cow::Owned(addr.map(|a| a.to_string()).unwrap_or_default()))
}

/// curl's spelling of an HTTP version: "1.0" is "1", none is "0".
fn http_version(v: &str) -> &str {
    match v {
        "" => "0",
        "1.0" => "1",
        "2.0" => "2",
        "3.0" => "3",
        other => other,
    }
}

fn value(var: Var, info: &Info) -> Value<'_> {
    match var {
        Var::ContentType => info.content_type.as_deref().map_or(Value::Null, non_empty),
        Var::ErrorMsg => {
            if info.exitcode == 0 {
                Value::Null
            } else {
                Value::Str(Cow::Borrowed(&info.errormsg))
            }
        }
        Var::ExitCode => Value::Int(i64::from(info.exitcode)),
        Var::HttpCode => Value::Code(info.http_code),
        Var::HttpConnect => Value::Code(info.http_connect),
        Var::HttpVersion => Value::Str(Cow::Borrowed(http_version(&info.http_version))),
        Var::LocalIp => ip(info.local_ip),
        Var::LocalPort => Value::Uint(u64::from(info.local_port.unwrap_or(0))),
        Var::Method => non_empty(&info.method),
        Var::NumConnects => Value::Uint(u64::from(info.num_connects)),
        Var::NumHeaders => Value::Uint(info.headers.len() as u64),
        Var::NumRedirects => Value::Uint(u64::from(info.num_redirects)),
        Var::RedirectUrl => info.redirect_url.as_deref().map_or(Value::Null, non_empty),
        Var::RemoteIp => ip(info.remote_ip),
        Var::RemotePort => Value::Uint(u64::from(info.remote_port.unwrap_or(0))),
        Var::Scheme => {
            if info.scheme.is_empty() {
                Value::Null
            } else {
                Value::Str(Cow::Owned(info.scheme.to_ascii_uppercase()))
            }
        }
        Var::SizeDownload => Value::Uint(info.size_download),
        Var::SizeHeader => Value::Uint(info.size_header),
        Var::SizeRequest => Value::Uint(info.size_request),
        Var::SizeUpload => Value::Uint(info.size_upload),
        Var::SpeedDownload => speed(info.speed_download),
        Var::SpeedUpload => speed(info.speed_upload),
        Var::SslVerifyResult => Value::Int(info.ssl_verify_result),
        Var::TimeAppconnect => Value::Time(info.time_appconnect),
        Var::TimeConnect => Value::Time(info.time_connect),
        Var::TimeNamelookup => Value::Time(info.time_namelookup),
        Var::TimePretransfer => Value::Time(info.time_pretransfer),
        Var::TimeRedirect => Value::Time(info.time_redirect),
        Var::TimeStarttransfer => Value::Time(info.time_starttransfer),
        Var::TimeTotal => Value::Time(info.time_total),
        Var::Url => non_empty(&info.url),
        Var::UrlEffective => non_empty(&info.url_effective),
        Var::Vrf => non_empty(&info.vrf),
    }
}

/// Seconds as curl prints them: whole microseconds, `S.UUUUUU`.
fn seconds(t: f64) -> String {
    // curl counts in whole microseconds; round ours to the nearest one.
    // `as` saturates: NaN and negative times become 0.
    let us = (t * 1_000_000.0).round() as u64;
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// A JSON string literal, quotes included; with `lowercase`, ASCII letters
/// are lowered (curl does that to header names).
fn json_string(s: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c if lowercase => out.push(c.to_ascii_lowercase()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%{json}`: every variable as `"name":value`, in alphabetical order.
fn json(info: &Info) -> String {
    let fields: Vec<String> = VARIABLES
        .iter()
        .map(|&(name, var)| format!("\"{name}\":{}", value(var, info).json()))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A header value the way curl hands it out: without surrounding blanks.
fn trim_value(v: &str) -> &str {
    v.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// `%header{name}`: the first header called `name`, any case.
fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| trim_value(v))
}

/// `%{header_json}`: one key per header name, lower case, in the order each
/// name first appears, with every value of that name in an array; entries are
/// separated by `,` and a newline, and the `}` sits on a line of its own. No
/// headers give `{` newline `}`.
fn header_json(headers: &[(String, String)]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, v) in headers {
        match groups
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => values.push(trim_value(v)),
            None => groups.push((name, vec![trim_value(v)])),
        }
    }
    let entries: Vec<String> = groups
        .iter()
        .map(|(name, values)| {
            let values: Vec<String> = values.iter().map(|v| json_string(v, false)).collect();
            format!("{}:[{}]", json_string(name, true), values.join(","))
        })
        .collect();
    format!("{{{}\n}}", entries.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Runs `format` against `info`; gives (stdout, stderr) as strings.
    fn run(format: &str, info: &Info) -> (String, String) {
        let w = WriteOut::parse(format);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        w.write(info, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn out(format: &str, info: &Info) -> String {
        let (o, e) = run(format, info);
        assert_eq!(e, "", "nothing should go to stderr for {format:?}");
        o
    }

    /// A finished 200 transfer much like the one curl 7.88.1 reported against
    /// our test server (see the `json` test).
    fn ok_info() -> Info {
        Info {
            http_code: 200,
            http_connect: 0,
            http_version: "1.1".into(),
            method: "GET".into(),
            scheme: "http".into(),
            url: "http://127.0.0.1:18765/dup".into(),
            url_effective: "http://127.0.0.1:18765/dup".into(),
            redirect_url: None,
            num_redirects: 0,
            num_connects: 1,
            content_type: Some("text/plain; charset=utf-8".into()),
            remote_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            remote_port: Some(18765),
            local_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            local_port: Some(42610),
            time_namelookup: 0.000010,
            time_connect: 0.000082,
            time_appconnect: 0.0,
            time_pretransfer: 0.000094,
            time_starttransfer: 0.000438,
            time_redirect: 0.0,
            time_total: 0.000470,
            size_download: 6,
            size_header: 255,
            size_request: 82,
            size_upload: 0,
            speed_download: 12765.9,
            speed_upload: 0.0,
            ssl_verify_result: 0,
            exitcode: 0,
            errormsg: String::new(),
            headers: vec![
                ("Server".into(), "BaseHTTP/0.6 Python/3.11.7".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("X-Thing".into(), "  first  ".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("x-thing".into(), "second".into()),
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                ("Content-Length".into(), "6".into()),
            ],
            vrf: "blue".into(),
        }
    }

    /// A transfer that never connected, like curl's to a closed port.
    fn failed_info() -> Info {
        Info {
            method: "GET".into(),
            url: "http://127.0.0.1:1/x".into(),
            url_effective: "http://127.0.0.1:1/x".into(),
            time_namelookup: 0.000014,
            time_total: 0.000651,
            exitcode: 7,
            errormsg:
                "Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server"
                    .into(),
            ..Info::default()
        }
    }

    #[test]
    fn plain_text_is_copied() {
        assert_eq!(out("hello world", &ok_info()), "hello world");
        assert_eq!(out("", &ok_info()), "");
        assert_eq!(out("grüße ✓", &ok_info()), "grüße ✓");
    }

    #[test]
    fn backslash_escapes_as_curl() {
        let i = ok_info();
        assert_eq!(out(r"a\nb\rc\td", &i), "a\nb\rc\td");
        // curl 7.88.1 knows only \n, \r and \t; other pairs print as they are.
        assert_eq!(out(r"a\\b", &i), r"a\\b");
        assert_eq!(out(r"a\xb", &i), r"a\xb");
        assert_eq!(out(r"a\%{http_code}", &i), r"a\%{http_code}");
        assert_eq!(out(r"a\", &i), r"a\");
        assert_eq!(out(r"\é", &i), r"\é");
    }

    #[test]
    fn percent_forms_as_curl() {
        let i = ok_info();
        assert_eq!(out("a%%b", &i), "a%b");
        assert_eq!(out("100%", &i), "100%");
        assert_eq!(out("%", &i), "%");
        assert_eq!(out("a%xb", &i), "a%xb");
        // The pair is printed as is, so the backslash is not an escape.
        assert_eq!(out(r"a%\nb", &i), r"a%\nb");
        assert_eq!(out("%%{http_code}", &i), "%{http_code}");
        assert_eq!(out("%é", &i), "%é");
        assert_eq!(out("%h", &i), "%h");
        assert_eq!(out("%head", &i), "%head");
    }

    #[test]
    fn unclosed_braces_print_literally() {
        let i = ok_info();
        assert_eq!(out("%{http_code", &i), "%{http_code");
        assert_eq!(out("a%{", &i), "a%{");
        // The text after the brace is still parsed.
        assert_eq!(out(r"%{x\ty", &i), "%{x\ty");
        assert_eq!(out("%{onerror", &i), "%{onerror");
        assert_eq!(out("%header{content-length", &i), "%header{content-length");
        assert_eq!(out(r"%header{a\n", &i), "%header{a\n");
        assert!(WriteOut::parse("%{http_code").warnings().is_empty());
    }

    #[test]
    fn unknown_variables_warn_and_print_nothing() {
        let w = WriteOut::parse("a%{nope}b%{}c%{ http_code}d");
        assert_eq!(
            w.warnings(),
            [
                "vrf-curl-lite: unknown --write-out variable: 'nope'",
                "vrf-curl-lite: unknown --write-out variable: ''",
                "vrf-curl-lite: unknown --write-out variable: ' http_code'",
            ]
        );
        let (o, e) = run("a%{nope}b%{}c%{ http_code}d", &ok_info());
        assert_eq!(o, "abcd");
        assert_eq!(e, "", "write() leaves the warnings to the caller");
        // curl variables we do not carry are unknown here.
        assert_eq!(
            WriteOut::parse("%{filename_effective}").warnings(),
            ["vrf-curl-lite: unknown --write-out variable: 'filename_effective'"]
        );
        assert!(
            WriteOut::parse("%{http_code}%{json}%{stderr}")
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn names_match_any_case() {
        let i = ok_info();
        assert_eq!(
            out("%{HTTP_CODE} %{Http_Code} %{JSON}", &i).len(),
            8 + json(&i).len()
        );
        assert_eq!(out("%{Response_Code}", &i), "200");
    }

    #[test]
    fn codes_have_three_digits() {
        let mut i = ok_info();
        assert_eq!(
            out("%{http_code} %{response_code} %{http_connect}", &i),
            "200 200 000"
        );
        i.http_code = 0;
        i.http_connect = 7;
        assert_eq!(out("%{http_code}/%{http_connect}", &i), "000/007");
    }

    #[test]
    fn times_have_six_decimals() {
        let mut i = ok_info();
        assert_eq!(
            out(
                "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer} \
                 %{time_starttransfer} %{time_redirect} %{time_total}",
                &i
            ),
            "0.000010 0.000082 0.000000 0.000094 0.000438 0.000000 0.000470"
        );
        i.time_total = 0.012345;
        assert_eq!(out("%{time_total}", &i), "0.012345");
        i.time_total = 61.5;
        assert_eq!(out("%{time_total}", &i), "61.500000");
        i.time_total = 1.9999999;
        assert_eq!(out("%{time_total}", &i), "2.000000");
        i.time_total = -1.0;
        assert_eq!(out("%{time_total}", &i), "0.000000");
        i.time_total = f64::NAN;
        assert_eq!(out("%{time_total}", &i), "0.000000");
    }

    #[test]
    fn sizes_and_speeds_are_integers() {
        let mut i = ok_info();
        i.size_upload = 3_000_000;
        i.speed_upload = 1_048_999.9;
        assert_eq!(
            out(
                "%{size_download} %{size_header} %{size_request} %{size_upload} \
                 %{speed_download} %{speed_upload}",
                &i
            ),
            "6 255 82 3000000 12765 1048999"
        );
    }

    #[test]
    fn counts_and_numbers() {
        let mut i = ok_info();
        i.num_redirects = 2;
        i.ssl_verify_result = 20;
        assert_eq!(
            out(
                "%{num_connects} %{num_redirects} %{num_headers} %{ssl_verify_result} %{exitcode}",
                &i
            ),
            "1 2 7 20 0"
        );
    }

    #[test]
    fn strings() {
        let mut i = ok_info();
        assert_eq!(
            out(
                "%{method} %{url} %{url_effective} %{content_type} %{vrf}",
                &i
            ),
            "GET http://127.0.0.1:18765/dup http://127.0.0.1:18765/dup \
             text/plain; charset=utf-8 blue"
        );
        assert_eq!(out("[%{redirect_url}]", &i), "[]");
        i.redirect_url = Some("http://127.0.0.1:18765/next".into());
        assert_eq!(out("%{redirect_url}", &i), "http://127.0.0.1:18765/next");
    }

    #[test]
    fn scheme_is_upper_case_like_curl_7_88() {
        let mut i = ok_info();
        assert_eq!(out("%{scheme}", &i), "HTTP");
        i.scheme = "https".into();
        assert_eq!(out("%{scheme}", &i), "HTTPS");
        i.scheme = String::new();
        assert_eq!(out("[%{scheme}]", &i), "[]");
    }

    #[test]
    fn http_version_spelled_like_curl() {
        let mut i = ok_info();
        for (given, shown) in [
            ("1.1", "1.1"),
            ("1.0", "1"),
            ("2", "2"),
            ("3", "3"),
            ("", "0"),
        ] {
            i.http_version = given.into();
            assert_eq!(out("%{http_version}", &i), shown, "given {given:?}");
        }
    }

    #[test]
    fn addresses() {
        let mut i = ok_info();
        assert_eq!(
            out("%{remote_ip}:%{remote_port} %{local_ip}:%{local_port}", &i),
            "127.0.0.1:18765 127.0.0.1:42610"
        );
        i.remote_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(out("%{remote_ip}", &i), "::1");
        let f = failed_info();
        assert_eq!(
            out(
                "a%{remote_ip}b%{remote_port}c%{local_ip}d%{local_port}e",
                &f
            ),
            "ab0cd0e"
        );
    }

    #[test]
    fn failed_transfer_as_curl_printed_it() {
        // curl 7.88.1 to a closed port printed exactly this.
        let f = failed_info();
        assert_eq!(
            out(
                r"a%{remote_ip}b%{local_port}c%{http_version}d%{http_code}e%{errormsg}f%{exitcode}g%{content_type}h%{time_total}\n",
                &f
            ),
            "ab0c0d000eFailed to connect to 127.0.0.1 port 1 after 0 ms: \
             Couldn't connect to serverf7gh0.000651\n"
        );
    }

    #[test]
    fn errormsg_only_on_failure() {
        let mut i = ok_info();
        i.errormsg = "stale message".into();
        assert_eq!(out("[%{errormsg}]", &i), "[]");
        i.exitcode = 28;
        assert_eq!(out("[%{errormsg}]", &i), "[stale message]");
    }

    #[test]
    fn stream_switching() {
        let (o, e) = run("a%{stderr}b%{http_code}%{stdout}c%{stderr}d", &ok_info());
        assert_eq!(o, "ac");
        assert_eq!(e, "b200d");
        let (o, e) = run("%{STDERR}x", &ok_info());
        assert_eq!((o.as_str(), e.as_str()), ("", "x"));
    }

    #[test]
    fn onerror_cuts_successful_transfers() {
        assert_eq!(out("x%{onerror}y%{http_code}", &ok_info()), "x");
        assert_eq!(out("x%{onerror}y%{exitcode}", &failed_info()), "xy7");
        // Switching before the cut still counts.
        let (o, e) = run("a%{stderr}b%{onerror}c", &ok_info());
        assert_eq!((o.as_str(), e.as_str()), ("a", "b"));
    }

    #[test]
    fn header_lookup() {
        let i = ok_info();
        // Only the first of repeated headers, trimmed, any case: curl 7.88.1
        // printed exactly "a=1|first||" for this against our test server.
        assert_eq!(
            out(
                "%header{set-cookie}|%header{X-THING}|%header{nope}|%header{}",
                &i
            ),
            "a=1|first||"
        );
        assert_eq!(out("%header{Content-Length}", &i), "6");
        // The name is taken as it is, spaces and all.
        assert_eq!(out("[%header{ server}]", &i), "[]");
        assert_eq!(
            out("%header{content-length}%header{server}", &Info::default()),
            ""
        );
    }

    #[test]
    fn header_json_groups_and_lowercases() {
        let i = ok_info();
        assert_eq!(
            out("%{header_json}", &i),
            "{\"server\":[\"BaseHTTP/0.6 Python/3.11.7\"],\n\
             \"set-cookie\":[\"a=1\",\"b=2\"],\n\
             \"x-thing\":[\"first\",\"second\"],\n\
             \"content-type\":[\"text/plain; charset=utf-8\"],\n\
             \"content-length\":[\"6\"]\n}"
        );
        // No response: what curl 7.88.1 printed.
        assert_eq!(out("%{header_json}", &failed_info()), "{\n}");
    }

    #[test]
    fn header_json_escapes() {
        let i = Info {
            headers: vec![
                ("X-Quote".into(), "he said \"hi\" \\ ok\ttab".into()),
                ("X-Ctl".into(), "a\u{1}b\u{7f}c".into()),
                ("X-Utf".into(), "café".into()),
                ("X-Empty".into(), "   ".into()),
            ],
            ..Info::default()
        };
        assert_eq!(
            out("%{header_json}", &i),
            "{\"x-quote\":[\"he said \\\"hi\\\" \\\\ ok\\ttab\"],\n\
             \"x-ctl\":[\"a\\u0001b\u{7f}c\"],\n\
             \"x-utf\":[\"café\"],\n\
             \"x-empty\":[\"\"]\n}"
        );
    }

    #[test]
    fn json_of_a_good_transfer() {
        // The same keys, order and formatting as curl 7.88.1's %{json} for
        // this transfer, without the variables we do not have (certs,
        // filename_effective, ftp_entry_path, num_certs,
        // proxy_ssl_verify_result, referer, urlnum, curl_version) and with
        // our vrf.
        assert_eq!(
            out("%{json}", &ok_info()),
            concat!(
                r#"{"content_type":"text/plain; charset=utf-8","errormsg":null,"exitcode":0,"#,
                r#""http_code":200,"http_connect":0,"http_version":"1.1","local_ip":"127.0.0.1","#,
                r#""local_port":42610,"method":"GET","num_connects":1,"num_headers":7,"#,
                r#""num_redirects":0,"redirect_url":null,"remote_ip":"127.0.0.1","#,
                r#""remote_port":18765,"response_code":200,"scheme":"HTTP","size_download":6,"#,
                r#""size_header":255,"size_request":82,"size_upload":0,"speed_download":12765,"#,
                r#""speed_upload":0,"ssl_verify_result":0,"time_appconnect":0.000000,"#,
                r#""time_connect":0.000082,"time_namelookup":0.000010,"#,
                r#""time_pretransfer":0.000094,"time_redirect":0.000000,"#,
                r#""time_starttransfer":0.000438,"time_total":0.000470,"#,
                r#""url":"http://127.0.0.1:18765/dup","url_effective":"http://127.0.0.1:18765/dup","#,
                r#""vrf":"blue"}"#
            )
        );
    }

    #[test]
    fn json_of_a_failed_transfer() {
        assert_eq!(
            out("%{json}\n", &failed_info()),
            concat!(
                r#"{"content_type":null,"errormsg":"Failed to connect to 127.0.0.1 port 1 after 0 ms: "#,
                r#"Couldn't connect to server","exitcode":7,"http_code":0,"http_connect":0,"#,
                r#""http_version":"0","local_ip":"","local_port":0,"method":"GET","num_connects":0,"#,
                r#""num_headers":0,"num_redirects":0,"redirect_url":null,"remote_ip":"","#,
                r#""remote_port":0,"response_code":0,"scheme":null,"size_download":0,"#,
                r#""size_header":0,"size_request":0,"size_upload":0,"speed_download":0,"#,
                r#""speed_upload":0,"ssl_verify_result":0,"time_appconnect":0.000000,"#,
                r#""time_connect":0.000000,"time_namelookup":0.000014,"#,
                r#""time_pretransfer":0.000000,"time_redirect":0.000000,"#,
                r#""time_starttransfer":0.000000,"time_total":0.000651,"#,
                r#""url":"http://127.0.0.1:1/x","url_effective":"http://127.0.0.1:1/x","#,
                r#""vrf":null}"#,
                "\n"
            )
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let i = Info {
            url: "http://h/\"q\"\\\n".into(),
            ..Info::default()
        };
        assert!(out("%{json}", &i).contains(r#""url":"http://h/\"q\"\\\n","#));
    }

    #[test]
    fn json_keys_are_sorted_and_unique() {
        let names: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn everything_together() {
        let (o, e) = run(
            r"%{http_code} %header{content-type}\t%{size_download}B%{stderr}%{time_total}\n",
            &ok_info(),
        );
        assert_eq!(o, "200 text/plain; charset=utf-8\t6B");
        assert_eq!(e, "0.000470\n");
    }

    #[test]
    fn write_errors_are_returned() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("broken"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let w = WriteOut::parse("x");
        let mut err = Vec::new();
        assert!(w.write(&ok_info(), &mut Broken, &mut err).is_err());
        // Nothing is written at all for an empty format.
        assert!(
            WriteOut::parse("")
                .write(&ok_info(), &mut Broken, &mut err)
                .is_ok()
        );
    }
}
