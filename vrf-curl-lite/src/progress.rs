//! curl's default progress meter: the table curl writes to stderr while a
//! transfer runs, when the body does not go to a terminal and `-s` is not
//! given.
//!
//! ```text
//!   % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current
//!                                  Dload  Upload   Total   Spent    Left  Speed
//! 100  100M  100  100M    0     0  50.0M      0  0:00:02  0:00:02 --:--:-- 50.0M
//! ```
//!
//! What curl 7.88.1 does, and so what this does:
//!
//! * The two header lines come first; every meter line after them starts with
//!   `\r` (it redraws the line in place) and has no line end; the last one is
//!   followed by `\n`. curl draws its first line, all zeros, as soon as the
//!   transfer starts: call [`Meter::tick`] then to get the same.
//! * A line is drawn at most once per second: when the whole second has
//!   changed since the last line (curl compares wall-clock seconds; this
//!   counts whole seconds since the start), and once more at the end.
//! * The columns: total percent and size, received percent and size, sent
//!   percent and size, average download and upload speed, estimated total
//!   time, time spent, time left, current speed. Sizes and speeds are five
//!   characters wide ([`max5`]), times eight ([`time8`]), percentages three.
//! * Received (sent) percent is 0 unless the download (upload) size is known
//!   and the average speed is above 0. The total size is the known sizes, with
//!   the amount so far standing in for an unknown one, so with an unknown
//!   download size the total percent shows 100 once bytes have come in.
//! * Average speeds are bytes so far divided by the time since the start.
//!   The estimated total time is the larger of "known size / average speed"
//!   for each direction (whole seconds); time left is that minus the whole
//!   seconds spent. A time of zero or less shows as `--:--:--`.
//! * Current speed: each drawn line (and the final one) records the bytes
//!   moved in both directions; the speed is the difference between the
//!   newest record and the oldest of the last six (about five seconds) divided
//!   by the time between them. With only one record it is the sum of the
//!   average speeds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Where a transfer is: bytes so far and, when known, the sizes expected.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Body bytes received so far.
    pub dl_now: u64,
    /// Body bytes to be received, if known (e.g. from `Content-Length`).
    pub dl_total: Option<u64>,
    /// Body bytes sent so far.
    pub ul_now: u64,
    /// Body bytes to be sent, if known.
    pub ul_total: Option<u64>,
}

/// The two header lines, each ending with a newline.
const HEADER: &str = "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n                                 Dload  Upload   Total   Spent    Left  Speed\n";

/// How many records the current speed looks back over: six, for five
/// seconds, as in curl.
const SPEED_RECORDS: usize = 6;

/// The progress meter of one transfer. Pure: time is handed in, text is
/// handed out, and nothing is written anywhere.
#[derive(Debug, Clone)]
pub struct Meter {
    start: Instant,
    header_drawn: bool,
    /// The whole second (since `start`) of the last line drawn.
    last_second: Option<u64>,
    /// (when, bytes down + up) at each line drawn, oldest first.
    records: VecDeque<(Instant, u64)>,
    current_speed: u64,
}

impl Meter {
    /// A meter for a transfer that started at `start`.
    pub fn new(start: Instant) -> Meter {
        Meter {
            start,
            header_drawn: false,
            last_second: None,
            records: VecDeque::with_capacity(SPEED_RECORDS),
            current_speed: 0,
        }
    }

    /// Text to write to stderr now, or `None`: the header lines and a first
    /// line the first time, then a `\r`-led line whenever the whole second
    /// since the start has changed since the last one.
    pub fn tick(&mut self, now: Instant, p: Progress) -> Option<String> {
        let second = self.elapsed(now).as_secs();
        if self.last_second == Some(second) {
            return None;
        }
        self.last_second = Some(second);
        self.record(now, p);
        Some(self.draw(now, p))
    }

    /// The final line (after the header if it was never drawn), ending with
    /// `"\n"`. It is drawn whatever the time of the last one.
    pub fn finish(&mut self, now: Instant, p: Progress) -> String {
        self.last_second = Some(self.elapsed(now).as_secs());
        self.record(now, p);
        let mut text = self.draw(now, p);
        text.push('\n');
        text
    }

    fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// Records the bytes moved so far and works out the current speed.
    fn record(&mut self, now: Instant, p: Progress) {
        if self.records.len() == SPEED_RECORDS {
            self.records.pop_front();
        }
        let moved = p.dl_now.saturating_add(p.ul_now);
        self.records.push_back((now, moved));
        self.current_speed = match self.records.front() {
            Some(&(then, before)) if self.records.len() > 1 => {
                let ms = now.saturating_duration_since(then).as_millis().max(1);
                let bytes = u128::from(moved.saturating_sub(before));
                clamp(bytes * 1000 / ms)
            }
            _ => {
                let us = self.elapsed(now).as_micros();
                average(p.dl_now, us).saturating_add(average(p.ul_now, us))
            }
        };
    }

    /// The header (the first time) and a `\r`-led meter line.
    fn draw(&mut self, now: Instant, p: Progress) -> String {
        let mut text = String::new();
        if !self.header_drawn {
            self.header_drawn = true;
            text.push_str(HEADER);
        }
        text.push('\r');
        text.push_str(&line(p, self.elapsed(now), self.current_speed));
        text
    }
}

fn clamp(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Bytes per second over `us` microseconds, truncated; curl treats no time
/// at all as one microsecond.
fn average(bytes: u64, us: u128) -> u64 {
    clamp(u128::from(bytes) * 1_000_000 / us.max(1))
}

/// curl's percentage: whole percent, worked out so as not to overflow.
fn percent(total: u64, now: u64) -> u64 {
    if total > 10_000 {
        now / (total / 100)
    } else if total > 0 {
        clamp(u128::from(now) * 100 / u128::from(total))
    } else {
        0
    }
}

/// Estimated seconds and percent for one direction: both 0 unless the size
/// is known and the average speed is above 0.
fn estimate(now: u64, total: Option<u64>, speed: u64) -> (u64, u64) {
    match total {
        Some(total) if speed > 0 => (total / speed, percent(total, now)),
        _ => (0, 0),
    }
}

/// One meter line, without the leading `\r`.
fn line(p: Progress, elapsed: Duration, current_speed: u64) -> String {
    let us = elapsed.as_micros();
    let spent = elapsed.as_secs();
    let dl_speed = average(p.dl_now, us);
    let ul_speed = average(p.ul_now, us);
    let (dl_secs, dl_percent) = estimate(p.dl_now, p.dl_total, dl_speed);
    let (ul_secs, ul_percent) = estimate(p.ul_now, p.ul_total, ul_speed);
    let total_secs = dl_secs.max(ul_secs);
    let left = if total_secs > 0 {
        i128::from(total_secs) - i128::from(spent)
    } else {
        0
    };
    let expected = p
        .ul_total
        .unwrap_or(p.ul_now)
        .saturating_add(p.dl_total.unwrap_or(p.dl_now));
    let moved = p.dl_now.saturating_add(p.ul_now);
    format!(
        "{:>3} {}  {:>3} {}  {:>3} {}  {}  {} {} {} {} {}",
        percent(expected, moved),
        max5(expected),
        dl_percent,
        max5(p.dl_now),
        ul_percent,
        max5(p.ul_now),
        max5(dl_speed),
        max5(ul_speed),
        time8(i128::from(total_secs)),
        time8(i128::from(spent)),
        time8(left),
        max5(current_speed),
    )
}

/// A byte count in curl's five columns (units of 1024):
///
/// | bytes             | shown as                     |
/// |-------------------|------------------------------|
/// | below 100000      | the number, `99999`          |
/// | below 10000 KiB   | whole KiB, `1024k`           |
/// | below 100 MiB     | MiB and a tenth, `95.3M`     |
/// | below 10000 MiB   | whole MiB, ` 100M`, `9999M`  |
/// | below 100 GiB     | GiB and a tenth, `97.6G`     |
/// | below 10000 GiB   | whole GiB, `2048G`           |
/// | below 10000 TiB   | whole TiB, `   9T`           |
/// | more              | whole PiB, `   9P`           |
///
/// The tenths are truncated, not rounded (see [`tenths`] for where curl's
/// arithmetic slips), and numbers are right-aligned.
pub fn max5(bytes: u64) -> String {
    const K: u64 = 1024;
    const M: u64 = K * K;
    const G: u64 = K * M;
    const T: u64 = K * G;
    const P: u64 = K * T;
    let s = if bytes < 100_000 {
        format!("{bytes:>5}")
    } else if bytes < 10_000 * K {
        format!("{:>4}k", bytes / K)
    } else if bytes < 100 * M {
        format!("{:>2}.{}M", bytes / M, tenths(bytes % M, M))
    } else if bytes < 10_000 * M {
        format!("{:>4}M", bytes / M)
    } else if bytes < 100 * G {
        format!("{:>2}.{}G", bytes / G, tenths(bytes % G, G))
    } else if bytes < 10_000 * G {
        format!("{:>4}G", bytes / G)
    } else if bytes < 10_000 * T {
        format!("{:>4}T", bytes / T)
    } else if bytes < 10_000 * P {
        format!("{:>4}P", bytes / P)
    } else {
        // Past what curl's signed 64-bit counters reach; keep the width.
        "9999P".to_owned()
    };
    debug_assert_eq!(s.len(), 5);
    s
}

/// The tenths digit of `rest` (below `unit`), worked out as curl does, by
/// dividing by a truncated tenth of the unit. That makes 10 out of the last
/// few bytes of each unit, which curl prints as `10.10` with the unit cut off
/// (seen with 11534335 bytes); here it stops at 9, giving `10.9M`.
fn tenths(rest: u64, unit: u64) -> u64 {
    (rest / (unit / 10)).min(9)
}

/// Seconds in curl's eight columns: `HH:MM:SS` with the hours right-aligned
/// (` 0:00:05`) up to 99 hours, then days and hours (`  4d 15h`), then
/// days alone (`   1000d`); `--:--:--` for zero or less (unknown).
pub fn time8(seconds: i128) -> String {
    if seconds <= 0 {
        return "--:--:--".to_owned();
    }
    let hours = seconds / 3600;
    if hours <= 99 {
        let minutes = (seconds % 3600) / 60;
        format!("{hours:>2}:{minutes:02}:{:02}", seconds % 60)
    } else {
        let days = seconds / 86_400;
        if days <= 999 {
            format!("{days:>3}d {:02}h", (seconds % 86_400) / 3600)
        } else {
            // Wider than eight for absurd times, as in curl before it cuts.
            format!("{days:>7}d")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    /// The line curl draws before anything is known.
    const ZERO: &str =
        "  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0";

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn dl(now: u64, total: Option<u64>) -> Progress {
        Progress {
            dl_now: now,
            dl_total: total,
            ..Progress::default()
        }
    }

    #[test]
    fn header_is_curls() {
        assert_eq!(
            HEADER,
            concat!(
                "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n",
                "                                 Dload  Upload   Total   Spent    Left  Speed\n"
            )
        );
        // The header's first line is 79 wide, meter lines 78, as in curl.
        assert_eq!(HEADER.lines().next().unwrap().len(), 79);
        assert_eq!(ZERO.len(), 78);
    }

    #[test]
    fn max5_units() {
        let cases: &[(u64, &str)] = &[
            (0, "    0"),
            (6, "    6"),
            (60_000, "60000"),
            (99_999, "99999"),
            (100_000, "  97k"),
            (300_000, " 292k"),
            (1024 * 1024, "1024k"),
            (10_000 * 1024 - 1, "9999k"),
            (10_000 * 1024, " 9.7M"),
            (18_000_000, "17.1M"),
            // curl 7.88.1 drew both of these sizes: "10.9M" and "10.10".
            (11_534_329, "10.9M"),
            (11_534_335, "10.9M"),
            // The first byte where curl's tenths digit is 1.
            (10 * MIB + 104_857, "10.1M"),
            (10 * MIB + 104_856, "10.0M"),
            (50 * MIB, "50.0M"),
            (100 * MIB - 1, "99.9M"),
            (100 * MIB, " 100M"),
            (1801460649, "1718M"),
            (10_000 * MIB - 1, "9999M"),
            (10_000 * MIB, " 9.7G"),
            (100 * 1024 * MIB - 1, "99.9G"),
            (100 * 1024 * MIB, " 100G"),
            (10_000 * 1024 * MIB, "   9T"),
            (10_000 * 1024 * 1024 * MIB, "   9P"),
            (u64::MAX, "9999P"),
        ];
        for &(bytes, want) in cases {
            assert_eq!(max5(bytes), want, "{bytes} bytes");
        }
    }

    #[test]
    fn time8_forms() {
        let cases: &[(i128, &str)] = &[
            (-5, "--:--:--"),
            (0, "--:--:--"),
            (1, " 0:00:01"),
            (59, " 0:00:59"),
            (61, " 0:01:01"),
            (3599, " 0:59:59"),
            (5 * 3600, " 5:00:00"),
            (99 * 3600 + 59 * 60 + 59, "99:59:59"),
            (100 * 3600, "  4d 04h"),
            (400_000, "  4d 15h"),
            (999 * 86_400 + 23 * 3600, "999d 23h"),
            (1000 * 86_400, "   1000d"),
        ];
        for &(s, want) in cases {
            assert_eq!(time8(s), want, "{s} s");
        }
    }

    /// Lines curl 7.88.1 drew against a local server, rebuilt from the
    /// numbers behind them (bytes, microseconds spent, current speed).
    #[test]
    fn lines_real_curl_drew() {
        // 100 MiB in about 58 ms.
        assert_eq!(
            line(
                dl(100 * MIB, Some(100 * MIB)),
                Duration::from_micros(58_207),
                1_807_745_024
            ),
            "100  100M  100  100M    0     0  1718M      0 --:--:-- --:--:-- --:--:-- 1724M"
        );
        // 60000 of 300000 bytes at about 116 KiB/s, half a second in.
        assert_eq!(
            line(
                dl(60_000, Some(300_000)),
                Duration::from_micros(504_201),
                119_000
            ),
            " 20  292k   20 60000    0     0   116k      0  0:00:02 --:--:--  0:00:02  116k"
        );
        // Size unknown: the total column follows what came in.
        assert_eq!(
            line(dl(250_000, None), Duration::from_micros(2_511_628), 99_522),
            "100  244k    0  244k    0     0  99537      0 --:--:--  0:00:02 --:--:-- 99522"
        );
        // A 6-byte body.
        assert_eq!(
            line(dl(6, Some(6)), Duration::from_micros(1_134), 6_000),
            "100     6  100     6    0     0   5291      0 --:--:-- --:--:-- --:--:--  6000"
        );
        // A 3000000-byte upload at 1 MiB/s answered with 5 bytes: the slow
        // download sets the estimate.
        let up = Progress {
            dl_now: 5,
            dl_total: Some(5),
            ul_now: 3_000_000,
            ul_total: Some(3_000_000),
        };
        assert_eq!(
            line(up, Duration::from_micros(2_859_866), 1_049_000),
            "100 2929k  100     5  100 2929k      1  1024k  0:00:05  0:00:02  0:00:03 1024k"
        );
        // Nothing known yet.
        assert_eq!(line(Progress::default(), Duration::ZERO, 0), ZERO);
    }

    #[test]
    fn hundred_mib_in_two_seconds() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        let total = Some(100 * MIB);
        assert_eq!(
            m.tick(t0, dl(0, total)).unwrap(),
            format!(
                "{HEADER}\r  0  100M    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
            )
        );
        // Not again within the same second.
        assert_eq!(m.tick(t0 + secs(0.5), dl(25 * MIB, total)), None);
        assert_eq!(m.tick(t0 + secs(0.999), dl(49 * MIB, total)), None);
        assert_eq!(
            m.tick(t0 + secs(1.0), dl(50 * MIB, total)).unwrap(),
            "\r 50  100M   50 50.0M    0     0  50.0M      0  0:00:02  0:00:01  0:00:01 50.0M"
        );
        assert_eq!(m.tick(t0 + secs(1.5), dl(75 * MIB, total)), None);
        assert_eq!(
            m.finish(t0 + secs(2.0), dl(100 * MIB, total)),
            "\r100  100M  100  100M    0     0  50.0M      0  0:00:02  0:00:02 --:--:-- 50.0M\n"
        );
    }

    #[test]
    fn fast_transfer_like_the_brief() {
        // 100 MiB in 0.63 s: nothing to show for time, all in one go.
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        let first = m.tick(t0, Progress::default()).unwrap();
        assert_eq!(first, format!("{HEADER}\r{ZERO}"));
        assert_eq!(
            m.finish(t0 + secs(0.63), dl(100 * MIB, Some(100 * MIB))),
            "\r100  100M  100  100M    0     0   158M      0 --:--:-- --:--:-- --:--:--  158M\n"
        );
    }

    #[test]
    fn unknown_total() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.tick(t0, Progress::default()).unwrap();
        assert_eq!(
            m.tick(t0 + secs(1.0), dl(70_000, None)).unwrap(),
            "\r100 70000    0 70000    0     0  70000      0 --:--:--  0:00:01 --:--:-- 70000"
        );
        assert_eq!(
            m.finish(t0 + secs(2.0), dl(140_000, None)),
            "\r100  136k    0  136k    0     0  70000      0 --:--:--  0:00:02 --:--:-- 70000\n"
        );
    }

    #[test]
    fn five_hour_eta() {
        // 1000 bytes a second of 18 MB: 5 hours in all.
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.tick(t0, dl(0, Some(18_000_000))).unwrap();
        assert_eq!(
            m.tick(t0 + secs(1.0), dl(1000, Some(18_000_000))).unwrap(),
            "\r  0 17.1M    0  1000    0     0   1000      0  5:00:00  0:00:01  4:59:59  1000"
        );
        // At 3600 s, 3600000 bytes: 20 percent, 4 hours to go.
        assert_eq!(
            m.tick(t0 + secs(3600.0), dl(3_600_000, Some(18_000_000)))
                .unwrap(),
            "\r 20 17.1M   20 3515k    0     0   1000      0  5:00:00  1:00:00  4:00:00  1000"
        );
    }

    #[test]
    fn days_eta() {
        // 10 bytes a second of 4000000 bytes: 400000 s, over 99 hours.
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        m.tick(t0, dl(0, Some(4_000_000))).unwrap();
        assert_eq!(
            m.tick(t0 + secs(2.0), dl(20, Some(4_000_000))).unwrap(),
            "\r  0 3906k    0    20    0     0     10      0   4d 15h  0:00:02   4d 15h    10"
        );
    }

    #[test]
    fn zero_bytes() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        // Never ticked: the header comes with the final line.
        assert_eq!(
            m.finish(t0 + secs(0.01), dl(0, Some(0))),
            format!("{HEADER}\r{ZERO}\n")
        );
        // And with no size at all, as for a 204.
        let mut m = Meter::new(t0);
        assert_eq!(
            m.tick(t0, Progress::default()).unwrap(),
            format!("{HEADER}\r{ZERO}")
        );
        assert_eq!(
            m.finish(t0 + secs(0.001), Progress::default()),
            format!("\r{ZERO}\n")
        );
    }

    #[test]
    fn header_only_once() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        assert!(m.tick(t0, Progress::default()).unwrap().starts_with(HEADER));
        let next = m.tick(t0 + secs(1.0), Progress::default()).unwrap();
        assert!(next.starts_with('\r') && !next.contains('\n'));
        let last = m.finish(t0 + secs(1.2), Progress::default());
        assert!(last.starts_with('\r') && last.ends_with('\n'));
        assert_eq!(last.matches('\n').count(), 1);
    }

    #[test]
    fn current_speed_looks_back_five_seconds() {
        // 10 KB/s for 5 s, then the server stalls.
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        let total = Some(1_000_000);
        m.tick(t0, dl(0, total)).unwrap();
        for s in 1..=5u32 {
            m.tick(t0 + secs(f64::from(s)), dl(u64::from(s) * 10_000, total))
                .unwrap();
        }
        assert_eq!(m.current_speed, 10_000);
        // One second of nothing: the last five seconds held 40000 bytes.
        m.tick(t0 + secs(6.0), dl(50_000, total)).unwrap();
        assert_eq!(m.current_speed, 8_000);
        for s in 7..=10u32 {
            m.tick(t0 + secs(f64::from(s)), dl(50_000, total)).unwrap();
        }
        assert_eq!(m.current_speed, 0);
        let line = m.tick(t0 + secs(11.0), dl(50_000, total)).unwrap();
        // Average 4545 B/s, 220 s in all, current 0.
        assert_eq!(
            line,
            "\r  5  976k    5 50000    0     0   4545      0  0:03:40  0:00:11  0:03:29     0"
        );
    }

    #[test]
    fn first_record_uses_the_average() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        // First line drawn late: current is the average of both directions.
        let p = Progress {
            dl_now: 3000,
            dl_total: None,
            ul_now: 1000,
            ul_total: None,
        };
        let text = m.tick(t0 + secs(2.0), p).unwrap();
        assert_eq!(m.current_speed, 2000);
        assert!(text.ends_with("  2000"), "{text:?}");
    }

    #[test]
    fn time_before_start_is_zero() {
        let t0 = Instant::now() + secs(10.0);
        let mut m = Meter::new(t0);
        assert_eq!(
            m.tick(Instant::now(), Progress::default()).unwrap(),
            format!("{HEADER}\r{ZERO}")
        );
    }

    #[test]
    fn percent_rules() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(6, 6), 100);
        assert_eq!(percent(10_000, 9_999), 99);
        // Over 10000 the total is cut to hundredths first, as in curl.
        assert_eq!(percent(300_000, 60_000), 20);
        assert_eq!(percent(10_099, 10_098), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
        assert_eq!(percent(3, u64::MAX), u64::MAX);
    }
}
