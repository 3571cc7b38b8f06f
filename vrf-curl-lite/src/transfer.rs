//! One transfer, redirects included: resolve and connect inside the VRF, TLS, HTTP/1.1 or HTTP/2 with
//! hyper, the body streamed to the sink.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;
use vrf_socket::AddressFamily;
use vrf_socket::{ConnectOptions, ResolverOptions, Vrf, VrfResolver};

use crate::cli::Pinned;
use crate::error::{self, Failure, code};
use crate::output::{self, Sink, Trace};
use crate::progress::{Meter, Progress};
use crate::request::{self, Plan, UserHeader};
use crate::tls::{self, Trust};
use crate::writeout::Info;

/// How to transfer, from the options.
#[derive(Debug)]
pub struct Settings {
    pub vrf: Vrf,
    pub source: Option<IpAddr>,
    pub pinned: Vec<Pinned>,
    /// `-4`/`-6`.
    pub family: Option<AddressFamily>,
    pub http: HttpChoice,
    pub follow: bool,
    /// None: no limit.
    pub max_redirs: Option<u32>,
    pub connect_timeout: Option<Duration>,
    pub fail: bool,
    pub include: bool,
    pub head_only: bool,
    pub tls: Option<TlsChoice>,
    pub meter: bool,
    pub trace: Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpChoice {
    /// HTTP/2 over TLS when the server agrees (ALPN), HTTP/1.1 otherwise.
    Default,
    Http11,
    /// HTTP/2 from the first byte, also over cleartext.
    PriorKnowledge,
}

/// `--cacert` / `-k`.
#[derive(Debug, Clone)]
pub enum TlsChoice {
    CaFile(std::path::PathBuf),
    Insecure,
}

type Body = Full<Bytes>;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

/// An open connection, kept for the next request to the same origin (redirects).
struct Conn {
    origin: (String, String, u16),
    sender: Sender,
}

impl Conn {
    async fn usable(&mut self) -> bool {
        match &mut self.sender {
            Sender::H1(s) => s.ready().await.is_ok(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }
}

/// The state of a run, readable after the run stopped (even by a timeout).
pub struct Transfer<'a> {
    settings: &'a Settings,
    start: Instant,
    pub info: Info,
    resolver: Option<VrfResolver>,
    tls_config: Option<Arc<rustls::ClientConfig>>,
    meter: Option<Meter>,
    expected: Option<u64>,
    /// `-D FILE`.
    dump_header: Option<Sink>,
}

impl<'a> Transfer<'a> {
    pub fn new(settings: &'a Settings, start: Instant, dump_header: Option<Sink>) -> Transfer<'a> {
        Transfer {
            settings,
            start,
            info: Info::default(),
            resolver: None,
            tls_config: None,
            meter: settings.meter.then(|| Meter::new(start)),
            expected: None,
            dump_header,
        }
    }

    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn progress(&self) -> Progress {
        Progress {
            dl_now: self.info.size_download,
            dl_total: self.expected,
            ul_now: self.info.size_upload,
            ul_total: None,
        }
    }

    fn tick(&mut self) {
        let p = self.progress();
        if let Some(m) = self.meter.as_mut()
            && let Some(text) = m.tick(Instant::now(), p)
        {
            eprint!("{text}");
        }
    }

    /// Ends the progress meter (its last line), if there is one.
    pub fn finish_meter(&mut self) {
        let p = self.progress();
        if let Some(mut m) = self.meter.take() {
            eprint!("{}", m.finish(Instant::now(), p));
        }
    }

    /// The whole operation: requests, redirects, the body into `sink`.
    pub async fn run(&mut self, plan: &Plan, sink: &mut Sink) -> Result<(), Failure> {
        let s = self.settings;
        let mut url = plan.url.clone();
        let mut method = plan.method.clone();
        let mut body = plan.body.clone();
        let mut conn: Option<Conn> = None;
        self.info.url = plan.url.to_string();
        self.info.method = method.to_string();
        self.tick();
        loop {
            self.info.url_effective = url.to_string();
            self.info.scheme = url.scheme().to_string();
            let origin = request::origin_of(&url);
            let reuse = match conn.as_mut() {
                Some(c) if c.origin == origin => c.usable().await,
                _ => false,
            };
            if reuse {
                s.trace
                    .info(format!("Re-using the connection to {}", origin.1));
            } else {
                // Made before the connect phase, whose clock bounds the network, not this.
                let tls = match url.scheme() {
                    "https" => Some(self.tls_config().await?),
                    _ => None,
                };
                let phase = self.connect(origin, tls);
                conn = Some(within_connect_timeout(s.connect_timeout, phase).await?);
            }
            let c = conn.as_mut().expect("connected above");
            let user = request::headers_for(&plan.headers, &plan.url, &url);
            let req = self.build(&url, &method, user, body.clone(), &plan.user_agent, c)?;
            self.info.time_pretransfer = self.elapsed();
            let h2 = matches!(c.sender, Sender::H2(_));
            let sent = match &mut c.sender {
                Sender::H1(s) => s.send_request(req).await,
                Sender::H2(s) => s.send_request(req).await,
            };
            let resp = sent.map_err(|e| error::from_hyper(&e, false, h2))?;
            self.info.time_starttransfer = self.elapsed();
            let (follow_to, status) = self.head(&url, &resp, sink)?;

            if let Some(next) = follow_to {
                if s.max_redirs
                    .is_some_and(|max| self.info.num_redirects >= max)
                {
                    return Err(Failure::new(
                        code::TOO_MANY_REDIRECTS,
                        format!(
                            "Maximum ({}) redirects followed",
                            s.max_redirs.unwrap_or_default()
                        ),
                    ));
                }
                // The redirect's own body is read and dropped so the connection can be reused.
                let mut b = resp.into_body();
                while let Some(frame) = b.frame().await {
                    frame.map_err(|e| error::from_hyper(&e, true, h2))?;
                }
                let (m, b2) = request::after_redirect(status, &method, plan.custom_method, body);
                s.trace
                    .info(format!("Issue another request to this URL: '{next}' ({m})"));
                method = m;
                body = b2;
                url = next;
                self.info.num_redirects += 1;
                self.info.time_redirect = self.elapsed();
                self.info.method = method.to_string();
                continue;
            }

            if s.fail && status.as_u16() >= 400 {
                return Err(Failure::new(
                    code::HTTP_RETURNED_ERROR,
                    format!("The requested URL returned error: {}", status.as_u16()),
                ));
            }
            if s.head_only || method == Method::HEAD {
                return Ok(());
            }
            sink.open()?;
            let mut b = resp.into_body();
            while let Some(frame) = b.frame().await {
                let frame = frame.map_err(|e| error::from_hyper(&e, true, h2))?;
                if let Ok(data) = frame.into_data() {
                    sink.write(&data)?;
                    self.info.size_download += data.len() as u64;
                    self.tick();
                }
            }
            return Ok(());
        }
    }

    /// Records the response head, prints it as asked, and says where to go next when -L follows it.
    fn head(
        &mut self,
        url: &Url,
        resp: &Response<Incoming>,
        sink: &mut Sink,
    ) -> Result<(Option<Url>, http::StatusCode), Failure> {
        let s = self.settings;
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| r.as_bytes().to_vec());
        let head = output::head_text(resp.version(), status, reason.as_deref(), resp.headers());
        s.trace.lines("< ", &head);
        self.info.http_code = status.as_u16();
        self.info.http_version = output::version_number(resp.version()).to_string();
        self.info.size_header += head.len() as u64;
        self.info.headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.info.content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        self.expected = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());

        let location = resp
            .headers()
            .get(header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
        let next = match location {
            Some(l) if status.is_redirection() => Some(url.join(&l).map_err(|e| {
                Failure::new(
                    code::WEIRD_SERVER_REPLY,
                    format!("The server's redirect Location {l:?} is not a URL: {e}"),
                )
            })?),
            _ => None,
        };
        let follow = s.follow && request::is_redirect(status) && next.is_some();
        self.info.redirect_url = if follow {
            None
        } else {
            next.as_ref().map(Url::to_string)
        };
        if s.fail && status.as_u16() >= 400 && !follow {
            // curl -f writes nothing of a failed response, headers included.
            return Ok((None, status));
        }
        if s.include || s.head_only {
            sink.write(&head)?;
        }
        if let Some(d) = self.dump_header.as_mut() {
            d.write(&head)?;
            d.flush()?;
        }
        if follow {
            let next = next.expect("checked");
            request::check_url(&next, next.as_str())?;
            return Ok((Some(next), status));
        }
        Ok((None, status))
    }

    /// The request for `url` on connection `c`, with the user's headers `user`.
    fn build<'h>(
        &mut self,
        url: &Url,
        method: &Method,
        user: impl Iterator<Item = &'h UserHeader>,
        body: Option<Bytes>,
        user_agent: &HeaderValue,
        c: &Conn,
    ) -> Result<Request<Body>, Failure> {
        let h2 = matches!(c.sender, Sender::H2(_));
        let host = request::host_header(url);
        let mut headers = HeaderMap::new();
        let host_value = HeaderValue::from_str(&host).map_err(|_| {
            Failure::new(
                code::URL_MALFORMED,
                format!("URL rejected: {url}: {host:?} cannot be a Host header"),
            )
        })?;
        headers.insert(header::HOST, host_value);
        headers.insert(header::USER_AGENT, user_agent.clone());
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if let Some(b) = &body {
            headers.insert(header::CONTENT_LENGTH, b.len().into());
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        for h in user {
            match h {
                UserHeader::Set(n, v) => {
                    headers.insert(n.clone(), v.clone());
                }
                UserHeader::Remove(n) => {
                    headers.remove(n);
                }
            }
        }
        let target = request::target(url);
        let mut trace = format!(
            "{method} {target} {}\r\n",
            if h2 { "HTTP/2" } else { "HTTP/1.1" }
        )
        .into_bytes();
        // HTTP/1.1 names go out title-cased (`title_case_headers`), HTTP/2 ones lowercase.
        output::push_headers(&mut trace, &headers, !h2);
        self.settings.trace.lines("> ", &trace);
        self.info.size_request += trace.len() as u64;
        self.info.size_upload += body.as_ref().map_or(0, |b| b.len() as u64);

        // HTTP/1.1 sends the path and a Host header; HTTP/2 the full URI (:scheme, :authority, :path).
        let uri = if h2 {
            headers.remove(header::HOST);
            format!("{}://{host}{target}", url.scheme())
        } else {
            target
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .version(if h2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            })
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| {
                Failure::new(
                    code::URL_MALFORMED,
                    format!("cannot make a request for {url}: {e}"),
                )
            })?;
        *req.headers_mut() = headers;
        Ok(req)
    }

    /// Name lookup and TCP connection inside the VRF, then TLS with `tls` (for https) and the HTTP
    /// handshake: the connect phase, which [`within_connect_timeout`] bounds.
    async fn connect(
        &mut self,
        origin: (String, String, u16),
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, Failure> {
        let s = self.settings;
        let vrf = &s.vrf;
        let (_, host, port) = &origin;
        let port = *port;
        let ips = self.resolve(host, port).await?;
        self.info.time_namelookup = self.elapsed();
        let shown: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        s.trace.info(format!(
            "  Trying {} port {port} in VRF {vrf}...",
            shown.join(", ")
        ));
        let opts = match s.source {
            Some(src) => ConnectOptions::default().source(src),
            None => ConnectOptions::default(),
        };
        let t0 = Instant::now();
        let stream = vrf_socket::tokio::connect_ips(vrf, host, port, &ips, &opts)
            .await
            .map_err(|e| {
                // A timeout here is the kernel's (SYN retries): curl's 7 too; its own limits are 28.
                Failure::new(
                    code::COULDNT_CONNECT,
                    format!(
                        "Failed to connect to {host} port {port} after {} ms: {e}",
                        t0.elapsed().as_millis()
                    ),
                )
            })?;
        self.info.num_connects += 1;
        self.info.time_connect = self.elapsed();
        let _ = stream.set_nodelay(true);
        let remote = stream.peer_addr().ok();
        let local = stream.local_addr().ok();
        self.info.remote_ip = remote.map(|a| a.ip());
        self.info.remote_port = remote.map(|a| a.port());
        self.info.local_ip = local.map(|a| a.ip());
        self.info.local_port = local.map(|a| a.port());
        s.trace.info(format!(
            "Connected to {host} ({}) port {port} in VRF {vrf}, from {}",
            remote.map_or_else(String::new, |a| a.ip().to_string()),
            local.map_or_else(String::new, |a| a.to_string()),
        ));

        let (io, alpn_h2): (Box<dyn Io>, bool) = if let Some(config) = tls {
            let name = tls::server_name(host)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| tls::handshake_failure(&e, host))?;
            let (_, session) = tls.get_ref();
            let h2 = session.alpn_protocol() == Some(b"h2");
            s.trace.info(format!(
                "TLS connection using {:?} / {:?}; ALPN: {}",
                session.protocol_version(),
                session.negotiated_cipher_suite().map(|c| c.suite()),
                session
                    .alpn_protocol()
                    .map_or("none".into(), |p| String::from_utf8_lossy(p).into_owned()),
            ));
            self.info.time_appconnect = self.elapsed();
            (Box::new(tls), h2)
        } else {
            (Box::new(stream), false)
        };
        let io = TokioIo::new(io);
        let h2 = alpn_h2 || s.http == HttpChoice::PriorKnowledge;
        let sender = if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .initial_stream_window_size(8 << 20)
                .initial_connection_window_size(16 << 20)
                .max_frame_size(1 << 20)
                .handshake(io)
                .await
                .map_err(|e| error::from_hyper(&e, false, true))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1_builder()
                .handshake(io)
                .await
                .map_err(|e| error::from_hyper(&e, false, false))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H1(sender)
        };
        Ok(Conn { origin, sender })
    }

    /// The addresses of `host` in the VRF: `--resolve`, an IP literal, or DNS through the VRF.
    async fn resolve(&mut self, host: &str, port: u16) -> Result<Vec<IpAddr>, Failure> {
        let s = self.settings;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ips = if let Some(p) = Pinned::find(&s.pinned, host, port) {
            let shown: Vec<String> = p.addrs.iter().map(IpAddr::to_string).collect();
            s.trace
                .info(format!("{host}:{port} is {} (--resolve)", shown.join(", ")));
            p.addrs.clone()
        } else if let Ok(ip) = bare.parse::<IpAddr>() {
            vec![ip]
        } else {
            if self.resolver.is_none() {
                // -4/-6, or the family of --interface: only those queries (curl asks only for A with -4).
                let mut opts = ResolverOptions::default();
                if let Some(f) = s.family.or(s.source.map(AddressFamily::of)) {
                    opts = opts.family(f);
                }
                let r = s.vrf.resolver_with(&opts).map_err(|e| {
                    Failure::new(
                        code::COULDNT_RESOLVE_HOST,
                        format!("Could not resolve host: {host}: reading the VRF's DNS configuration: {e}"),
                    )
                })?;
                s.trace.info(format!(
                    "Resolving {host} in VRF {} with {} (servers: {:?})",
                    s.vrf,
                    r.conf_path().display(),
                    r.name_servers()
                ));
                self.resolver = Some(r);
            }
            let r = self.resolver.as_ref().expect("set above");
            r.lookup_ip(bare).await.map_err(|e| {
                Failure::new(
                    code::COULDNT_RESOLVE_HOST,
                    format!("Could not resolve host: {host}: {e}"),
                )
            })?
        };
        let ips: Vec<IpAddr> = ips
            .into_iter()
            .filter(|&ip| {
                let family = AddressFamily::of(ip);
                s.family.is_none_or(|f| f == family)
                    && s.source.is_none_or(|src| AddressFamily::of(src) == family)
            })
            .collect();
        if ips.is_empty() {
            let why = match (s.family, s.source) {
                (Some(AddressFamily::Ipv4), _) => "no IPv4 address (-4)".to_string(),
                (Some(AddressFamily::Ipv6), _) => "no IPv6 address (-6)".to_string(),
                (None, Some(src)) => format!("no address of the family of --interface {src}"),
                (None, None) => "no address".to_string(),
            };
            return Err(Failure::new(
                code::COULDNT_RESOLVE_HOST,
                format!("Could not resolve host: {host}: {why}"),
            ));
        }
        Ok(ips)
    }

    /// The TLS configuration, made once per run. Loading the system's CA certificates reads a few
    /// hundred files (seconds on a slow machine), so it runs on a blocking thread: `-m` still ends the
    /// run on time.
    async fn tls_config(&mut self) -> Result<Arc<rustls::ClientConfig>, Failure> {
        if let Some(c) = &self.tls_config {
            return Ok(c.clone());
        }
        let s = self.settings;
        let trust = match &s.tls {
            None => Trust::System,
            Some(TlsChoice::CaFile(p)) => Trust::File(p.clone()),
            Some(TlsChoice::Insecure) => Trust::Insecure,
        };
        let alpn = tls::alpn(s.http != HttpChoice::Http11);
        let t0 = Instant::now();
        let c = tokio::task::spawn_blocking(move || tls::client_config(trust, alpn))
            .await
            .map_err(|e| Failure::new(code::SSL_CONNECT_ERROR, format!("TLS set-up: {e}")))??;
        s.trace.info(format!(
            "TLS trust ({}) loaded in {} ms",
            match &s.tls {
                None => "the system's CA certificates".to_string(),
                Some(TlsChoice::CaFile(p)) => format!("--cacert {}", p.display()),
                Some(TlsChoice::Insecure) => "none: -k".to_string(),
            },
            t0.elapsed().as_millis()
        ));
        self.tls_config = Some(c.clone());
        Ok(c)
    }
}

/// HTTP/1.1 connections: names title-cased as curl sends them, response heads within curl's limits.
fn http1_builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.title_case_headers(true)
        .max_header_size(error::MAX_HEADER_BYTES)
        .max_headers(error::MAX_HEADER_LINES);
    b
}

/// curl's connect timeout when `--connect-timeout` is not given: the connect phase is bounded anyway.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the connect `phase` (name lookup, TCP, TLS and HTTP handshakes) within `given`
/// (`--connect-timeout`), else [`DEFAULT_CONNECT_TIMEOUT`]: curl's 28 when the time runs out.
async fn within_connect_timeout<T>(
    given: Option<Duration>,
    phase: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let limit = given.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let Ok(done) = tokio::time::timeout(limit, phase).await else {
        let which = match given {
            Some(_) => "--connect-timeout",
            None => "the default connect timeout; --connect-timeout SECONDS sets another",
        };
        return Err(Failure::new(
            code::OPERATION_TIMEDOUT,
            format!(
                "Connection timed out after {} milliseconds ({which})",
                limit.as_millis()
            ),
        ));
    };
    done
}

/// The address `source` can be bound to in `vrf`: fails with curl's 45 otherwise.
pub fn check_source(vrf: &Vrf, source: IpAddr) -> Result<(), Failure> {
    // The bind looks the address up in the VRF's table; the socket is dropped at once.
    let probe = vrf.udp_bind(SocketAddr::new(source, 0)).map(drop);
    probe.map_err(|e| {
        Failure::new(
            code::INTERFACE_FAILED,
            format!(
                "Couldn't bind to '{source}' in VRF {vrf}: {e} (the address must be on a device enslaved to {vrf}; see ip -br addr show master {vrf})"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_connect_phase_is_bounded_with_or_without_the_option() {
        let t0 = tokio::time::Instant::now();
        let e = within_connect_timeout::<()>(None, pending())
            .await
            .unwrap_err();
        assert_eq!(e.code, code::OPERATION_TIMEDOUT);
        assert_eq!(t0.elapsed(), Duration::from_secs(300));
        assert!(e.message.contains("300000 milliseconds"), "{e}");
        assert!(e.message.contains("--connect-timeout SECONDS"), "{e}");

        let t0 = tokio::time::Instant::now();
        let two = Some(Duration::from_secs(2));
        let e = within_connect_timeout::<()>(two, pending())
            .await
            .unwrap_err();
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        assert!(e.message.ends_with("(--connect-timeout)"), "{e}");

        // A phase that ends in time is its own result, success or failure.
        let done = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(7)
        };
        assert_eq!(within_connect_timeout(two, done).await, Ok(7));
        let refused = async { Err::<(), _>(Failure::new(code::COULDNT_CONNECT, "refused")) };
        assert_eq!(
            within_connect_timeout(None, refused)
                .await
                .unwrap_err()
                .code,
            code::COULDNT_CONNECT
        );
    }

    /// The server end of an in-memory connection: reads the request head, then `answer` writes.
    async fn server(
        mut io: DuplexStream,
        answer: impl AsyncFnOnce(&mut DuplexStream) -> std::io::Result<()>,
    ) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = answer(&mut io).await;
    }

    /// A GET over an HTTP/1.1 connection made as [`Transfer::connect`] makes them, to a server that
    /// answers with `answer`: the body, or the failure as the transfer reports it.
    async fn get(
        answer: impl AsyncFnOnce(&mut DuplexStream) -> std::io::Result<()>,
    ) -> Result<Vec<u8>, Failure> {
        let (client, far) = tokio::io::duplex(64 << 10);
        let client = async move {
            let (mut sender, conn) = http1_builder()
                .handshake::<_, Empty<Bytes>>(TokioIo::new(client))
                .await
                .unwrap();
            // Its end of the connection closes when this task ends, which ends the server's writes.
            tokio::spawn(conn);
            let req = Request::get("/").body(Empty::new()).unwrap();
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| error::from_hyper(&e, false, false))?;
            let mut body = resp.into_body();
            let mut got = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| error::from_hyper(&e, true, false))?;
                got.extend_from_slice(&frame.into_data().unwrap_or_default());
            }
            Ok(got)
        };
        tokio::join!(server(far, answer), client).1
    }

    #[tokio::test]
    async fn endless_headers_are_curls_56() {
        let e = get(async |io| {
            io.write_all(b"HTTP/1.1 200 OK\r\n").await?;
            for i in 0.. {
                io.write_all(format!("X-Flood-{i}: {}\r\n", "a".repeat(100)).as_bytes())
                    .await?;
            }
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(e.code, code::RECV_ERROR, "{e}");
        assert!(e.message.starts_with("Too large response headers"), "{e}");
        // One endless header line: the byte limit.
        let e = get(async |io| {
            io.write_all(b"HTTP/1.1 200 OK\r\nX-Endless: ").await?;
            loop {
                io.write_all(&[b'a'; 4096]).await?;
            }
        })
        .await
        .unwrap_err();
        assert!(e.message.starts_with("Too large response headers"), "{e}");
    }

    #[tokio::test]
    async fn many_headers_within_curls_limit_are_fine() {
        // hyper's default is 100 header lines; curl takes as many as fit in 300 KiB.
        let body = get(async |io| {
            let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
            for i in 0..500 {
                head.extend_from_slice(format!("X-Many-{i}: {i}\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\nok");
            io.write_all(&head).await
        })
        .await
        .unwrap();
        assert_eq!(body, b"ok");
    }

    #[tokio::test]
    async fn bodies_cut_short_are_curls_18() {
        let chunked = get(async |io| {
            io.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                .await
        });
        let sized = get(async |io| {
            io.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                .await
        });
        for e in [chunked.await.unwrap_err(), sized.await.unwrap_err()] {
            assert_eq!(e.code, code::PARTIAL_FILE, "{e}");
        }
        // Nothing at all is 52, as curl.
        let e = get(async |_| Ok(())).await.unwrap_err();
        assert_eq!(e.code, code::GOT_NOTHING, "{e}");
    }
}
