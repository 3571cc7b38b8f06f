//! The lab's HTTP and HTTPS test server.
//!
//! [`http_server`] runs a hyper server (HTTP/1.1 and HTTP/2) on a thread that joins a peer's network
//! namespace, so a client in the router reaches it only through the VRF behind which that peer sits.
//! Each server has a label (`"blue"`, `"red"`) that it puts in its answers and in an `X-Site` header,
//! and counts what it served ([`HttpServer::hits`], [`HttpServer::versions`]): a test proves which peer
//! got a request, and over which HTTP version, from the server's side.
//!
//! Routes (every method; HEAD gets the headers, `Content-Length` included when known, and no body):
//!
//! | route | answer |
//! |---|---|
//! | `/` | 200 `text/plain`, `"{label}\n"` |
//! | `/status/{code}` | that status (200–999), `"status {code}\n"` (no body for 204 and 304); other codes: 400 |
//! | `/redirect/{n}` | n > 0: 302, `Location: /redirect/{n-1}` (relative); n = 0: 200 `"{label} redirected\n"` |
//! | `/redirect-to?url=URL&status=CODE` | CODE (300–399, default 302) with `Location: URL` (percent-decoded) |
//! | `/delay/{ms}` | 200 `"{label} late\n"` after `ms` milliseconds |
//! | `/drip?bytes=N&ms=M` | 200 with `Content-Length: N` at once, then N bytes `x` spread over M ms |
//! | `/bytes/{n}` | n bytes of [`pattern`], `Content-Length: n`, made 64 KiB at a time |
//! | `/chunked/{n}` | the same bytes without a length (chunked in HTTP/1.1) |
//! | `/echo` | the request as text: request line, headers, blank line, body (see [`http_server`]) |
//! | `/headers` | 200 with two `Set-Cookie` and two `X-Multi` headers, `"headers\n"` |
//! | anything else | 404 `"not found\n"` |
//!
//! Every answer carries `X-Site: {label}`. Numbers in paths are decimal; a path whose number does not
//! parse is "anything else".
//!
//! Over TLS the server presents a certificate of the lab's test CA ([`crate::ca`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::task::{Context as TaskContext, Poll, ready};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sha2::{Digest, Sha256};
use tokio::time::{Instant, Sleep};

use crate::netns;

/// A request as the server saw it, for tests that need more than counts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// Path and query, as sent (`/echo?a=1`).
    pub target: String,
    /// The HTTP version.
    pub version: Version,
    /// The client's address and port (IPv4 clients of a dual-stack listener show as IPv4).
    pub peer: SocketAddr,
    /// Whether it came over TLS.
    pub tls: bool,
}

/// How many requests [`HttpServer::requests`] remembers (the latest ones).
pub const SEEN_CAP: usize = 1024;

const VERSIONS: [Version; 5] = [
    Version::HTTP_09,
    Version::HTTP_10,
    Version::HTTP_11,
    Version::HTTP_2,
    Version::HTTP_3,
];

/// What a server counts, shared between its handlers and its [`HttpServer`].
#[derive(Debug)]
struct Stats {
    label: String,
    site: HeaderValue,
    connections: AtomicUsize,
    hits: AtomicUsize,
    by_version: [AtomicUsize; VERSIONS.len()],
    seen: Mutex<VecDeque<Seen>>,
}

impl Stats {
    fn record(&self, req: &Request<Incoming>, peer: SocketAddr, tls: bool) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = VERSIONS.iter().position(|v| *v == req.version()) {
            self.by_version[i].fetch_add(1, Ordering::Relaxed);
        }
        let seen = Seen {
            method: req.method().clone(),
            target: req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            version: req.version(),
            peer: SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            tls,
        };
        let mut log = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == SEEN_CAP {
            log.pop_front();
        }
        log.push_back(seen);
    }
}

/// An HTTP(S) server running in a network namespace (see [`http_server`]); dropping it stops the
/// server: its runtime is shut down, open connections are closed.
#[derive(Debug)]
pub struct HttpServer {
    /// The address it listens on (the real port when it was asked for port 0).
    pub addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// The label it answers with.
    pub fn label(&self) -> &str {
        &self.stats.label
    }

    /// Requests received so far (counted as each arrives, before it is answered).
    pub fn hits(&self) -> usize {
        self.stats.hits.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far (TLS handshakes that failed included).
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// The HTTP versions of the requests received so far, each once, oldest version first.
    pub fn versions(&self) -> Vec<Version> {
        VERSIONS
            .iter()
            .zip(&self.stats.by_version)
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(v, _)| *v)
            .collect()
    }

    /// Requests received so far over HTTP version `version`.
    pub fn hits_over(&self, version: Version) -> usize {
        VERSIONS
            .iter()
            .position(|v| *v == version)
            .map_or(0, |i| self.stats.by_version[i].load(Ordering::Relaxed))
    }

    /// The latest requests (up to [`SEEN_CAP`]), oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        let log = self
            .stats
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // The server thread waits for this channel to close.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts an HTTP server labelled `label` in network namespace `ns`, listening on `addr`; over TLS
/// with `tls` (e.g. from [`TestCa::server_config`](crate::ca::TestCa::server_config)). Returns once it listens; anything that fails
/// before (no such namespace, address in use, a label that cannot be a header value) is returned here.
///
/// A thread joins `ns` and runs a multi-thread tokio runtime (2 workers) there; the listener is made
/// in `ns` (`[::]:port` also accepts IPv4; port 0 picks one, see [`HttpServer::addr`]). Connections
/// speak HTTP/1.1 or HTTP/2: in cleartext HTTP/2 with prior knowledge (`curl --http2-prior-knowledge`)
/// is recognised by its preface; over TLS the protocol is the one ALPN chose (`h2`, else HTTP/1.1).
/// No h2c upgrade: `curl --http2 http://…` stays on HTTP/1.1.
///
/// The routes are listed in the [module documentation](self). `/echo` answers `text/plain`:
///
/// ```text
/// POST /echo?x=1 HTTP/1.1          <- method, path and query, version (HTTP/1.0, HTTP/1.1, HTTP/2.0)
/// accept: */*                      <- each header `name: value`, names lowercase and sorted, the values
/// content-length: 5                   of one name in the order received (HTTP/2 pseudo-headers such
/// host: 10.99.0.2                     as :authority are not headers and are not listed)
///                                  <- a blank line
/// hello                            <- the request body, as received
/// ```
pub fn http_server(
    ns: &str,
    addr: SocketAddr,
    label: &str,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpServer> {
    start(Some(ns.to_string()), addr, label, tls)
        .with_context(|| format!("starting the {label:?} HTTP server on {addr} in netns {ns}"))
}

/// [`http_server`], in netns `ns` or (`None`) in the caller's own.
fn start(
    ns: Option<String>,
    addr: SocketAddr,
    label: &str,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpServer> {
    let site = HeaderValue::from_str(label)
        .map_err(|_| anyhow!("label {label:?} cannot be an HTTP header value"))?;
    let stats = Arc::new(Stats {
        label: label.to_string(),
        site,
        connections: AtomicUsize::new(0),
        hits: AtomicUsize::new(0),
        by_version: Default::default(),
        seen: Mutex::new(VecDeque::new()),
    });
    let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr>>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let stats2 = stats.clone();
    let thread = std::thread::Builder::new()
        .name(format!("http-{label}"))
        .spawn(move || {
            let setup = || -> Result<(tokio::runtime::Runtime, tokio::net::TcpListener)> {
                if let Some(ns) = &ns {
                    netns::enter(ns)?;
                }
                // Built after setns: the worker threads start here and inherit the namespace.
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("http-worker")
                    .enable_all()
                    .build()
                    .context("building the tokio runtime")?;
                let listener = bind(addr)?;
                let listener = {
                    let _in_rt = rt.enter();
                    tokio::net::TcpListener::from_std(listener)?
                };
                Ok((rt, listener))
            };
            let (rt, listener) = match setup() {
                Ok(x) => x,
                Err(e) => return drop(ready_tx.send(Err(e))),
            };
            let local = match listener.local_addr() {
                Ok(a) => a,
                Err(e) => return drop(ready_tx.send(Err(e.into()))),
            };
            let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
            rt.spawn(accept_loop(listener, acceptor, stats2));
            let _ = ready_tx.send(Ok(local));
            // Until the HttpServer is dropped (its sender with it).
            let _ = stop_rx.recv();
            rt.shutdown_timeout(Duration::from_secs(2));
        })
        .context("spawning the server thread")?;
    let addr = match ready_rx.recv() {
        Ok(r) => r,
        Err(_) => Err(anyhow!("the server thread died")),
    };
    let addr = match addr {
        Ok(a) => a,
        Err(e) => {
            let _ = thread.join();
            return Err(e);
        }
    };
    Ok(HttpServer {
        addr,
        stats,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// A listening socket on `addr` (dual-stack when `addr` is `[::]`), non-blocking.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        s.set_only_v6(false)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stats: Arc<Stats>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            // Out of descriptors or the like: try again a little later.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(tcp, peer, tls.clone(), stats.clone()));
    }
}

/// The connection builder: HTTP/1.1 and HTTP/2 (auto-detected unless `only` says which).
fn builder(only: Option<Version>) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().timer(TokioTimer::new());
    b.http2().timer(TokioTimer::new()).adaptive_window(true);
    match only {
        Some(Version::HTTP_2) => b.http2_only(),
        Some(_) => b.http1_only(),
        None => b,
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stats: Arc<Stats>,
) {
    let is_tls = tls.is_some();
    let service = hyper::service::service_fn(move |req| handle(req, peer, is_tls, stats.clone()));
    // Errors end the connection; the client sees them, the test checks the client.
    match tls {
        None => {
            let _ = builder(None)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        }
        Some(acceptor) => {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let version = match stream.get_ref().1.alpn_protocol() {
                Some(b"h2") => Version::HTTP_2,
                _ => Version::HTTP_11,
            };
            let _ = builder(Some(version))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    stats: Arc<Stats>,
) -> Result<Response<Payload>, Infallible> {
    stats.record(&req, peer, tls);
    let head = req.method() == Method::HEAD;
    let mut resp = route(req, &stats.label).await;
    let h = resp.headers_mut();
    h.insert("x-site", stats.site.clone());
    let status = resp.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        *resp.body_mut() = Payload::empty();
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    } else if let Some(len) = resp.body().size_hint().exact() {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, len.into());
    }
    if head {
        *resp.body_mut() = Payload::empty();
    }
    Ok(resp)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Payload> {
    let mut r = Response::new(Payload::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn binary(body: Payload) -> Response<Payload> {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

fn redirect(status: StatusCode, location: HeaderValue) -> Response<Payload> {
    let body = format!(
        "redirecting to {}\n",
        String::from_utf8_lossy(location.as_bytes())
    );
    let mut r = text(status, body);
    r.headers_mut().insert(header::LOCATION, location);
    r
}

fn bad_request(why: String) -> Response<Payload> {
    text(StatusCode::BAD_REQUEST, format!("bad request: {why}\n"))
}

/// The decimal number that follows `prefix` in `path` and makes up the rest of it.
fn number_after(path: &str, prefix: &str) -> Option<u64> {
    let n = path.strip_prefix(prefix)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

async fn route(req: Request<Incoming>, label: &str) -> Response<Payload> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let param = |key: &str| query_param(&query, key);
    let number_param = |key: &str, default: u64| -> Result<u64, String> {
        match param(key) {
            None => Ok(default),
            Some(v) => String::from_utf8(v)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{key} is not a number")),
        }
    };
    if path == "/" {
        return text(StatusCode::OK, format!("{label}\n"));
    }
    if let Some(code) = number_after(&path, "/status/") {
        return match u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(s) if code >= 200 => text(s, format!("status {code}\n")),
            _ => bad_request(format!("status {code} cannot be sent")),
        };
    }
    if let Some(n) = number_after(&path, "/redirect/") {
        if n == 0 {
            return text(StatusCode::OK, format!("{label} redirected\n"));
        }
        let next = HeaderValue::try_from(format!("/redirect/{}", n - 1)).expect("a valid value");
        return redirect(StatusCode::FOUND, next);
    }
    if path == "/redirect-to" {
        let Some(url) = param("url") else {
            return bad_request("no url=".into());
        };
        let status = match number_param("status", 302) {
            Ok(s) if (300..400).contains(&s) => StatusCode::from_u16(s as u16).expect("3xx"),
            Ok(s) => return bad_request(format!("status {s} is not a redirect")),
            Err(e) => return bad_request(e),
        };
        return match HeaderValue::from_bytes(&url) {
            Ok(location) => redirect(status, location),
            Err(_) => bad_request("url cannot be a Location header".into()),
        };
    }
    if let Some(ms) = number_after(&path, "/delay/") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return text(StatusCode::OK, format!("{label} late\n"));
    }
    if path == "/drip" {
        return match (number_param("bytes", 10), number_param("ms", 1000)) {
            (Ok(n), Ok(ms)) => {
                let mut r = text(StatusCode::OK, Bytes::new());
                *r.body_mut() = Payload::Drip(Drip::new(n, ms));
                r
            }
            (Err(e), _) | (_, Err(e)) => bad_request(e),
        };
    }
    if let Some(n) = number_after(&path, "/bytes/") {
        return binary(Payload::Pattern(PatternBody::new(n, true)));
    }
    if let Some(n) = number_after(&path, "/chunked/") {
        return binary(Payload::Pattern(PatternBody::new(n, false)));
    }
    if path == "/echo" {
        return echo(req).await;
    }
    if path == "/headers" {
        let mut r = text(StatusCode::OK, "headers\n");
        let h = r.headers_mut();
        for (name, value) in [
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2; Path=/; HttpOnly"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("x-single", "one value"),
            ("cache-control", "no-store"),
        ] {
            h.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        return r;
    }
    text(StatusCode::NOT_FOUND, "not found\n")
}

/// `/echo`: the request line, the headers sorted by name, a blank line and the body.
async fn echo(req: Request<Incoming>) -> Response<Payload> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad_request(format!("reading the request body: {e}")),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = format!("{} {target} {:?}\n", parts.method, parts.version).into_bytes();
    let mut headers: Vec<_> = parts.headers.iter().collect();
    // Stable: the values of one name keep the order they came in.
    headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(&body);
    text(StatusCode::OK, out)
}

/// The value of `key` in a query string (`a=1&b=2`), percent-decoded; `+` stays `+`.
fn query_param(query: &str, key: &str) -> Option<Vec<u8>> {
    query
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .find(|(k, _)| percent_decode(k) == key.as_bytes())
        .map(|(_, v)| percent_decode(v))
}

/// `%XX` → the byte XX; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Bodies.

/// Size of the frames `/bytes` and `/chunked` are sent in.
pub const FRAME: usize = 64 * 1024;

/// A response body: all at once, the byte pattern made frame by frame, or a drip.
enum Payload {
    Full(Option<Bytes>),
    Pattern(PatternBody),
    Drip(Drip),
}

impl Payload {
    fn empty() -> Payload {
        Payload::Full(None)
    }

    fn full(b: impl Into<Bytes>) -> Payload {
        let b = b.into();
        Payload::Full((!b.is_empty()).then_some(b))
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let data = match self.get_mut() {
            Payload::Full(b) => b.take(),
            Payload::Pattern(p) => p.next_frame(),
            Payload::Drip(d) => ready!(d.poll_piece(cx)),
        };
        Poll::Ready(data.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Payload::Full(b) => b.is_none(),
            Payload::Pattern(p) => p.left == 0,
            Payload::Drip(d) => d.sent == d.pieces,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Payload::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Payload::Pattern(p) if p.exact => SizeHint::with_exact(p.left),
            Payload::Pattern(_) => SizeHint::new(),
            Payload::Drip(d) => SizeHint::with_exact(d.left),
        }
    }
}

/// The generator of [`pattern`]: xorshift64 from a fixed seed, each state written little-endian.
#[derive(Debug, Clone)]
struct Pattern(u64);

impl Pattern {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new() -> Pattern {
        Pattern(Self::SEED)
    }

    /// Fills `buf` with the next bytes; a `buf` whose length is not a multiple of 8 ends the stream.
    fn fill(&mut self, buf: &mut [u8]) {
        let mut x = self.0;
        let mut step = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        };
        let mut words = buf.chunks_exact_mut(8);
        for w in &mut words {
            w.copy_from_slice(&step());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            let n = rest.len();
            rest.copy_from_slice(&step()[..n]);
        }
        self.0 = x;
    }
}

/// `/bytes/{n}` and `/chunked/{n}`: the pattern, one [`FRAME`] at a time.
struct PatternBody {
    pattern: Pattern,
    left: u64,
    exact: bool,
}

impl PatternBody {
    fn new(n: u64, exact: bool) -> PatternBody {
        PatternBody {
            pattern: Pattern::new(),
            left: n,
            exact,
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let len = self.left.min(FRAME as u64) as usize;
        let mut buf = vec![0u8; len];
        self.pattern.fill(&mut buf);
        self.left -= len as u64;
        Some(Bytes::from(buf))
    }
}

/// `/drip`: `n` bytes in `pieces` pieces (one per millisecond at most), piece `i` sent at
/// `start + ms × (i + 1) / pieces`: the last byte goes out `ms` after the headers.
struct Drip {
    n: u64,
    ms: u64,
    pieces: u64,
    sent: u64,
    left: u64,
    start: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl Drip {
    fn new(n: u64, ms: u64) -> Drip {
        let start = Instant::now();
        let mut d = Drip {
            n,
            ms,
            pieces: n.min(ms.max(1)),
            sent: 0,
            left: n,
            start,
            sleep: Box::pin(tokio::time::sleep_until(start)),
        };
        let first = d.due(0);
        d.sleep.as_mut().reset(first);
        d
    }

    /// When piece `i` is due.
    fn due(&self, i: u64) -> Instant {
        let us = u128::from(self.ms) * 1000 * u128::from(i + 1) / u128::from(self.pieces.max(1));
        self.start + Duration::from_micros(us as u64)
    }

    /// Byte offset where piece `i` starts.
    fn offset(&self, i: u64) -> u64 {
        (u128::from(self.n) * u128::from(i) / u128::from(self.pieces.max(1))) as u64
    }

    fn poll_piece(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        if self.sent == self.pieces {
            return Poll::Ready(None);
        }
        ready!(self.sleep.as_mut().poll(cx));
        let i = self.sent;
        let size = self.offset(i + 1) - self.offset(i);
        self.sent += 1;
        self.left -= size;
        if self.sent < self.pieces {
            let next = self.due(self.sent);
            self.sleep.as_mut().reset(next);
        }
        Poll::Ready(Some(Bytes::from(vec![b'x'; size as usize])))
    }
}

/// The first `n` bytes of the body of `/bytes/{n}` (and `/chunked/{n}`), for checking small downloads.
pub fn pattern(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    Pattern::new().fill(&mut v);
    v
}

/// The SHA-256 (lowercase hex) of the body of `/bytes/{n}`, computed the way the server makes it, one
/// frame at a time, so `n` may be far larger than memory.
pub fn pattern_sha256(n: u64) -> String {
    let mut body = PatternBody::new(n, true);
    let mut h = Sha256::new();
    while let Some(frame) = body.next_frame() {
        h.update(&frame);
    }
    hex(&h.finalize())
}

/// The SHA-256 (lowercase hex) of the file at `path`, by coreutils' `sha256sum`: an implementation
/// independent of [`pattern_sha256`]'s, and fast whatever this crate's optimization level (unoptimized
/// sha2 takes about 50 s for 100 MB under qemu TCG; sha256sum 1.5 s).
pub fn file_sha256(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let r = crate::cmd::run(std::process::Command::new("sha256sum").arg(path))?.ok()?;
    let digest = r.stdout.split_whitespace().next().unwrap_or_default();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{}", r.describe("printed no digest"));
    }
    Ok(digest.to_ascii_lowercase())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use crate::ca::TestCa;

    /// A server in this process's own namespace, on loopback.
    fn local(tls: Option<Arc<rustls::ServerConfig>>) -> HttpServer {
        start(None, "127.0.0.1:0".parse().unwrap(), "here", tls).unwrap()
    }

    /// One HTTP/1.1 request (closing the connection); the whole raw answer.
    fn raw_bytes(s: &HttpServer, request: &str) -> Vec<u8> {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        out
    }

    /// [`raw_bytes`] as text.
    fn raw(s: &HttpServer, request: &str) -> String {
        String::from_utf8_lossy(&raw_bytes(s, request)).into_owned()
    }

    fn get(s: &HttpServer, target: &str) -> String {
        raw(
            s,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    }

    #[test]
    fn pattern_is_the_same_however_it_is_cut() {
        let whole = pattern(3 * FRAME + 13);
        let mut body = PatternBody::new(whole.len() as u64, true);
        let mut framed = Vec::new();
        while let Some(f) = body.next_frame() {
            assert!(f.len() <= FRAME);
            framed.extend_from_slice(&f);
        }
        assert_eq!(framed, whole);
        assert_eq!(&pattern(5)[..], &whole[..5]);
        assert_ne!(whole[..8], whole[8..16]);
        let mut h = Sha256::new();
        h.update(&whole);
        assert_eq!(pattern_sha256(whole.len() as u64), hex(&h.finalize()));
        assert_eq!(
            pattern_sha256(0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = "url=http%3A%2F%2F10.99.0.2%2Fa%3Fb%3Dc&status=301&bad=%zz%4";
        assert_eq!(query_param(q, "url").unwrap(), b"http://10.99.0.2/a?b=c");
        assert_eq!(query_param(q, "status").unwrap(), b"301");
        assert_eq!(query_param(q, "bad").unwrap(), b"%zz%4");
        assert_eq!(query_param("a+b=c+d", "a+b").unwrap(), b"c+d");
        assert!(query_param(q, "nope").is_none());
    }

    #[test]
    fn routes_over_http1() {
        let s = local(None);
        // GET target: how the answer starts, what its head holds, how it ends.
        let cases: &[(&str, &str, &[&str], &str)] = &[
            (
                "/",
                "HTTP/1.1 200 OK\r\n",
                &["x-site: here\r\n", "content-length: 5\r\n"],
                "\r\n\r\nhere\n",
            ),
            ("/status/418", "HTTP/1.1 418 ", &[], "status 418\n"),
            ("/status/204", "HTTP/1.1 204 ", &[], "\r\n\r\n"),
            ("/status/42", "HTTP/1.1 400 ", &[], ""),
            (
                "/redirect/2",
                "HTTP/1.1 302 ",
                &["location: /redirect/1\r\n"],
                "",
            ),
            ("/redirect/0", "HTTP/1.1 200 ", &[], "here redirected\n"),
            (
                "/redirect-to?url=https%3A%2F%2Fwww.lab%2Fx&status=307",
                "HTTP/1.1 307 ",
                &["location: https://www.lab/x\r\n"],
                "",
            ),
            ("/delay/10", "HTTP/1.1 200 ", &[], "here late\n"),
            (
                "/chunked/10",
                "HTTP/1.1 200 ",
                &["transfer-encoding: chunked\r\n"],
                "",
            ),
            (
                "/headers",
                "HTTP/1.1 200 ",
                &["x-multi: a\r\nx-multi: b\r\n"],
                "headers\n",
            ),
            ("/nope", "HTTP/1.1 404 ", &[], ""),
            ("/bytes/12x", "HTTP/1.1 404 ", &[], ""),
        ];
        for (target, start, head, end) in cases {
            let r = get(&s, target);
            assert!(
                r.starts_with(start) && head.iter().all(|h| r.contains(h)) && r.ends_with(end),
                "GET {target}:\n{r}"
            );
            if *target == "/headers" {
                assert_eq!(r.matches("set-cookie: ").count(), 2, "{r}");
            }
        }
        let r = raw_bytes(
            &s,
            "GET /bytes/100000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&r[..end]);
        assert!(head.contains("content-length: 100000"), "{head}");
        assert_eq!(r[end + 4..], pattern(100_000));
        let r = raw(
            &s,
            "HEAD /bytes/1234 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(
            r.contains("content-length: 1234\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        let r = raw(
            &s,
            "POST /echo?a=%20 HTTP/1.1\r\nHost: x\r\nX-B: 2\r\nX-A: 1\r\nx-b: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        let body = r.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(
            body,
            "POST /echo?a=%20 HTTP/1.1\nconnection: close\ncontent-length: 5\nhost: x\nx-a: 1\nx-b: 2\nx-b: 1\n\nhello"
        );
        let start = std::time::Instant::now();
        let r = get(&s, "/drip?bytes=5&ms=200");
        assert!(
            r.contains("content-length: 5\r\n") && r.ends_with("\r\n\r\nxxxxx"),
            "{r}"
        );
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(s.hits(), 16);
        assert_eq!(s.versions(), [Version::HTTP_11]);
        let seen = s.requests();
        assert_eq!(seen.len(), 16);
        assert_eq!(seen[0].target, "/");
        assert_eq!(seen[0].peer.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn tls_negotiates_h2_with_a_certificate_of_the_test_ca() {
        let ca = TestCa::new().unwrap();
        let s = local(Some(
            ca.server_config(&["www.lab", "127.0.0.1", "[::1]"])
                .unwrap(),
        ));
        let config = ca.client_config(&[b"h2", b"http/1.1"]).unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for name in ["www.lab", "127.0.0.1"] {
                let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
                let name = rustls::pki_types::ServerName::try_from(name).unwrap();
                let tls = connector.connect(name, tcp).await.unwrap();
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            }
            let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            let wrong = rustls::pki_types::ServerName::try_from("other.lab").unwrap();
            assert!(connector.connect(wrong, tcp).await.is_err());
        });
        assert_eq!(s.connections(), 3);
    }

    #[test]
    fn setup_errors_are_returned() {
        let s = local(None);
        let e = start(None, s.addr, "again", None).unwrap_err();
        assert!(format!("{e:#}").contains("binding"), "{e:#}");
        let e = http_server("no-such-netns-here", s.addr, "x", None).unwrap_err();
        assert!(format!("{e:#}").contains("no-such-netns-here"), "{e:#}");
        assert!(start(None, s.addr, "bad\nlabel", None).is_err());
    }
}
