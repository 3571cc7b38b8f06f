//! Counting and timing, and the iputils text made from them: `time=` values, the statistics block and
//! the SIGQUIT status line. Times are whole microseconds, as iputils keeps them, so the printed digits
//! round the same way.

use std::fmt::Write as _;
use std::time::Duration;

/// Sequence numbers are 16 bits: one bit per possible sequence tells a duplicate.
const SEQ_SPACE: usize = 1 << 16;

/// What happened so far.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Requests sent (or counted as sent after a hard local error).
    pub transmitted: u64,
    /// Distinct replies.
    pub received: u64,
    /// Duplicate replies.
    pub duplicates: u64,
    /// Replies with a bad checksum.
    pub corrupted: u64,
    /// ICMP errors about our requests and local errors.
    pub errors: u64,
    /// Round trips (µs) of timed replies, duplicates included.
    rtt: RttSum,
    /// The most requests outstanding at once, as acknowledged replies and errors showed.
    pub pipe: u64,
    /// The highest sequence acknowledged so far.
    acked: u16,
    received_seqs: Vec<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct RttSum {
    count: u64,
    min: u64,
    max: u64,
    sum: u64,
    sum_sq: u128,
    /// Exponentially weighted moving average, times 8 (µs).
    ewma8: u64,
}

/// What a reply was, for its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first reply to its request.
    New,
    /// Another reply to a request already answered.
    Duplicate,
    /// A reply whose checksum is wrong.
    Corrupted,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            transmitted: 0,
            received: 0,
            duplicates: 0,
            corrupted: 0,
            errors: 0,
            rtt: RttSum::default(),
            pipe: 0,
            acked: 0,
            received_seqs: vec![0; SEQ_SPACE / 64],
        }
    }
}

impl Stats {
    /// Counts a request about to be sent with sequence `seq` (`transmitted + 1`, truncated).
    pub fn sent(&mut self, seq: u16) {
        self.transmitted += 1;
        self.received_seqs[usize::from(seq) / 64] &= !(1 << (seq % 64));
    }

    /// Requests sent after the highest one acknowledged.
    pub fn in_flight(&self) -> u64 {
        let diff = (self.transmitted as u16).wrapping_sub(self.acked);
        if diff <= 0x7fff {
            u64::from(diff)
        } else {
            self.transmitted.saturating_sub(self.received + self.errors)
        }
    }

    /// Notes that request `seq` was answered (by a reply or an error).
    pub fn acknowledge(&mut self, seq: u16) {
        let diff = (self.transmitted as u16).wrapping_sub(seq);
        if diff <= 0x7fff {
            self.pipe = self.pipe.max(u64::from(diff) + 1);
            let newer = (seq.wrapping_sub(self.acked) as i16) > 0;
            let stale = (self.transmitted as u16).wrapping_sub(self.acked) > 0x7fff;
            if newer || stale {
                self.acked = seq;
            }
        }
    }

    /// Counts a reply to `seq` that took `rtt` (when timed).
    pub fn reply(&mut self, seq: u16, rtt: Option<Duration>, bad_checksum: bool) -> Seen {
        if !bad_checksum {
            self.acknowledge(seq);
        }
        if let (Some(rtt), false) = (rtt, bad_checksum) {
            let us = rtt.as_micros() as u64;
            let r = &mut self.rtt;
            r.min = if r.count == 0 { us } else { r.min.min(us) };
            r.max = r.max.max(us);
            r.count += 1;
            r.sum += us;
            r.sum_sq += u128::from(us) * u128::from(us);
            r.ewma8 = if r.ewma8 == 0 {
                us * 8
            } else {
                (r.ewma8 + us).saturating_sub(r.ewma8 / 8)
            };
        }
        let (word, bit) = (usize::from(seq) / 64, 1u64 << (seq % 64));
        if bad_checksum {
            self.corrupted += 1;
            Seen::Corrupted
        } else if self.received_seqs[word] & bit != 0 {
            self.duplicates += 1;
            Seen::Duplicate
        } else {
            self.received_seqs[word] |= bit;
            self.received += 1;
            Seen::New
        }
    }

    /// The longest round trip so far.
    pub fn max_rtt(&self) -> Duration {
        Duration::from_micros(self.rtt.max)
    }

    /// The statistics block printed at the end: a blank line, the `---` title, the counts line and the
    /// rtt line (or an empty line). `elapsed` is the time from the start to the last request;
    /// `show_ipg` asks for iputils' `ipg/ewma` (flood or zero interval).
    pub fn summary(&self, host: &str, elapsed: Duration, show_ipg: bool) -> String {
        let mut s = format!(
            "\n--- {host} ping statistics ---\n{} packets transmitted, {} received",
            self.transmitted, self.received
        );
        if self.duplicates > 0 {
            let _ = write!(s, ", +{} duplicates", self.duplicates);
        }
        if self.corrupted > 0 {
            let _ = write!(s, ", +{} corrupted", self.corrupted);
        }
        if self.errors > 0 {
            let _ = write!(s, ", +{} errors", self.errors);
        }
        if self.transmitted > 0 {
            let lost = self.transmitted.saturating_sub(self.received);
            // iputils computes the loss in single precision and prints it with %g.
            let loss = (lost as f64 * 100.0 / self.transmitted as f64) as f32;
            let ms = (elapsed.as_nanos() + 500_000) / 1_000_000;
            let _ = write!(
                s,
                ", {}% packet loss, time {ms}ms",
                format_g(f64::from(loss))
            );
        }
        s.push('\n');
        let mut sep = "";
        if self.received > 0 && self.rtt.count > 0 {
            let r = &self.rtt;
            let avg = r.sum / r.count;
            let var = (r.sum_sq - u128::from(r.sum) * u128::from(r.sum) / u128::from(r.count))
                / u128::from(r.count);
            let mdev = var.isqrt() as u64;
            let _ = write!(
                s,
                "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                ms3(r.min),
                ms3(avg),
                ms3(r.max),
                ms3(mdev)
            );
            sep = ", ";
        }
        if self.pipe > 1 {
            let _ = write!(s, "{sep}pipe {}", self.pipe);
            sep = ", ";
        }
        if show_ipg && self.received > 0 && self.transmitted > 1 {
            let ipg = (elapsed.as_micros() / u128::from(self.transmitted - 1)) as u64;
            let _ = write!(
                s,
                "{sep}ipg/ewma {}/{} ms",
                ms3(ipg),
                ms3(self.rtt.ewma8 / 8)
            );
        }
        s.push('\n');
        s
    }

    /// The line iputils prints on SIGQUIT (to stderr), without its leading `\r`.
    pub fn status(&self) -> String {
        let loss = (self.transmitted.saturating_sub(self.received) * 100)
            .checked_div(self.transmitted)
            .unwrap_or(0);
        let mut s = format!(
            "{}/{} packets, {loss}% loss",
            self.received, self.transmitted
        );
        if self.received > 0 && self.rtt.count > 0 {
            let r = &self.rtt;
            let _ = write!(
                s,
                ", min/avg/ewma/max = {}/{}/{}/{} ms",
                ms3(r.min),
                ms3(r.sum / r.count),
                ms3(r.ewma8 / 8),
                ms3(r.max)
            );
        }
        s
    }
}

/// Microseconds as milliseconds with three decimals, truncated (`%ld.%03ld`).
fn ms3(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// A round trip as iputils prints it after `time=`: three significant digits, at least one decimal
/// below 100 ms.
pub fn format_rtt(rtt: Duration) -> String {
    let us = rtt.as_micros() as u64;
    if us >= 100_000 - 50 {
        format!("{}", (us + 500) / 1000)
    } else if us >= 10_000 - 5 {
        format!("{}.{}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
    } else if us >= 1000 {
        format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
    } else {
        format!("{}.{:03}", us / 1000, us % 1000)
    }
}

/// `printf("%g", v)` for a non-negative `v`: six significant digits, trailing zeros removed, exponent
/// form below 1e-4.
pub fn format_g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".to_string();
    }
    // The exponent after rounding to six significant digits decides the form.
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(us: u64) -> Option<Duration> {
        Some(Duration::from_micros(us))
    }

    #[test]
    fn percent_like_printf_g() {
        let loss =
            |lost: u64, sent: u64| format_g(f64::from((lost as f64 * 100.0 / sent as f64) as f32));
        assert_eq!(loss(0, 3), "0");
        assert_eq!(loss(3, 3), "100");
        assert_eq!(loss(1, 3), "33.3333");
        assert_eq!(loss(2, 3), "66.6667");
        assert_eq!(loss(1, 10), "10");
        assert_eq!(loss(1, 1000), "0.1");
        assert_eq!(loss(1, 2_000_000), "5e-05");
        assert_eq!(format_g(99.99999999), "100");
        assert_eq!(format_g(12.5), "12.5");
    }

    #[test]
    fn rtt_digits_like_iputils() {
        let f = |us| format_rtt(Duration::from_micros(us));
        assert_eq!(f(123), "0.123");
        assert_eq!(f(1234), "1.23");
        assert_eq!(f(5143), "5.14");
        assert_eq!(f(12_345), "12.3");
        assert_eq!(f(9_996), "10.0");
        assert_eq!(f(123_456), "123");
        assert_eq!(f(99_960), "100");
    }

    #[test]
    fn summary_of_three_replies() {
        let mut s = Stats::default();
        for seq in 1..=3 {
            s.sent(seq);
        }
        // The iputils run from the lab: 0.594/2.868/5.143/2.274 for two replies.
        let mut two = Stats::default();
        two.sent(1);
        assert_eq!(two.reply(1, ms(5143), false), Seen::New);
        two.sent(2);
        assert_eq!(two.reply(2, ms(594), false), Seen::New);
        assert_eq!(
            two.summary("fd00:99::2", Duration::from_millis(201), false),
            "\n--- fd00:99::2 ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, \
             time 201ms\nrtt min/avg/max/mdev = 0.594/2.868/5.143/2.274 ms\n"
        );
        s.reply(1, ms(100), false);
        assert_eq!(s.reply(1, ms(300), false), Seen::Duplicate);
        assert_eq!(s.in_flight(), 2);
        assert_eq!(
            s.summary("h", Duration::from_micros(400_400), false),
            "\n--- h ping statistics ---\n3 packets transmitted, 1 received, +1 duplicates, 66.6667% \
             packet loss, time 400ms\nrtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms, pipe 3\n"
        );
    }

    #[test]
    fn summary_without_replies_ends_with_an_empty_line() {
        let mut s = Stats::default();
        for seq in 1..=3 {
            s.sent(seq);
        }
        s.errors = 3;
        for seq in 1..=3 {
            s.acknowledge(seq);
        }
        assert_eq!(
            s.summary("10.99.0.3", Duration::from_millis(410), false),
            "\n--- 10.99.0.3 ping statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% \
             packet loss, time 410ms\npipe 3\n"
        );
        let mut quiet = Stats::default();
        quiet.sent(1);
        assert!(
            quiet
                .summary("x", Duration::ZERO, false)
                .ends_with("100% packet loss, time 0ms\n\n")
        );
        assert_eq!(
            Stats::default().summary("x", Duration::ZERO, false),
            "\n--- x ping statistics ---\n0 packets transmitted, 0 received\n\n"
        );
    }

    #[test]
    fn flood_summary_has_ipg_and_ewma() {
        let mut s = Stats::default();
        for seq in 1..=3u16 {
            s.sent(seq);
            s.reply(seq, ms(40), false);
        }
        assert_eq!(s.in_flight(), 0);
        assert!(s.summary("p", Duration::from_micros(360), true).ends_with(
            "rtt min/avg/max/mdev = 0.040/0.040/0.040/0.000 ms, ipg/ewma 0.180/0.040 ms\n"
        ),);
        assert_eq!(
            s.status(),
            "3/3 packets, 0% loss, min/avg/ewma/max = 0.040/0.040/0.040/0.040 ms"
        );
    }

    #[test]
    fn sequence_wraps() {
        let mut s = Stats {
            transmitted: 65_535,
            ..Stats::default()
        };
        s.sent(0);
        assert_eq!(s.reply(0, None, false), Seen::New);
        assert_eq!(s.in_flight(), 0);
        s.sent(1);
        assert_eq!(s.in_flight(), 1);
        assert_eq!(s.reply(1, None, true), Seen::Corrupted);
        assert_eq!(s.corrupted, 1);
    }
}
