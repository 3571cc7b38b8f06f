//! The ping loop: send on schedule, take in replies and errors, print as iputils does, stop when
//! iputils would.
//!
//! One thread, one socket, no timers: every wait is a `ppoll` on the socket and the signals' wake-up pipe
//! with the time left until the next event (next request, `-w` deadline, end of the final wait). The
//! loop first drains what is already queued without waiting, so a flood costs two system calls per
//! request when replies come back at once (`sendto`, `recvmsg`), and the flood's dots are written in
//! batches instead of one `write` per character.

use std::io::{self, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use socket2::SockAddr;
use vrf_socket::IcmpKind;
use vrf_socket::cmsg::{self, Cmsg, CmsgBuf};

use crate::icmp::{self, Framing, Request};
use crate::resolve;
use crate::setup::{Opened, Target, strerror};
use crate::signals::Signals;
use crate::stats::{Seen, Stats, format_rtt};

/// In a flood, the longest wait for a reply before the next request (iputils' `MININTERVAL`).
const FLOOD_WAIT: Duration = Duration::from_millis(10);
/// How often a flood's dots reach the terminal.
const FLOOD_FLUSH: Duration = Duration::from_millis(50);

/// The run's settings, from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// `-c`: stop after this many replies (or requests, without `-w`).
    pub count: Option<u64>,
    /// `-i` (zero for a flood).
    pub interval: Duration,
    /// `-f`.
    pub flood: bool,
    /// `-W`: how long to wait for a reply after the last request when none came back yet.
    pub linger: Duration,
    /// `-w`: stop after this long whatever happens.
    pub deadline: Option<Duration>,
    /// `-s`: data bytes per request.
    pub size: usize,
    /// `-q`.
    pub quiet: bool,
    /// `-n`.
    pub numeric: bool,
}

/// The exit status iputils would give: 0 when replies came back, 1 when none (or, with `-w`, fewer
/// than `-c`).
pub fn run(t: &Target, opened: Opened, cfg: &Config, signals: Signals) -> Result<u8> {
    let mut p = Pinger::new(t, opened, cfg, signals);
    // iputils names an IPv6 destination given by name in the header (`host(name (address))`), except
    // with -n or -f (a flood is numeric).
    let dest = if t.v6() && !t.numeric_dest && !cfg.numeric && !cfg.flood {
        p.lookup_name(t.addr)
    } else {
        t.addr.to_string()
    };
    p.out.line(&header(t, cfg, &dest));
    // The clock starts with the first request, as iputils' does.
    p.start = Instant::now();
    p.deadline_at = cfg.deadline.map(|d| p.start + d);
    p.main_loop()?;
    p.out.flush();
    let elapsed = p.last_send.map_or(Duration::ZERO, |l| l - p.start);
    let show_ipg = cfg.flood || cfg.interval.is_zero();
    p.out
        .raw(p.stats.summary(&t.host, elapsed, show_ipg).as_bytes());
    let s = &p.stats;
    let short = cfg.deadline.is_some() && s.received < cfg.count.unwrap_or(0);
    Ok(if s.received == 0 || short { 1 } else { 0 })
}

/// `PING 10.99.0.2 (10.99.0.2) 56(84) bytes of data.` / `PING fd00:99::2(fd00:99::2) 56 data bytes`;
/// `dest` is how an IPv6 destination is shown.
pub fn header(t: &Target, cfg: &Config, dest: &str) -> String {
    let from = if t.strict_source || t.device.is_some() {
        let dev = t.device.as_ref().map_or("", |d| d.0.as_str());
        format!("from {} {dev}: ", t.source)
    } else {
        String::new()
    };
    if t.v6() {
        format!("PING {}({dest}) {from}{} data bytes\n", t.host, cfg.size)
    } else {
        format!(
            "PING {} ({}) {from}{}({}) bytes of data.\n",
            t.host,
            t.addr,
            cfg.size,
            cfg.size + 28
        )
    }
}

struct Pinger<'a> {
    t: &'a Target,
    cfg: &'a Config,
    socket: socket2::Socket,
    ident: icmp::Ident,
    framing: Framing,
    dest: SockAddr,
    request: Request,
    timing: bool,
    stats: Stats,
    /// Send time (ns since the epoch, the clock of the kernel's receive timestamps) by sequence.
    sent_at: Vec<u64>,
    start: Instant,
    last_send: Option<Instant>,
    /// Retry a request the kernel could not queue at this time.
    send_blocked_until: Option<Instant>,
    /// The end of the final wait, set once the last request is out.
    exit_at: Option<Instant>,
    deadline_at: Option<Instant>,
    signals: Signals,
    out: Out,
    buf: Vec<u8>,
    /// Receive time, TTL or hop limit, or an extended error with its offender.
    cmsg: CmsgBuf<{ cmsg::RECV_SPACE }>,
    /// The last address printed and its text (iputils caches one too).
    last_name: Option<(IpAddr, String)>,
}

impl<'a> Pinger<'a> {
    fn new(t: &'a Target, opened: Opened, cfg: &'a Config, signals: Signals) -> Self {
        let v6 = t.v6();
        let framing = match (v6, opened.kind) {
            (true, _) => Framing::V6,
            (false, IcmpKind::Raw) => Framing::RawV4,
            (false, _) => Framing::DatagramV4,
        };
        // `run` restarts the clock (and the deadline) once the header is out.
        let start = Instant::now();
        Pinger {
            t,
            cfg,
            socket: opened.socket,
            ident: opened.ident,
            framing,
            dest: SockAddr::from(std::net::SocketAddr::new(t.addr, 0)),
            request: Request::new(v6, opened.ident, cfg.size),
            timing: cfg.size >= icmp::TIMESTAMP_LEN,
            stats: Stats::default(),
            sent_at: vec![0; 1 << 16],
            start,
            last_send: None,
            send_blocked_until: None,
            exit_at: None,
            deadline_at: None,
            signals,
            out: Out::new(cfg.flood && !cfg.quiet),
            // IP header with options, ICMP header, data, and room for a larger answer than asked.
            buf: vec![0; cfg.size + 8 + 60 + 512],
            cmsg: CmsgBuf::default(),
            last_name: None,
        }
    }

    fn main_loop(&mut self) -> Result<()> {
        loop {
            if self.signals.interrupted() {
                return Ok(());
            }
            if self.signals.take_status_request() {
                eprintln!("\r{}", self.stats.status());
            }
            let s = &self.stats;
            if self.cfg.count.is_some_and(|c| s.received + s.errors >= c) {
                return Ok(());
            }
            if self.cfg.deadline.is_some() && s.errors > 0 {
                return Ok(());
            }
            let now = Instant::now();
            if self.deadline_at.is_some_and(|d| now >= d) || self.exit_at.is_some_and(|e| now >= e)
            {
                return Ok(());
            }
            if self.next_send().is_some_and(|due| due <= now) {
                // A request is due while others are out: take in what already came back first, so
                // that a late process sees its replies as on time (and counts `pipe` as iputils).
                if self.stats.in_flight() > 0 && self.receive()? {
                    continue;
                }
                self.send(now)?;
                continue;
            }
            if self.receive()? {
                self.out.flush_if_due(now);
                continue;
            }
            self.wait(now)?;
        }
    }

    /// When the next request is due, or `None` when all are out.
    fn next_send(&self) -> Option<Instant> {
        let all_sent = self.cfg.count.is_some_and(|c| self.stats.transmitted >= c);
        if all_sent && self.cfg.deadline.is_none() {
            return None;
        }
        let due = match self.last_send {
            None => self.start,
            // No interval: as soon as the previous request is answered, or after FLOOD_WAIT.
            Some(last) if self.cfg.interval.is_zero() => {
                if self.stats.in_flight() == 0 {
                    last
                } else {
                    last + FLOOD_WAIT
                }
            }
            Some(last) => last + self.cfg.interval,
        };
        Some(match self.send_blocked_until {
            Some(b) if b > due => b,
            _ => due,
        })
    }

    fn send(&mut self, now: Instant) -> Result<()> {
        self.send_blocked_until = None;
        let seq = (self.stats.transmitted + 1) as u16;
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.sent_at[usize::from(seq)] = wall.as_nanos() as u64;
        let packet = self
            .request
            .packet(seq, (wall.as_secs(), wall.subsec_micros()));
        let mut result = self.socket.send_to(packet, &self.dest);
        if let Err(e) = &result
            && !transient(e)
            && self.drain_errors() > 0
        {
            // The failure reported an ICMP error about an earlier request (queued above): this one
            // was not the cause, send it again.
            let packet = self
                .request
                .packet(seq, (wall.as_secs(), wall.subsec_micros()));
            result = self.socket.send_to(packet, &self.dest);
        }
        match result {
            Ok(_) => {
                self.stats.sent(seq);
                self.out.dot();
            }
            Err(e) if transient(&e) => {
                // Socket buffer or device queue full: not sent, try again shortly.
                let wait = if self.cfg.interval.is_zero() {
                    FLOOD_WAIT
                } else {
                    (self.cfg.interval / 2).min(Duration::from_millis(500))
                };
                self.send_blocked_until = Some(now + wait);
                return Ok(());
            }
            Err(e) => {
                // A hard local error: iputils counts the request as sent (and lost).
                self.stats.sent(seq);
                if self.cfg.flood {
                    self.out.mark(b"E");
                } else if !self.cfg.quiet {
                    eprintln!("vrf-ping: sendmsg: {}", strerror(&e));
                }
            }
        }
        self.last_send = Some(now);
        if self.next_send().is_none() {
            // The last request is out: wait for its reply, as long as iputils would.
            let wait = if self.stats.received > 0 {
                (self.stats.max_rtt() * 2).max(self.cfg.interval)
            } else {
                self.cfg.linger
            };
            self.exit_at = Some(now + wait);
        }
        self.out.flush_if_due(now);
        Ok(())
    }

    /// Takes one packet (or the pending errors) without waiting; false when there was nothing.
    fn receive(&mut self) -> Result<bool> {
        match recv_packet(&self.socket, &mut self.buf, &mut self.cmsg.0) {
            Received::Packet(p) => self.reply(p),
            Received::Nothing => return Ok(false),
            Received::Interrupted => {}
            Received::Failed(e) => {
                // A pending ICMP error reported through the normal queue: the details wait on the
                // error queue.
                if self.drain_errors() == 0 && !self.cfg.quiet {
                    eprintln!("vrf-ping: recvmsg: {}", strerror(&e));
                }
            }
        }
        Ok(true)
    }

    fn reply(&mut self, p: Packet) {
        let Packet {
            len,
            from,
            stamp,
            ttl,
        } = p;
        let packet = &self.buf[..len];
        let Some(r) = icmp::parse_reply(packet, self.framing, &self.ident, self.cfg.size) else {
            return;
        };
        let rtt = self.timing.then(|| {
            let now = stamp
                .unwrap_or_else(|| {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                })
                .as_nanos() as u64;
            Duration::from_nanos(now.saturating_sub(self.sent_at[usize::from(r.seq)]))
        });
        let seen = self.stats.reply(r.seq, rtt, r.bad_checksum);
        if self.cfg.quiet {
            return;
        }
        if self.cfg.flood {
            if seen == Seen::Corrupted {
                self.out.mark(b"\x08C");
            } else {
                self.out.undot();
            }
            return;
        }
        let from = from.unwrap_or(self.t.addr);
        let mut line = format!(
            "{} bytes from {}: icmp_seq={}",
            r.len,
            self.name(from),
            r.seq
        );
        if let Some(ttl) = r.ttl.or(ttl) {
            line += &format!(" ttl={ttl}");
        }
        if r.len < self.cfg.size + icmp::HEADER_LEN {
            line += " (truncated)";
        } else {
            if let Some(rtt) = rtt {
                line += &format!(" time={} ms", format_rtt(rtt));
            }
            match seen {
                Seen::Duplicate => line += " (DUP!)",
                Seen::Corrupted => line += " (BAD CHECKSUM!)",
                Seen::New => {}
            }
            if self.t.v6() && from != self.t.addr && !subnet_router_anycast(self.t.addr) {
                line += " (DIFFERENT ADDRESS!)";
            }
        }
        line.push('\n');
        self.out.line(&line);
    }

    /// Reads the socket's error queue: ICMP errors about our requests and local errors. Returns how
    /// many ICMP errors were ours.
    fn drain_errors(&mut self) -> u64 {
        let mut ours = 0;
        loop {
            let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
            let Ok(msg) = cmsg::recvmsg(&self.socket, &mut self.buf, &mut self.cmsg.0, flags)
            else {
                return ours;
            };
            let Some(err) = msg.cmsgs(&self.cmsg.0).find_map(|c| match c {
                Ok(Cmsg::RecvErr(e)) => Some(e),
                _ => None,
            }) else {
                continue;
            };
            let (len, original_dst) = (msg.len, msg.src.map(|a| a.ip()));
            let offender = err.offender.map(|a| a.ip());
            match err.origin {
                libc::SO_EE_ORIGIN_LOCAL => {
                    self.stats.errors += 1;
                    if self.cfg.flood {
                        self.out.mark(b"E");
                    } else if !self.cfg.quiet {
                        let what = if err.errno == libc::EMSGSIZE as u32 {
                            if self.t.v6() {
                                format!("message too long, mtu: {}", err.info)
                            } else {
                                format!("message too long, mtu={}", err.info)
                            }
                        } else {
                            strerror(&err.error())
                        };
                        eprintln!("vrf-ping: local error: {what}");
                    }
                }
                libc::SO_EE_ORIGIN_ICMP | libc::SO_EE_ORIGIN_ICMP6 => {
                    let v6 = self.t.v6();
                    let Some(seq) = icmp::parse_error_payload(
                        &self.buf[..len],
                        original_dst,
                        self.t.addr,
                        v6,
                        &self.ident,
                        self.cfg.size,
                    ) else {
                        continue;
                    };
                    // iputils counts an IPv4 error as an answer (for `pipe`), not an IPv6 one.
                    if !v6 {
                        self.stats.acknowledge(seq);
                    }
                    self.stats.errors += 1;
                    ours += 1;
                    if self.cfg.quiet {
                        continue;
                    }
                    if self.cfg.flood {
                        self.out.error_mark();
                        continue;
                    }
                    let what = if v6 {
                        icmp::describe_v6(err.kind, err.code, err.info)
                    } else {
                        icmp::describe_v4(err.kind, err.code, err.info)
                    };
                    let from = offender.map_or_else(|| "?".to_string(), |a| self.name(a));
                    self.out
                        .line(&format!("From {from} icmp_seq={seq} {what}\n"));
                }
                _ => {}
            }
        }
    }

    /// Sleeps until a packet, an error, a signal or the next scheduled event.
    fn wait(&mut self, now: Instant) -> Result<()> {
        let until = [self.next_send(), self.exit_at, self.deadline_at]
            .into_iter()
            .flatten()
            .min();
        let timeout = until.map(|u| u.saturating_duration_since(now));
        // Dots of a flood waiting longer than a flush period are worth showing now.
        if timeout.is_none_or(|t| t > FLOOD_FLUSH) {
            self.out.flush();
        } else {
            self.out.flush_if_due(now);
        }
        let timeout = timeout.map(TimeSpec::from_duration);
        let socket = self.socket.as_fd();
        let wake = self.signals.wake_fd();
        let mut fds = [
            PollFd::new(socket, PollFlags::POLLIN),
            PollFd::new(wake, PollFlags::POLLIN),
        ];
        match nix::poll::ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(anyhow::anyhow!("poll: {}", e.desc())),
        }
        let socket_err = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR));
        let woken = fds[1].revents().is_some_and(|r| !r.is_empty());
        if woken {
            // Emptied before the loop reads the flags again: a signal after this wakes the next wait.
            self.signals.drain();
        }
        if socket_err {
            self.drain_errors();
        }
        Ok(())
    }

    /// An address as iputils prints it: numeric for a numeric destination or `-n`, else
    /// `name (address)`, or the address alone when it has no name.
    fn name(&mut self, addr: IpAddr) -> String {
        if self.cfg.numeric || self.cfg.flood || self.t.numeric_dest {
            return addr.to_string();
        }
        self.lookup_name(addr)
    }

    /// `name (address)` from a reverse lookup in the target's VRF, or the address alone; the last
    /// answer is kept.
    fn lookup_name(&mut self, addr: IpAddr) -> String {
        if let Some((a, text)) = &self.last_name
            && *a == addr
        {
            return text.clone();
        }
        let text = match resolve::reverse(self.t.vrf.as_ref(), addr) {
            Some(name) if name != addr.to_string() => format!("{name} ({addr})"),
            _ => addr.to_string(),
        };
        self.last_name = Some((addr, text.clone()));
        text
    }
}

/// What one non-blocking `recvmsg` found.
enum Received {
    Packet(Packet),
    Nothing,
    Interrupted,
    Failed(io::Error),
}

/// A received packet (its bytes are at the start of the buffer) and what came with it.
struct Packet {
    len: usize,
    from: Option<IpAddr>,
    /// The kernel's receive time (`SO_TIMESTAMPNS`), since the epoch.
    stamp: Option<Duration>,
    /// TTL or hop limit from a control message.
    ttl: Option<u8>,
}

fn recv_packet(socket: &socket2::Socket, buf: &mut [u8], control: &mut [u8]) -> Received {
    let msg = match cmsg::recvmsg(socket, buf, control, libc::MSG_DONTWAIT) {
        Ok(msg) => msg,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::Nothing,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Received::Interrupted,
        Err(e) => return Received::Failed(e),
    };
    let mut p = Packet {
        len: msg.len,
        from: msg.src.map(|a| a.ip()),
        stamp: None,
        ttl: None,
    };
    for c in msg.cmsgs(control) {
        match c {
            Ok(Cmsg::TimestampNs(t)) => p.stamp = Some(t),
            Ok(Cmsg::Ttl(t) | Cmsg::HopLimit(t)) => p.ttl = Some(t),
            _ => {}
        }
    }
    Received::Packet(p)
}

/// Errors after which a request is simply tried again later.
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOBUFS | libc::ENOMEM | libc::EINTR)
    )
}

/// The subnet-router anycast address of a /64 (interface id zero): replies come from another address.
fn subnet_router_anycast(addr: IpAddr) -> bool {
    matches!(addr, IpAddr::V6(a) if a.octets()[8..].iter().all(|b| *b == 0))
}

/// Standard output: whole lines at once (so other programs can read them as they come), and a flood's
/// dots and backspaces buffered. A dot still in the buffer when its reply comes is dropped instead of
/// erased; on a terminal the result is the same as iputils', with a write every few milliseconds
/// instead of two per request.
#[derive(Debug)]
struct Out {
    flood: bool,
    pending: Vec<u8>,
    last_flush: Instant,
}

impl Out {
    fn new(flood: bool) -> Self {
        Out {
            flood,
            pending: Vec::new(),
            last_flush: Instant::now(),
        }
    }

    fn line(&mut self, line: &str) {
        self.flush();
        self.raw(line.as_bytes());
    }

    fn raw(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// A request went out.
    fn dot(&mut self) {
        if self.flood {
            self.pending.push(b'.');
        }
    }

    /// Its reply came back.
    fn undot(&mut self) {
        if self.pending.last() == Some(&b'.') {
            self.pending.pop();
        } else {
            self.pending.extend_from_slice(b"\x08 \x08");
        }
    }

    /// An ICMP error replaces the request's dot.
    fn error_mark(&mut self) {
        match self.pending.last_mut() {
            Some(b) if *b == b'.' => *b = b'E',
            _ => self.pending.extend_from_slice(b"\x08E"),
        }
    }

    fn mark(&mut self, bytes: &[u8]) {
        if self.flood {
            self.pending.extend_from_slice(bytes);
        }
    }

    fn flush_if_due(&mut self, now: Instant) {
        if !self.pending.is_empty() && now.duration_since(self.last_flush) >= FLOOD_FLUSH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            self.raw(&bytes);
            self.last_flush = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_marks_cancel_before_they_are_written() {
        let mut o = Out::new(true);
        o.dot();
        o.undot();
        assert!(o.pending.is_empty());
        o.dot();
        o.dot();
        o.error_mark();
        assert_eq!(o.pending, b".E");
        o.pending.clear();
        o.undot();
        o.error_mark();
        assert_eq!(o.pending, b"\x08 \x08\x08E");
        let mut quiet = Out::new(false);
        quiet.dot();
        quiet.mark(b"E");
        assert!(quiet.pending.is_empty());
    }

    #[test]
    fn anycast() {
        assert!(subnet_router_anycast("fd00:99::".parse().unwrap()));
        assert!(!subnet_router_anycast("fd00:99::2".parse().unwrap()));
        assert!(!subnet_router_anycast("10.0.0.0".parse().unwrap()));
    }
}
