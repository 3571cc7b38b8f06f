//! A `cargo test` harness for lab tests: the same test binary runs natively when the host kernel can, and
//! otherwise re-runs itself inside one VM boot (see [`crate::lab`]). Listing and runs where the filter
//! leaves no test never boot anything.
//!
//! When the lab cannot start, every selected test **fails** with the reason and the fix: lab tests never
//! skip.
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

use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::lab;

/// A lab test: a function that runs on a kernel with VRF support, as root, and where it is defined.
/// Made by [`lab_tests!`](crate::lab_tests).
#[derive(Debug, Clone, Copy)]
pub struct LabTest {
    /// The module path and the identifier of the test: `suite::basics::vrfs_exist_and_are_up`.
    pub path: &'static str,
    /// The test.
    pub run: fn() -> anyhow::Result<()>,
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
/// closure that captures nothing (one test function run with different arguments):
///
/// ```
/// mod sockets {
///     vrf_lab::lab_tests! {
///         lookup,
///         tcp_v4 = || tcp(4),
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
/// ```
///
/// The module documentation of [`harness`](crate::harness) shows a whole suite.
#[macro_export]
macro_rules! lab_tests {
    ($($name:ident $(= $run:expr)?),* $(,)?) => {
        /// The lab tests of this module, registered with `vrf_lab::lab_tests!`.
        pub const TESTS: &[$crate::harness::LabTest] = &[$(
            $crate::harness::LabTest {
                path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
                run: $crate::lab_tests!(@run $name $(= $run)?),
            },
        )*];
    };
    (@run $name:ident) => { $name };
    (@run $name:ident = $run:expr) => { $run };
}

/// Runs `tests` under libtest's command line (`cargo test -- --list`, filters, `--test-threads` …).
pub fn main(tests: &[LabTest]) -> ExitCode {
    let args = Arguments::from_args();
    let trials = || -> Vec<Trial> {
        tests
            .iter()
            .map(|&t| {
                let name = t.name();
                Trial::test(name, move || {
                    let start = std::time::Instant::now();
                    let r = (t.run)().map_err(|e| Failed::from(format!("{e:#}")));
                    // Where a slow suite spends its time.
                    eprintln!("{name} took {:.1} s", start.elapsed().as_secs_f64());
                    r
                })
            })
            .collect()
    };
    let nothing_to_run = trials()
        .iter()
        .all(|t| args.is_filtered_out(t) || args.is_ignored(t));
    if args.list || nothing_to_run {
        return libtest_mimic::run(&args, trials()).exit_code();
    }
    let failing = |why: String| -> Vec<Trial> {
        tests
            .iter()
            .map(|&t| {
                let why = why.clone();
                Trial::test(t.name(), move || {
                    Err(Failed::from(format!("the kernel lab cannot start: {why}")))
                })
            })
            .collect()
    };
    match lab::enter() {
        Ok(None) => libtest_mimic::run(&args, trials()).exit_code(),
        Ok(Some(code)) => ExitCode::from(u8::try_from(code).unwrap_or(101)),
        Err(e) => libtest_mimic::run(&args, failing(format!("{e:#}"))).exit_code(),
    }
}
