//! Where bytes go: the body sink (standard output or a file, opened when the body starts, as curl
//! does), response headers as curl prints them, and the `-v` trace on standard error.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use http::{HeaderMap, StatusCode, Version};

use crate::error::{Failure, code};

/// Where the body (and `-i` headers) go. Each piece is written as it arrives, unbuffered: the
/// pieces are the network's (up to hundreds of KiB), and a slow stream reaches a pipe at once.
#[derive(Debug)]
pub struct Sink {
    target: Target,
    out: Option<File>,
    written: u64,
}

#[derive(Debug, Clone)]
enum Target {
    Stdout,
    File(PathBuf),
}

impl Sink {
    /// Standard output when `path` is None or "-".
    pub fn new(path: Option<&Path>) -> Sink {
        let target = match path {
            Some(p) if p != Path::new("-") => Target::File(p.to_path_buf()),
            _ => Target::Stdout,
        };
        Sink {
            target,
            out: None,
            written: 0,
        }
    }

    /// Whether the body goes to a terminal (then curl shows no progress meter).
    pub fn is_terminal(&self) -> bool {
        matches!(self.target, Target::Stdout) && io::stdout().is_terminal()
    }

    /// Opens (creates or truncates) the destination now if it is not open yet: an empty body still
    /// makes an empty file, a failed transfer before any output makes none.
    pub fn open(&mut self) -> Result<(), Failure> {
        if self.out.is_some() {
            return Ok(());
        }
        let file = match &self.target {
            // A duplicate of fd 1 (std's stdout is line-buffered: it would split binary bodies).
            Target::Stdout => io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map(File::from)
                .map_err(|e| write_failure(&self.target, &e))?,
            Target::File(p) => File::create(p).map_err(|e| {
                Failure::new(
                    code::WRITE_ERROR,
                    format!("Failed to open the file {}: {e}", p.display()),
                )
            })?,
        };
        self.out = Some(file);
        Ok(())
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.open()?;
        let out = self.out.as_mut().expect("opened above");
        out.write_all(bytes)
            .map_err(|e| write_failure(&self.target, &e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Failure> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|e| write_failure(&self.target, &e))?;
        }
        Ok(())
    }
}

fn write_failure(target: &Target, e: &io::Error) -> Failure {
    let dest = match target {
        Target::Stdout => "standard output".to_string(),
        Target::File(p) => p.display().to_string(),
    };
    Failure::new(
        code::WRITE_ERROR,
        format!("Failure writing output to destination ({dest}): {e}"),
    )
}

/// The HTTP version as curl prints it in a status line ("HTTP/1.1", "HTTP/2").
pub fn version_text(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// The version as `%{http_version}` has it ("1.1", "2").
pub fn version_number(v: Version) -> &'static str {
    version_text(v).trim_start_matches("HTTP/")
}

/// The response head as curl writes it for `-i`, `-I` and `-D`: the status line with the server's
/// reason phrase (HTTP/1), the headers in the order received, a blank line; CRLF line ends.
pub fn head_text(
    version: Version,
    status: StatusCode,
    reason: Option<&[u8]>,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(version_text(version).as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if version != Version::HTTP_2 && version != Version::HTTP_3 {
        match reason {
            Some(r) => out.extend_from_slice(r),
            None => out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes()),
        }
    }
    out.extend_from_slice(b"\r\n");
    push_headers(&mut out, headers, false);
    out
}

/// Appends `headers` as `Name: value` lines and the blank line that ends a head, CRLF line ends;
/// names title-cased (`user-agent` → `User-Agent`) as HTTP/1.1 clients send them, or as they are.
pub fn push_headers(out: &mut Vec<u8>, headers: &HeaderMap, title_cased: bool) {
    for (name, value) in headers {
        if title_cased {
            out.extend_from_slice(title_case(name.as_str()).as_bytes());
        } else {
            out.extend_from_slice(name.as_str().as_bytes());
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A header name as HTTP/1.1 clients write it: `user-agent` → `User-Agent`.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// `-v`: lines on standard error, prefixed `* ` (information), `> ` (sent) or `< ` (received).
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    pub on: bool,
}

impl Trace {
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.on {
            eprintln!("* {}", msg.as_ref());
        }
    }

    /// Each line of `text` (a request or response head, CRLF or LF separated) with `prefix`.
    pub fn lines(&self, prefix: &str, text: &[u8]) {
        if !self.on {
            return;
        }
        let text = String::from_utf8_lossy(text);
        let mut err = io::stderr().lock();
        for line in text.split_inclusive('\n') {
            let line = line.trim_end_matches(['\r', '\n']);
            let _ = writeln!(err, "{prefix}{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn heads_look_like_curls() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        let t = head_text(Version::HTTP_11, StatusCode::OK, None, &h);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"
        );
        let t = head_text(
            Version::HTTP_2,
            StatusCode::NOT_FOUND,
            None,
            &HeaderMap::new(),
        );
        assert_eq!(String::from_utf8(t).unwrap(), "HTTP/2 404 \r\n\r\n");
        let t = head_text(
            Version::HTTP_10,
            StatusCode::OK,
            Some(b"Fine"),
            &HeaderMap::new(),
        );
        assert_eq!(String::from_utf8(t).unwrap(), "HTTP/1.0 200 Fine\r\n\r\n");
        assert_eq!(version_number(Version::HTTP_2), "2");
        assert_eq!(title_case("user-agent"), "User-Agent");
        assert_eq!(title_case("x-a-b"), "X-A-B");
    }

    #[test]
    fn files_are_created_when_the_body_starts() {
        let dir = std::env::temp_dir().join(format!("vcl-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("body");
        let mut s = Sink::new(Some(&p));
        assert!(!p.exists());
        s.open().unwrap();
        s.flush().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        s.write(b"hello").unwrap();
        s.flush().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        let bad = Sink::new(Some(Path::new("/nonexistent/dir/file"))).open();
        assert_eq!(bad.unwrap_err().code, code::WRITE_ERROR);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
