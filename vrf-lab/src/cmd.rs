//! Running helper programs (`ip`, `sysctl`, `ping` …) with errors that say what was run and what it printed.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// The finished run of a command: its exit code and both streams as text.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for messages.
    pub line: String,
    /// Exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Fails unless the command exited with status 0.
    pub fn ok(self) -> Result<Self> {
        if !self.success() {
            bail!("{}", self.describe("failed"));
        }
        Ok(self)
    }

    /// A multi-line description: the command line, its status and its output.
    pub fn describe(&self, what: &str) -> String {
        let mut s = format!("`{}` {what} (exit {:?})", self.line, self.code);
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.trim().is_empty() {
                let _ = write!(
                    s,
                    "\n  {name}: {}",
                    text.trim_end().replace('\n', "\n          ")
                );
            }
        }
        s
    }
}

/// The command line of `cmd`, shell-quoted, for messages.
pub fn line_of(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion with stdin closed, capturing both streams.
pub fn run(cmd: &mut Command) -> Result<Run> {
    let line = line_of(cmd);
    let _traced = Traced::start(&line);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    Ok(Run::of(line, output))
}

/// Runs `cmd` to completion with `input` on its stdin, capturing both streams.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Result<Run> {
    use std::io::Write;
    let line = line_of(cmd);
    let _traced = Traced::start(&line);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let input = input.to_vec();
    // Written from a thread, so that a command whose output fills its pipe first cannot block us both.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{line}`"))?;
    // A command that exits without reading all of its input is judged by its exit status.
    let _ = writer.join();
    Ok(Run::of(line, output))
}

impl Run {
    fn of(line: String, output: Output) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = output;
        Run {
            line,
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

/// Runs `cmd` like [`run`] and also returns its peak memory: the maximum resident set size in KiB of
/// the program (across its `exec`s: `ip netns exec X prog` counts `prog`), as GNU time(1) reports it
/// (`%M`, the `ru_maxrss` of its child).
///
/// The program is started by time(1), not by the test: a child the test started itself would report at
/// least the test process's own peak, because the kernel carries the high-water mark of the address
/// space a process had (the parent's, shared or copied at fork) across `exec`. time(1) is small, so what
/// it reports is the program's. A program ended by signal N reports exit code 128 + N.
pub fn run_measured(cmd: &mut Command) -> Result<(Run, u64)> {
    let line = line_of(cmd);
    let dir = crate::TempDir::new("vrf-lab-rss")?;
    let report = dir.join("maxrss");
    let mut timed = Command::new("time");
    timed
        .args(["--quiet", "--format=%M", "--output"])
        .arg(&report)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    let run = run(&mut timed).with_context(|| {
        format!(
            "measuring `{line}` with GNU time (apt-get install time; scripts/install-deps.sh does)"
        )
    })?;
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("time(1) left no report for `{line}`: {}", run.stderr.trim()))?;
    let kib = text
        .lines()
        .rev()
        .find_map(|l| l.trim().parse::<u64>().ok())
        .with_context(|| format!("time(1) reported {text:?} for `{line}`"))?;
    Ok((Run { line, ..run }, kib))
}

/// Runs `program args…` and fails unless it exits 0.
pub fn run_ok<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<Run> {
    run(Command::new(program).args(args))?.ok()
}

/// Quotes one word for a POSIX shell; plain words stay as they are.
pub fn shell_quote(word: impl AsRef<OsStr>) -> String {
    let w = word.as_ref().to_string_lossy();
    let plain = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        w.into_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// Finds `program` in `PATH`, like `command -v`.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    which_in(program, &std::env::var_os("PATH")?)
}

/// Finds `program` in the directories of `path`, a `PATH`-style list.
pub fn which_in(program: &str, path: &OsStr) -> Option<std::path::PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// With `VRF_LAB_TRACE=1`, [`run`] prints how long each command took when it ends (`TRACE 1.23 s ip …`):
/// where a slow lab test spends its time.
struct Traced(Option<(std::time::Instant, String)>);

impl Traced {
    fn start(line: &str) -> Traced {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let on = *ON.get_or_init(|| std::env::var_os("VRF_LAB_TRACE").is_some_and(|v| v == "1"));
        Traced(on.then(|| (std::time::Instant::now(), line.to_string())))
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some((start, line)) = &self.0 {
            eprintln!("TRACE {:.2} s {line}", start.elapsed().as_secs_f64());
        }
    }
}

/// Spawns `cmd` with its stdout piped and waits until it prints `ready` (a server listening, a process
/// launched into its VRF); fails if it exits first.
pub fn spawn_ready(mut cmd: Command) -> Result<std::process::Child> {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"ready\n") {
        if out.read(&mut byte)? == 0 {
            let _ = child.wait();
            bail!(
                "{} exited before it was ready: {:?}",
                line_of(&cmd),
                String::from_utf8_lossy(&line)
            );
        }
        line.push(byte[0]);
    }
    // Kept open, so that what it prints later does not kill it (SIGPIPE).
    child.stdout = Some(out);
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("ip"), "ip");
        assert_eq!(shell_quote("10.99.0.2"), "10.99.0.2");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn run_reports_status_and_streams() {
        let r = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(r.code, Some(3));
        assert_eq!(r.stdout, "out\n");
        assert_eq!(r.stderr, "err\n");
        let e = r.ok().unwrap_err().to_string();
        assert!(e.contains("exit Some(3)") && e.contains("err"), "{e}");
    }

    #[test]
    fn run_with_input_feeds_stdin() {
        let r = run_with_input(Command::new("tr").args(["a-z", "A-Z"]), b"one\ntwo\n").unwrap();
        assert_eq!((r.code, r.stdout.as_str()), (Some(0), "ONE\nTWO\n"));
        // More input than a pipe holds, to a command that reads none of it.
        let big = vec![b'x'; 1 << 20];
        let r = run_with_input(Command::new("sh").args(["-c", "exit 4"]), &big).unwrap();
        assert_eq!(r.code, Some(4));
    }
}
