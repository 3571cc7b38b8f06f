//! A `cargo test` harness for lab tests: the same test binary runs natively when the host kernel can, and
//! otherwise re-runs itself inside one VM boot (see [`crate::lab`]). Listing and runs where the filter
//! leaves no test never boot anything.
//!
//! When the lab cannot start, every selected test **fails** with the reason and the fix: lab tests never
//! skip.
//!
//! Each test runs within a time bound ([`DEFAULT_TIMEOUT`], or its own: `#[timeout(SECS)]` in
//! [`lab_tests!`](crate::lab_tests); `VRF_LAB_TEST_TIMEOUT` changes the default and
//! `VRF_LAB_TIME_SCALE` stretches every bound). A test still running at its bound fails, naming the
//! bound, and the others go on: it runs on a thread of its own, which is left behind (a thread cannot be
//! killed) and ends with the process, which does not wait for it.
//!
//! In the VM, each test's result is also written, as it finishes, to a file the host shares with the
//! guest (see `results.rs`). When the VM run ends without reporting every selected test, killed at
//! `VRF_LAB_TIMEOUT` or dead, the host reports all of them again: those that finished with their
//! result, the others failed with the reason the run ended.
//!
//! A lab test is a function that returns `anyhow::Result<()>`. Each module of a suite registers its
//! tests once with [`lab_tests!`](crate::lab_tests), which makes the module's `TESTS`; the suite's
//! `main` hands every module's `TESTS` to [`main`]:
//!
//! ```no_run
//! mod basics {
//!     use anyhow::Result;
//!
//!     vrf_lab::lab_tests! {
//!         vrfs_exist_and_are_up,
//!         ping_v4 = || ping("10.99.0.2"),
//!         ping_v6 = || ping("fd00:99::2"),
//!     }
//!
//!     fn vrfs_exist_and_are_up() -> Result<()> {
//!         Ok(())
//!     }
//!
//!     fn ping(_peer: &str) -> Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     vrf_lab::harness::main(&[basics::TESTS].concat())
//! }
//! ```
//!
//! Each test is named `<module>::<test>` (`basics::vrfs_exist_and_are_up`, `basics::ping_v4` …), so
//! `cargo test -- basics::` selects a module's tests.
//!
//! `VRF_LAB_SELF_TEST=1` adds the harness's own tests (`harness_self_test::…`: one passes, one fails,
//! one panics, one outlives its bound of 1 s, and one sleeps 300 s within its bound, to outlive a short
//! VM timeout), to check the harness end to end: `VRF_LAB_SELF_TEST=1 VRF_LAB_TIMEOUT=240 cargo test -p
//! vrf-lab --test suite -- harness_self_test::` must report the first four with their own results and
//! the last as unfinished, naming the VM's timeout.

use std::any::Any;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};

use crate::lab::{self, Entered, VmExit};
use crate::results::{self, Finished, Outcome, Recorder};

/// A lab test: a function that runs on a kernel with VRF support, as root, and where it is defined.
/// Made by [`lab_tests!`](crate::lab_tests).
#[derive(Debug, Clone, Copy)]
pub struct LabTest {
    /// The module path and the identifier of the test: `suite::basics::vrfs_exist_and_are_up`.
    pub path: &'static str,
    /// The test.
    pub run: fn() -> anyhow::Result<()>,
    /// Its own time bound (`#[timeout(SECS)]`), for a test that legitimately needs more than
    /// [`DEFAULT_TIMEOUT`]; `None` for the default. `VRF_LAB_TIME_SCALE` stretches either.
    pub timeout: Option<Duration>,
}

impl LabTest {
    /// The test's name, `<module>::<test>`: the last segment of the module path and the test's
    /// identifier (`basics::vrfs_exist_and_are_up`). `cargo test` filters match it.
    pub fn name(&self) -> &'static str {
        let test = self.path.rfind("::").unwrap_or(0);
        let module = self.path[..test].rfind("::").map_or(0, |i| i + 2);
        &self.path[module..]
    }
}

/// Registers the lab tests of a module: expands to `pub const TESTS: &[LabTest]`, in the order given,
/// each named after its identifier in the module (see [`LabTest::name`]), so a test's name is written
/// once. An identifier alone is the function of that name; `name = expr` names `expr`, a function or a
/// closure that captures nothing (one test function run with different arguments). `#[timeout(SECS)]`
/// in front gives a test that legitimately needs more than [`DEFAULT_TIMEOUT`] a bound of its own:
///
/// ```
/// mod sockets {
///     vrf_lab::lab_tests! {
///         lookup,
///         tcp_v4 = || tcp(4),
///         #[timeout(300)]
///         tcp_v6 = || tcp(6),
///     }
///     fn lookup() -> anyhow::Result<()> {
///         Ok(())
///     }
///     fn tcp(_family: u8) -> anyhow::Result<()> {
///         Ok(())
///     }
/// }
///
/// let names: Vec<_> = sockets::TESTS.iter().map(|t| t.name()).collect();
/// assert_eq!(names, ["sockets::lookup", "sockets::tcp_v4", "sockets::tcp_v6"]);
/// assert_eq!(sockets::TESTS[2].timeout, Some(std::time::Duration::from_secs(300)));
/// ```
///
/// The module documentation of [`harness`](crate::harness) shows a whole suite.
#[macro_export]
macro_rules! lab_tests {
    ($($(#[timeout($secs:expr)])? $name:ident $(= $run:expr)?),* $(,)?) => {
        /// The lab tests of this module, registered with `vrf_lab::lab_tests!`.
        pub const TESTS: &[$crate::harness::LabTest] = &[$(
            $crate::harness::LabTest {
                path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
                run: $crate::lab_tests!(@run $name $(= $run)?),
                timeout: $crate::lab_tests!(@timeout $($secs)?),
            },
        )*];
    };
    (@run $name:ident) => { $name };
    (@run $name:ident = $run:expr) => { $run };
    (@timeout) => { ::core::option::Option::None };
    (@timeout $secs:expr) => {
        ::core::option::Option::Some(::core::time::Duration::from_secs($secs))
    };
}

/// The time bound of a test without one of its own (`VRF_LAB_TEST_TIMEOUT` seconds changes it), before
/// `VRF_LAB_TIME_SCALE`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the time bounds of a run come from: the default, and the factor for slow machines.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    default: Duration,
    scale: f64,
}

impl Bounds {
    /// `VRF_LAB_TEST_TIMEOUT` (seconds) and `VRF_LAB_TIME_SCALE`.
    fn from_env() -> Result<Bounds> {
        let default = match std::env::var("VRF_LAB_TEST_TIMEOUT")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(v) => v
                .parse()
                .ok()
                .filter(|&s| s > 0)
                .map(Duration::from_secs)
                .with_context(|| {
                    format!("VRF_LAB_TEST_TIMEOUT={v:?} is not a positive number of seconds")
                })?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(Bounds {
            default,
            scale: lab::time_scale()?,
        })
    }

    /// The bound of `test`, and how to say where it comes from.
    fn of(&self, test: &LabTest) -> Bound {
        let (base, origin) = match test.timeout {
            Some(own) => (own, format!("its own, {} s", own.as_secs())),
            None => (
                self.default,
                format!(
                    "the default, {} s, VRF_LAB_TEST_TIMEOUT",
                    self.default.as_secs()
                ),
            ),
        };
        let origin = if self.scale == 1.0 {
            origin
        } else {
            format!("{origin}, × VRF_LAB_TIME_SCALE={}", self.scale)
        };
        Bound {
            limit: base.mul_f64(self.scale),
            origin,
        }
    }
}

/// A test's time bound.
#[derive(Debug, Clone)]
struct Bound {
    limit: Duration,
    origin: String,
}

impl Bound {
    /// Why a test still running at its bound failed.
    fn exceeded(&self) -> String {
        format!(
            "timed out: still running at its time bound of {:.0} s ({}); it was left behind and the \
             other tests went on (a slow machine can stretch every bound with VRF_LAB_TIME_SCALE)",
            self.limit.as_secs_f64(),
            self.origin
        )
    }
}

/// Runs `tests` under libtest's command line (`cargo test -- --list`, filters, `--test-threads` …).
pub fn main(tests: &[LabTest]) -> ExitCode {
    let args = Arguments::from_args();
    let mut tests = tests.to_vec();
    if std::env::var_os("VRF_LAB_SELF_TEST").is_some_and(|v| v == "1") {
        tests.extend_from_slice(harness_self_test::TESTS);
    }
    let selected = selected(&args, &tests);
    if args.list || selected.is_empty() {
        let names = tests
            .iter()
            .map(|t| Trial::test(t.name(), || Ok(())))
            .collect();
        return libtest_mimic::run(&args, names).exit_code();
    }
    // On the host side of a VM run, the directory the guest writes its results to.
    let shared = match std::env::var_os(lab::GUEST_ENV) {
        Some(_) => None,
        None => match crate::TempDir::new("vrf-lab-run") {
            Ok(d) => Some(d),
            Err(e) => return run_failing(&args, &tests, &format!("{e:#}"), None),
        },
    };
    let bounds = match Bounds::from_env() {
        Ok(b) => b,
        Err(e) => return run_failing(&args, &tests, &format!("{e:#}"), None),
    };
    match lab::enter_sharing(shared.as_ref().map(|d| d.path())) {
        Ok(Entered::Here) => run_here(&args, &tests, bounds),
        Ok(Entered::Vm(exit)) => {
            let dir = shared.as_ref().map(|d| d.path());
            let finished = match dir.map(results::read).transpose() {
                Ok(f) => f.unwrap_or_default(),
                Err(e) => {
                    eprintln!("vrf-lab: {e:#}");
                    Vec::new()
                }
            };
            report_vm_run(&args, &selected, &finished, exit)
        }
        Err(e) => {
            let why = format!("the kernel lab cannot start: {e:#}");
            run_failing(&args, &tests, &why, recorder().ok().flatten())
        }
    }
}

/// The names of the tests that `args` selects (filters, `--skip`, `--exact`, `--ignored`).
fn selected(args: &Arguments, tests: &[LabTest]) -> Vec<&'static str> {
    tests
        .iter()
        .map(LabTest::name)
        .filter(|&name| {
            let t = Trial::test(name, || Ok(()));
            !args.is_filtered_out(&t) && !args.is_ignored(&t)
        })
        .collect()
}

/// In the guest of a VM run whose host shares a directory, the recorder of each test's result there.
fn recorder() -> Result<Option<Arc<Recorder>>> {
    match std::env::var_os(lab::SHARED_ENV) {
        Some(dir) => Ok(Some(Arc::new(Recorder::open(dir.as_ref())?))),
        None => Ok(None),
    }
}

/// Runs the tests here (natively or in the guest), each within its bound, recording each result.
fn run_here(args: &Arguments, tests: &[LabTest], bounds: Bounds) -> ExitCode {
    let recorder = match recorder() {
        Ok(r) => r,
        Err(e) => {
            let why = format!("the results cannot be passed to the host: {e:#}");
            return run_failing(args, tests, &why, None);
        }
    };
    let trials = in_starting_order(tests)
        .into_iter()
        .map(|t| {
            let bound = bounds.of(&t);
            let recorder = recorder.clone();
            Trial::test(t.name(), move || {
                let start = Instant::now();
                let outcome = run_bounded(t, &bound);
                let secs = start.elapsed().as_secs_f64();
                // Where a slow suite spends its time.
                eprintln!("{} took {secs:.1} s", t.name());
                record(recorder.as_deref(), t.name(), secs, outcome)
            })
        })
        .collect();
    let mut args = args.clone();
    if args.test_threads.is_none() && std::env::var_os(lab::GUEST_ENV).is_some() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        args.test_threads = Some(guest_test_threads(cpus));
        eprintln!(
            "vrf-lab: {} tests at a time on {cpus} CPUs (--test-threads N to change)",
            guest_test_threads(cpus)
        );
    }
    let cpu_before = CpuTimes::now();
    let code = libtest_mimic::run(&args, trials).exit_code();
    if let (Some(before), Some(after)) = (cpu_before, CpuTimes::now()) {
        // Whether more test threads could have used idle CPUs (`--test-threads`).
        eprintln!(
            "vrf-lab: the CPUs were busy {:.0}% of the run",
            after.busy_share_since(&before) * 100.0
        );
    }
    code
}

/// How many tests run at once in the lab VM when `--test-threads` does not say: one more than its CPUs.
/// Most tests spend much of their time waiting (ping intervals, neighbour lookups that fail after 3 s,
/// timeouts, servers starting), which one test thread per CPU left idle (a third of the CPU time of a
/// 2-CPU run); one more thread fills it without making the CPU-bound tests crowd each other much.
fn guest_test_threads(cpus: usize) -> usize {
    cpus + 1
}

/// `tests` in the order they start: those with a bound of their own (the slow ones), longest first, so
/// that no long test starts last and runs alone at the end; the others in their order.
fn in_starting_order(tests: &[LabTest]) -> Vec<LabTest> {
    let mut order = tests.to_vec();
    order.sort_by_key(|t| std::cmp::Reverse(t.timeout.unwrap_or_default()));
    order
}

/// The machine's CPU time so far, from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    total: u64,
    idle: u64,
}

impl CpuTimes {
    fn now() -> Option<CpuTimes> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal …`.
    fn parse(stat: &str) -> Option<CpuTimes> {
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some(CpuTimes {
            total: fields.iter().sum(),
            idle: fields.get(3)? + fields.get(4).copied().unwrap_or(0),
        })
    }

    /// The share of the CPU time since `before` that was not idle, 0 to 1.
    fn busy_share_since(&self, before: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(before.total);
        let idle = self.idle.saturating_sub(before.idle);
        if total == 0 {
            return 0.0;
        }
        (total - idle.min(total)) as f64 / total as f64
    }
}

/// Fails every test with `why` (recording it, in the guest), the lab being unable to run them.
fn run_failing(
    args: &Arguments,
    tests: &[LabTest],
    why: &str,
    recorder: Option<Arc<Recorder>>,
) -> ExitCode {
    let trials = tests
        .iter()
        .map(|t| {
            let (name, why, recorder) = (t.name(), why.to_string(), recorder.clone());
            Trial::test(name, move || {
                record(recorder.as_deref(), name, 0.0, Outcome::Failed(why))
            })
        })
        .collect();
    libtest_mimic::run(args, trials).exit_code()
}

/// Records how test `name` ended, if there is a recorder, and hands the result to libtest-mimic.
fn record(
    recorder: Option<&Recorder>,
    name: &str,
    secs: f64,
    outcome: Outcome,
) -> Result<(), Failed> {
    if let Some(r) = recorder {
        let finished = Finished {
            name: name.to_string(),
            secs,
            outcome: outcome.clone(),
        };
        if let Err(e) = r.record(&finished) {
            eprintln!("vrf-lab: {e:#}: the host will report {name} as unfinished");
        }
    }
    match outcome {
        Outcome::Passed => Ok(()),
        Outcome::Failed(why) => Err(why.into()),
    }
}

/// Runs `test` on a thread of its own and waits for it until its bound. A test still running then
/// fails; its thread is left behind, and ends with the process.
fn run_bounded(test: LabTest, bound: &Bound) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(test.name().to_string())
        .spawn(move || {
            let _ = tx.send((test.run)());
        });
    let thread = match spawned {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("cannot start a thread for the test: {e}")),
    };
    match rx.recv_timeout(bound.limit) {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(e)) => Outcome::Failed(format!("{e:#}")),
        Err(RecvTimeoutError::Timeout) => Outcome::Failed(bound.exceeded()),
        // The thread ended without sending: it panicked.
        Err(RecvTimeoutError::Disconnected) => Outcome::Failed(match thread.join() {
            Err(payload) => format!("test panicked: {}", panic_message(payload.as_ref())),
            Ok(()) => "test ended without a result".to_string(),
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(not a string)")
}

/// On the host, after a VM run: when it reported every selected test, its exit code stands (the guest's
/// own report went by); otherwise every selected test is reported here again, those that finished with
/// their result and the rest failed with the reason the run ended.
fn report_vm_run(
    args: &Arguments,
    selected: &[&str],
    finished: &[Finished],
    exit: VmExit,
) -> ExitCode {
    let Some(outcomes) = vm_outcomes(selected, finished, exit) else {
        let VmExit::Exited(code) = exit else {
            unreachable!("a killed VM reported nothing complete")
        };
        return ExitCode::from(u8::try_from(code).unwrap_or(101));
    };
    let done = selected.len() - outcomes.iter().filter(|(_, _, d)| !d).count();
    eprintln!(
        "vrf-lab: {exit}; {done} of the {} selected tests finished in it. The result of each:",
        selected.len()
    );
    let trials = outcomes
        .into_iter()
        .map(|(name, outcome, _)| {
            Trial::test(name, move || match outcome {
                Outcome::Passed => Ok(()),
                Outcome::Failed(why) => Err(why.into()),
            })
        })
        .collect();
    // In the order of the suite.
    let mut replay = args.clone();
    replay.test_threads = Some(1);
    libtest_mimic::run(&replay, trials).exit_code()
}

/// `None` when the VM exited after reporting every selected test; otherwise each selected test, its
/// result (the recorded one, or a failure naming why the run ended) and whether it finished.
fn vm_outcomes(
    selected: &[&str],
    finished: &[Finished],
    exit: VmExit,
) -> Option<Vec<(String, Outcome, bool)>> {
    let reported = |name: &str| finished.iter().any(|f| f.name == name);
    if matches!(exit, VmExit::Exited(_)) && selected.iter().all(|n| reported(n)) {
        return None;
    }
    let reason = match exit {
        VmExit::Exited(code) => format!(
            "the lab VM exited with status {code} before this test finished (set VRF_LAB_VERBOSE=1 \
             to see the guest console)"
        ),
        VmExit::Killed(after) => format!(
            "the lab VM was killed at its timeout of {} s before this test finished (raise \
             VRF_LAB_TIMEOUT or VRF_LAB_TIME_SCALE)",
            after.as_secs()
        ),
    };
    let merged = results::merge(selected, finished, &reason);
    Some(
        merged
            .into_iter()
            .map(|(name, outcome)| {
                let done = reported(&name);
                (name, outcome, done)
            })
            .collect(),
    )
}

/// The harness's own tests, added to a suite by `VRF_LAB_SELF_TEST=1`.
mod harness_self_test {
    use std::time::Duration;

    crate::lab_tests! {
        passes,
        fails,
        panics,
        #[timeout(1)]
        outlives_its_bound,
        #[timeout(600)]
        outlives_the_vm,
    }

    fn passes() -> anyhow::Result<()> {
        Ok(())
    }

    fn fails() -> anyhow::Result<()> {
        anyhow::bail!("failed on purpose")
    }

    fn panics() -> anyhow::Result<()> {
        panic!("panicked on purpose")
    }

    /// Would pass if its bound of 1 s were not enforced.
    fn outlives_its_bound() -> anyhow::Result<()> {
        // Far longer than the self-test's run may take on a busy machine, so that waiting for it shows.
        std::thread::sleep(Duration::from_secs(600));
        Ok(())
    }

    /// Still running, within its bound, when a VM with `VRF_LAB_TIMEOUT` under 300 s is killed.
    fn outlives_the_vm() -> anyhow::Result<()> {
        std::thread::sleep(Duration::from_secs(300));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab_test(run: fn() -> anyhow::Result<()>) -> LabTest {
        LabTest {
            path: "suite::m::t",
            run,
            timeout: None,
        }
    }

    fn bound(limit: Duration) -> Bound {
        Bound {
            limit,
            origin: "its own, 0 s".into(),
        }
    }

    #[test]
    fn a_bounded_test_passes_fails_panics_or_times_out() {
        let b = bound(Duration::from_secs(30));
        assert_eq!(run_bounded(lab_test(|| Ok(())), &b), Outcome::Passed);
        assert_eq!(
            run_bounded(lab_test(|| anyhow::bail!("no")), &b),
            Outcome::Failed("no".into())
        );
        assert_eq!(
            run_bounded(lab_test(|| panic!("oh")), &b),
            Outcome::Failed("test panicked: oh".into())
        );
        let start = Instant::now();
        let sleeper = lab_test(|| {
            std::thread::sleep(Duration::from_secs(20));
            Ok(())
        });
        let Outcome::Failed(why) = run_bounded(sleeper, &bound(Duration::from_millis(200))) else {
            panic!("a test past its bound passed");
        };
        assert!(start.elapsed() < Duration::from_secs(10), "waited for it");
        assert!(why.starts_with("timed out: still running at its time bound of 0 s (its own"));
    }

    #[test]
    fn slow_tests_start_first_the_rest_in_order() {
        let with = |path, secs: Option<u64>| LabTest {
            path,
            run: || Ok(()),
            timeout: secs.map(Duration::from_secs),
        };
        let tests = [
            with("s::m::a", None),
            with("s::m::slow", Some(300)),
            with("s::m::b", None),
            with("s::m::slower", Some(600)),
            with("s::m::c", None),
        ];
        let names: Vec<_> = in_starting_order(&tests)
            .iter()
            .map(LabTest::name)
            .collect();
        assert_eq!(names, ["m::slower", "m::slow", "m::a", "m::b", "m::c"]);
    }

    #[test]
    fn the_guest_runs_one_test_more_than_it_has_cpus() {
        assert_eq!(guest_test_threads(2), 3);
        assert_eq!(guest_test_threads(1), 2);
    }

    #[test]
    fn cpu_busy_share_from_proc_stat() {
        let before = CpuTimes::parse("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let after = CpuTimes::parse("cpu  250 0 250 800 100 0 0 0 0 0\n").unwrap();
        assert!((after.busy_share_since(&before) - 0.75).abs() < 1e-9);
        assert!(CpuTimes::parse("intr 1 2 3\n").is_none());
    }

    #[test]
    fn bounds_name_where_they_come_from() {
        let own = LabTest {
            timeout: Some(Duration::from_secs(300)),
            ..lab_test(|| Ok(()))
        };
        let plain = Bounds {
            default: DEFAULT_TIMEOUT,
            scale: 1.0,
        };
        let b = plain.of(&lab_test(|| Ok(())));
        assert_eq!(b.limit, Duration::from_secs(300));
        assert!(
            b.exceeded()
                .contains("time bound of 300 s (the default, 300 s, VRF_LAB_TEST_TIMEOUT)"),
            "{}",
            b.exceeded()
        );
        let slow = Bounds {
            default: Duration::from_secs(60),
            scale: 2.5,
        };
        let b = slow.of(&own);
        assert_eq!(b.limit, Duration::from_secs(750));
        assert!(
            b.exceeded()
                .contains("bound of 750 s (its own, 300 s, × VRF_LAB_TIME_SCALE=2.5)"),
            "{}",
            b.exceeded()
        );
    }

    #[test]
    fn a_vm_run_is_reported_again_only_when_tests_are_missing() {
        let done = |name: &str, outcome| Finished {
            name: name.into(),
            secs: 1.0,
            outcome,
        };
        let finished = [
            done("m::a", Outcome::Passed),
            done("m::b", Outcome::Failed("boom".into())),
        ];
        assert_eq!(
            vm_outcomes(&["m::a", "m::b"], &finished, VmExit::Exited(101)),
            None
        );
        let killed = vm_outcomes(
            &["m::a", "m::b", "m::c"],
            &finished,
            VmExit::Killed(Duration::from_secs(1500)),
        )
        .unwrap();
        assert_eq!(killed[0], ("m::a".into(), Outcome::Passed, true));
        assert_eq!(
            killed[1],
            ("m::b".into(), Outcome::Failed("boom".into()), true)
        );
        let (name, Outcome::Failed(why), false) = &killed[2] else {
            panic!("{killed:?}");
        };
        assert_eq!(name, "m::c");
        assert!(
            why.starts_with(
                "did not finish: the lab VM was killed at its timeout of 1500 s before this test"
            ),
            "{why}"
        );
        // The guest died (a kernel panic …) with every test finished but one.
        let died = vm_outcomes(&["m::a", "m::c"], &finished, VmExit::Exited(1)).unwrap();
        assert!(
            matches!(&died[1], (_, Outcome::Failed(why), false)
                if why.contains("the lab VM exited with status 1 before this test finished")),
            "{died:?}"
        );
    }

    /// The host side of a VM run, with a stand-in for `vng` that runs the guest's command line on this
    /// machine: the guest records a result in the shared directory, then hangs until the VM is killed.
    #[test]
    fn results_written_before_the_vm_is_killed_survive_it() {
        let dir = crate::TempDir::new("vrf-lab-fake-vm").unwrap();
        let vng = dir
            .file(
                "vng",
                "#!/bin/sh\n\
                 while [ $# -gt 0 ]; do\n\
                   case \"$1\" in\n\
                     --rwdir) [ -d \"$2\" ] || exit 90; shift 2;;\n\
                     --exec) exec sh -c \"$2\";;\n\
                     *) shift;;\n\
                   esac\n\
                 done\n\
                 exit 91\n",
            )
            .unwrap();
        std::fs::set_permissions(&vng, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let shared = crate::TempDir::new("vrf-lab-shared").unwrap();
        let cfg = lab::VmConfig {
            vng,
            kernel: "/nonexistent/vmlinuz".into(),
            kvm: false,
            cpus: 1,
            mem: "1G".into(),
            timeout: Duration::from_secs(2),
            verbose: false,
        };
        let guest = "printf 'ok\\t0.5\\tm::a\\t\\n' >> \"$VRF_LAB_SHARED/results\"; sleep 60";
        let start = Instant::now();
        let exit = lab::run_in_vm_sharing(
            &cfg,
            "/bin/sh".as_ref(),
            &["-c".into(), guest.into()],
            Some(shared.path()),
        )
        .unwrap();
        assert_eq!(exit, VmExit::Killed(Duration::from_secs(2)));
        assert!(start.elapsed() < Duration::from_secs(30));
        let finished = results::read(shared.path()).unwrap();
        let outcomes = vm_outcomes(&["m::a", "m::b"], &finished, exit).unwrap();
        assert_eq!(outcomes[0], ("m::a".into(), Outcome::Passed, true));
        assert!(
            matches!(&outcomes[1], (_, Outcome::Failed(why), false) if why.contains("killed at its timeout of 2 s")),
            "{outcomes:?}"
        );
    }
}
