//! Failures with curl's exit codes.

use std::fmt;
use std::io;

/// curl's exit codes (its `CURLcode` numbers), the ones that apply here.
pub mod code {
    pub const UNSUPPORTED_PROTOCOL: u8 = 1;
    pub const BAD_OPTION: u8 = 2;
    pub const URL_MALFORMED: u8 = 3;
    pub const COULDNT_RESOLVE_HOST: u8 = 6;
    pub const COULDNT_CONNECT: u8 = 7;
    pub const WEIRD_SERVER_REPLY: u8 = 8;
    pub const PARTIAL_FILE: u8 = 18;
    pub const HTTP_RETURNED_ERROR: u8 = 22;
    pub const WRITE_ERROR: u8 = 23;
    pub const READ_ERROR: u8 = 26;
    pub const OPERATION_TIMEDOUT: u8 = 28;
    pub const SSL_CONNECT_ERROR: u8 = 35;
    pub const INTERFACE_FAILED: u8 = 45;
    pub const TOO_MANY_REDIRECTS: u8 = 47;
    pub const SETOPT_OPTION_SYNTAX: u8 = 49;
    pub const GOT_NOTHING: u8 = 52;
    pub const RECV_ERROR: u8 = 56;
    pub const PEER_FAILED_VERIFICATION: u8 = 60;
    pub const SSL_CACERT_BADFILE: u8 = 77;
    pub const HTTP2: u8 = 16;
}

/// Why the transfer stopped: curl's exit code and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// The innermost `io::Error` kind and message of a hyper error chain, if any.
pub fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    let mut found = None;
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            found = Some(io);
        }
        cur = err.source();
    }
    found
}

/// The most response-head bytes (status line and headers) taken from an HTTP/1.1 server: curl's
/// limit (300 KiB); more is exit 56.
pub const MAX_HEADER_BYTES: usize = 300 * 1024;

/// The most header lines in one HTTP/1.1 response head (hyper's parser needs a number; curl has none
/// beyond [`MAX_HEADER_BYTES`]).
pub const MAX_HEADER_LINES: usize = 1000;

/// A response head over [`MAX_HEADER_BYTES`] or [`MAX_HEADER_LINES`]. hyper tells it only by its
/// message (`is_parse_too_large` exists for servers only); a test in `transfer.rs` pins it.
fn head_too_large(e: &hyper::Error) -> bool {
    e.is_parse() && e.to_string().contains("too large")
}

/// A receive-side failure (hyper error while reading the response), as curl would report it.
pub fn from_hyper(e: &hyper::Error, got_response: bool, h2: bool) -> Failure {
    let partial = || {
        Failure::new(
            code::PARTIAL_FILE,
            "Transferred a partial file: the connection closed before the end of the body",
        )
    };
    if let Some(io) = io_cause(e) {
        if io.kind() == io::ErrorKind::TimedOut {
            return Failure::new(code::OPERATION_TIMEDOUT, format!("Timeout: {io}"));
        }
        // A body cut short (chunked or with a Content-Length) ends in an unexpected EOF.
        if got_response && io.kind() == io::ErrorKind::UnexpectedEof {
            return partial();
        }
        return Failure::new(code::RECV_ERROR, format!("Recv failure: {io}"));
    }
    if e.is_incomplete_message() {
        return if got_response {
            partial()
        } else {
            Failure::new(code::GOT_NOTHING, "Empty reply from server")
        };
    }
    if head_too_large(e) {
        return Failure::new(
            code::RECV_ERROR,
            format!(
                "Too large response headers: over {} KiB or {MAX_HEADER_LINES} lines",
                MAX_HEADER_BYTES / 1024
            ),
        );
    }
    if e.is_parse() || e.is_parse_status() {
        return Failure::new(code::WEIRD_SERVER_REPLY, format!("Weird server reply: {e}"));
    }
    if h2 {
        let detail = std::error::Error::source(e).map_or(String::new(), |s| format!(": {s}"));
        return Failure::new(code::HTTP2, format!("HTTP/2 error: {e}{detail}"));
    }
    if e.is_canceled() || e.is_closed() {
        return Failure::new(
            code::GOT_NOTHING,
            "Empty reply from server (connection closed)",
        );
    }
    Failure::new(code::RECV_ERROR, format!("Recv failure: {e}"))
}
