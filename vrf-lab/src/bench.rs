//! What every benchmark in `vrf-lab/benches/` does around its measurement: starting in the lab (and not
//! booting it for `cargo test`), reading its knobs from the environment, running a release build of the
//! tool it measures from memory, saying where it ran, and reducing samples to medians.
//!
//! A bench's `main` starts with
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! if !vrf_lab::bench::start("udp_echo")? {
//!     return Ok(());
//! }
//! let rounds: usize = vrf_lab::bench::env_number("VRF_BENCH_ROUNDS", 5, 1..=100)?;
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context as _, Result};

use crate::{TempDir, lab};

/// Puts bench `name` where it can run: returns `Ok(true)` in the lab (natively, or in the VM), where the
/// bench goes on; `Ok(false)` when it was not run as a benchmark; and never returns on the host side of a
/// lab VM, exiting with the VM's code once the whole bench has run in there.
///
/// `cargo test --benches` (and so `cargo test --workspace --all-targets`) runs bench targets too, without
/// the `--bench` argument `cargo bench` passes: a VM boot and a minutes-long measurement have no place
/// there, so the bench prints how to run it and does nothing. Arguments are those of [`requested`].
pub fn start(name: &str) -> Result<bool> {
    if !requested(name) {
        return Ok(false);
    }
    enter_lab()?;
    Ok(true)
}

/// True when this program runs as a benchmark (`cargo bench` passes `--bench`); otherwise prints how to
/// run bench `name` and returns false. The first half of [`start`], for a bench with work to do on the
/// host before the lab boots.
pub fn requested(name: &str) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    eprintln!("{name} is a benchmark: run it with `cargo bench -p vrf-lab --bench {name}`");
    false
}

/// Enters the lab ([`lab::enter`]): returns where the bench can run; on a host that needs the VM, re-runs
/// the whole bench in there and exits with its code. The second half of [`start`].
pub fn enter_lab() -> Result<()> {
    if let Some(code) = lab::enter()? {
        std::process::exit(code);
    }
    Ok(())
}

/// The number in environment variable `var` (a knob such as `VRF_BENCH_SECS`), or `default` when it is
/// not set. A value that does not parse or lies outside `range` is an error naming the variable, rather
/// than a bench quietly measuring something other than what was asked for (or dividing by zero).
///
/// The variables reach the lab VM with the bench: [`lab::run_in_vm`] forwards every `VRF_*`.
pub fn env_number<T>(var: &str, default: T, range: impl RangeBounds<T>) -> Result<T>
where
    T: FromStr + PartialOrd + Display,
{
    let Ok(s) = std::env::var(var) else {
        return Ok(default);
    };
    s.parse()
        .ok()
        .filter(|n| range.contains(n))
        .with_context(|| format!("{var}={s:?} is not a number in {}", interval(&range)))
}

/// How long each measured round lasts: `VRF_BENCH_SECS` (default 3 s, at most 600 s).
pub fn round_duration() -> Result<std::time::Duration> {
    let secs: f64 = env_number(
        "VRF_BENCH_SECS",
        3.0,
        (Bound::Excluded(0.0), Bound::Included(600.0)),
    )?;
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `range` in interval notation: `[1, 100]`, `(0, 600]`, `[1, ∞)`.
fn interval<T: Display>(range: &impl RangeBounds<T>) -> String {
    let start = match range.start_bound() {
        Bound::Included(s) => format!("[{s}"),
        Bound::Excluded(s) => format!("({s}"),
        Bound::Unbounded => "(-∞".to_string(),
    };
    let end = match range.end_bound() {
        Bound::Included(e) => format!("{e}]"),
        Bound::Excluded(e) => format!("{e})"),
        Bound::Unbounded => "∞)".to_string(),
    };
    format!("{start}, {end}")
}

/// The release build of workspace binary `name` (`vrf-ping`, `vrf-curl-lite` …), copied into `dir`; the
/// copy's path.
///
/// The build is the one next to the calling bench (`target/release/deps/BENCH-…` → `target/release/`):
/// benches measure what users run, not the debug builds the lab tests use ([`crate::tool`]). It is
/// copied because in the lab VM `target/` is the host's file system over 9p without caching: every
/// start of a binary from there reads its pages from the host again, which would be measured along
/// with the tool, while its peers (curl, iputils …) start from the guest's page cache. `dir` is in
/// the guest's tmpfs, so both start from memory.
///
/// `scripts/bench.sh` builds every binary before running the benches; a bench run without it fails
/// with this message when the build is missing.
pub fn release_copy(name: &str, dir: &TempDir) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let built = exe
        .ancestors()
        .nth(2)
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .with_context(|| {
            // Bench executables are named `<bench>-<hash>`.
            let file = exe.file_name().unwrap_or_default().to_string_lossy();
            let bench = file.rsplit_once('-').map_or(&*file, |(b, _)| b);
            format!(
                "target/release/{name} is not built: run `scripts/bench.sh {bench}` \
                 (or `cargo build --release --workspace --bins` first)"
            )
        })?;
    let copy = dir.join(name);
    std::fs::copy(&built, &copy)
        .with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

/// Where the numbers come from, for a bench's header: `kernel 6.1.0-56-amd64 (lab VM, 2 CPUs)` (or
/// `native`). The benches' absolute figures depend on it (qemu TCG is many times slower than the host,
/// and CPUs bound what runs in parallel), so a run's output says it alongside them.
pub fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let place = if std::env::var_os(lab::GUEST_ENV).is_some() {
        "lab VM"
    } else {
        "native"
    };
    format!("kernel {} ({place}, {cpus} CPUs)", kernel.trim())
}

/// The median of `xs` (the mean of the middle two for an even count; 0 for none).
///
/// Benches report medians, not means: a lab VM under qemu has stalls (the host's other work, TCG's
/// code cache) that put a few samples far out, and those would move a mean.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The [`median`] of `key` over `samples`: of one figure of samples that record several.
pub fn median_by<T>(samples: &[T], key: impl Fn(&T) -> f64) -> f64 {
    median(&samples.iter().map(key).collect::<Vec<_>>())
}

/// What [`udp_echo_load`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoLoad {
    /// Replies received after the warm-up.
    pub replies: u64,
    /// Times the window ran dry (no reply within the read timeout) and was refilled.
    pub stalls: u64,
}

/// Loads a UDP echo server through `sock`, a socket connected to it whose read timeout says how long a
/// window may go unanswered: keeps `window` datagrams of `payload` bytes in flight (one more sent for
/// each reply; the whole window again when nothing came back in time), for `warmup` and then `secs`, and
/// counts the full-size replies after the warm-up.
pub fn udp_echo_load(
    sock: &std::net::UdpSocket,
    window: usize,
    payload: usize,
    warmup: std::time::Duration,
    secs: std::time::Duration,
) -> std::io::Result<EchoLoad> {
    let data = vec![0x5au8; payload];
    let mut buf = vec![0u8; payload.max(2048)];
    let start = std::time::Instant::now();
    let (counting, end) = (start + warmup, start + warmup + secs);
    let (mut in_flight, mut load) = (0, EchoLoad::default());
    loop {
        while in_flight < window {
            sock.send(&data)?;
            in_flight += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                in_flight -= 1;
                let now = std::time::Instant::now();
                if now >= end {
                    return Ok(load);
                }
                if now >= counting && n == payload {
                    load.replies += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if std::time::Instant::now() >= end {
                    return Ok(load);
                }
                // Late replies after this are taken as part of the new window.
                in_flight = 0;
                load.stalls += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_by(&[(1, 5.0), (2, 1.0), (3, 3.0)], |s| s.1), 3.0);
    }

    #[test]
    fn intervals() {
        assert_eq!(interval(&(1..=100)), "[1, 100]");
        assert_eq!(
            interval(&(Bound::Excluded(0.0), Bound::Included(600.0))),
            "(0, 600]"
        );
    }
}
