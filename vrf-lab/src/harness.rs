//! A `cargo test` harness for lab tests: the same test binary runs natively when the host kernel can, and
//! otherwise re-runs itself inside one VM boot (see [`crate::lab`]). Listing and runs where the filter
//! leaves no test never boot anything.
//!
//! When the lab cannot start, every selected test **fails** with the reason and the fix: lab tests never
//! skip.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::lab;

/// A lab test: a name and a function that runs on a kernel with VRF support, as root.
pub type LabTest = (&'static str, fn() -> anyhow::Result<()>);

/// Runs `tests` under libtest's command line (`cargo test -- --list`, filters, `--test-threads` …).
pub fn main(tests: &[LabTest]) -> ExitCode {
    let args = Arguments::from_args();
    let trials = || -> Vec<Trial> {
        tests
            .iter()
            .map(|&(name, f)| {
                Trial::test(name, move || {
                    let start = std::time::Instant::now();
                    let r = f().map_err(|e| Failed::from(format!("{e:#}")));
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
            .map(|&(name, _)| {
                let why = why.clone();
                Trial::test(name, move || {
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
