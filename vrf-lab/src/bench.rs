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

/// Enters the lab ([`lab::enter_sharing`]): returns where the bench can run; on a host that needs the VM,
/// re-runs the whole bench in there, sharing [`results_dir`] with it writable (for [`save`]), and exits
/// with its code. The second half of [`start`].
pub fn enter_lab() -> Result<()> {
    // Best effort: a bench that saves nothing runs without the share.
    let shared = results_dir().ok().filter(|d| {
        std::env::var_os(lab::GUEST_ENV).is_none() && std::fs::create_dir_all(d).is_ok()
    });
    match lab::enter_sharing(shared.as_deref())? {
        lab::Entered::Here => Ok(()),
        lab::Entered::Vm(exit) => std::process::exit(exit.code()?),
    }
}

/// Where benches save their summaries ([`save`]): `bench-results/` in the target directory of the
/// calling bench (`target/release/deps/BENCH-…` → `target/bench-results/`). In the lab VM it is the
/// host's directory, shared writable by [`enter_lab`].
pub fn results_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let profile = exe
        .ancestors()
        .skip(1)
        .find(|d| d.file_name().is_some_and(|n| n != "deps"))
        .with_context(|| format!("{} is in no target directory", exe.display()))?;
    let target = profile
        .parent()
        .with_context(|| format!("{} has no parent", profile.display()))?;
    Ok(target.join("bench-results"))
}

/// Saves `text`, a bench's summary, as `<results_dir>/<name>-<UTC date and time>.txt` (and as
/// `<name>-latest.txt`, replaced each run); returns the first path. A bench prints the same text: the
/// file keeps it after the terminal is gone, next to the earlier runs.
pub fn save(name: &str, text: &str) -> Result<PathBuf> {
    let dir = results_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = dir.join(format!("{name}-{}.txt", utc_stamp(secs)));
    for p in [&path, &dir.join(format!("{name}-latest.txt"))] {
        std::fs::write(p, text).with_context(|| {
            format!(
                "saving the summary to {} (in the lab VM the directory must be shared: \
                 bench::enter_lab does it)",
                p.display()
            )
        })?;
    }
    Ok(path)
}

/// `secs` since the epoch as `YYYYMMDD-HHMMSSZ` (UTC), for file names that sort by time.
fn utc_stamp(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The release build of vrf-exec as users should install it: the static PIE `scripts/bench.sh` builds
/// (`target/x86_64-unknown-linux-gnu/release/vrf-exec`) when present, else the default, dynamically
/// linked one (`target/release/vrf-exec`); and whether it is the static one.
pub fn vrf_exec_release() -> Result<(PathBuf, bool)> {
    let exe = std::env::current_exe()?;
    // target/release/deps/BENCH-… -> target/
    let target = exe.ancestors().nth(3).context("target dir")?;
    for (p, static_pie) in [
        ("x86_64-unknown-linux-gnu/release/vrf-exec", true),
        ("release/vrf-exec", false),
    ] {
        if target.join(p).is_file() {
            return Ok((target.join(p), static_pie));
        }
    }
    anyhow::bail!(
        "no release build of vrf-exec under {}: run scripts/bench.sh",
        target.display()
    )
}

/// A tmpfs holding copies of programs, so that every contender of a launch bench loads alike: the lab
/// VM reads the host's files over 9p without a cache, and how slowly depends on the path, which would
/// otherwise be measured. Readable and executable by every user. Unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a fresh tmpfs under `/run` and copies each `(name, program)` into it as `name`.
    pub fn with_copies(programs: &[(&str, &std::path::Path)]) -> Result<Tmpfs> {
        let dir = PathBuf::from(format!("/run/vrf-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        crate::cmd::run(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs"])
                .arg(&dir),
        )?
        .ok()?;
        let fs = Tmpfs(dir);
        for (name, src) in programs {
            std::fs::copy(src, fs.path(name))
                .with_context(|| format!("copying {}", src.display()))?;
        }
        Ok(fs)
    }

    /// The path of the copy `name`, as a string for command lines.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = crate::cmd::run(std::process::Command::new("umount").arg(&self.0));
        let _ = std::fs::remove_dir(&self.0);
    }
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

/// One fork+exec+wait of `argv` with no input and its output discarded, timed; an error (with the
/// output of a second, untimed run) unless it exits 0.
pub fn timed_run(argv: &[String]) -> Result<std::time::Duration> {
    use std::process::{Command, Stdio};
    let (program, args) = argv.split_first().context("nothing to run")?;
    let start = std::time::Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("starting {argv:?}"))?;
    let took = start.elapsed();
    if !status.success() {
        let r = crate::cmd::run(Command::new(program).args(args))?;
        anyhow::bail!("{}", r.describe(&format!("failed ({status} when timed)")));
    }
    Ok(took)
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
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000Z");
        assert_eq!(utc_stamp(1_733_097_845), "20241202-000405Z");
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
