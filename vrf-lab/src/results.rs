//! What a lab run tells the host about each test as it finishes, so that results survive a VM that is
//! killed or dies before the run ends.
//!
//! The run that executes the tests (inside the VM) appends one line per finished test to a file in a
//! directory it shares with the host ([`Recorder`]); the host reads the complete lines back ([`parse`])
//! and, for every selected test, takes the recorded result or, for a test with none, fails it with the
//! reason the run ended ([`merge`]).
//!
//! A line is `ok|failed <TAB> seconds <TAB> name <TAB> message`, the message with `\`, tab, CR and
//! newline escaped as `\\`, `\t`, `\r` and `\n`. A last line without its newline was cut off and is not
//! a result.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};

/// The name of the results file in the shared directory.
pub(crate) const FILE: &str = "results";

/// How a test ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// It returned `Ok`.
    Passed,
    /// It failed, panicked or outlived its bound; why.
    Failed(String),
}

/// A finished test, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finished {
    /// `<module>::<test>`.
    pub name: String,
    /// How long it ran.
    pub secs: f64,
    /// Its result.
    pub outcome: Outcome,
}

impl Finished {
    /// The result line, newline included.
    fn line(&self) -> String {
        let (status, message) = match &self.outcome {
            Outcome::Passed => ("ok", ""),
            Outcome::Failed(m) => ("failed", m.as_str()),
        };
        format!(
            "{status}\t{:.1}\t{}\t{}\n",
            self.secs,
            self.name,
            escape(message)
        )
    }

    /// One result line, without its newline; `None` unless it is well formed.
    fn parse(line: &str) -> Option<Finished> {
        let mut fields = line.splitn(4, '\t');
        let (status, secs, name, message) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let outcome = match status {
            "ok" => Outcome::Passed,
            "failed" => Outcome::Failed(unescape(message)),
            _ => return None,
        };
        Some(Finished {
            name: name.to_string(),
            secs: secs.parse().ok()?,
            outcome,
        })
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The results in `text`, the contents of a results file: every complete, well-formed line.
pub(crate) fn parse(text: &str) -> Vec<Finished> {
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().filter_map(Finished::parse).collect()
}

/// Reads the results file in `dir`; no file (the run never got to a test) is no results.
pub(crate) fn read(dir: &Path) -> Result<Vec<Finished>> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Appends result lines to a results file as tests finish, from any thread.
#[derive(Debug)]
pub(crate) struct Recorder(Mutex<File>);

impl Recorder {
    /// Opens (creates) the results file in `dir` for appending.
    pub fn open(dir: &Path) -> Result<Recorder> {
        let path = dir.join(FILE);
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Recorder(Mutex::new(file)))
    }

    /// Records `finished` with one write of its whole line, so a reader never sees half of it unless
    /// the writer died in the middle.
    pub fn record(&self, finished: &Finished) -> Result<()> {
        let mut file = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(finished.line().as_bytes())
            .context("writing a test result")
    }
}

/// The result of every test in `selected`, in that order: the one recorded in `finished` (the last, if a
/// test has several), or, for a test that has none, a failure saying it `did not finish: <unfinished>`.
pub(crate) fn merge(
    selected: &[&str],
    finished: &[Finished],
    unfinished: &str,
) -> Vec<(String, Outcome)> {
    selected
        .iter()
        .map(|&name| {
            let outcome = finished.iter().rev().find(|f| f.name == name).map_or_else(
                || Outcome::Failed(format!("did not finish: {unfinished}")),
                |f| f.outcome.clone(),
            );
            (name.to_string(), outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(name: &str, outcome: Outcome) -> Finished {
        Finished {
            name: name.into(),
            secs: 1.5,
            outcome,
        }
    }

    #[test]
    fn lines_round_trip_any_message() {
        let messages = [
            "",
            "plain",
            "two\nlines\r\n\ttabbed \\ and a trailing backslash \\",
            "\\n is not a newline",
        ];
        for m in messages {
            let f = finished("m::t", Outcome::Failed(m.into()));
            let line = f.line();
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            assert_eq!(parse(&line), [f]);
        }
        let ok = finished("m::ok", Outcome::Passed);
        assert_eq!(ok.line(), "ok\t1.5\tm::ok\t\n");
        assert_eq!(parse(&ok.line()), [ok]);
    }

    #[test]
    fn a_cut_off_or_malformed_line_is_no_result() {
        let a = finished("m::a", Outcome::Passed).line();
        let b = finished("m::b", Outcome::Failed("x".into())).line();
        let text = format!("{a}garbage\nok\tnot-a-number\tm::c\t\n{b}");
        let names: Vec<_> = parse(&text).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["m::a", "m::b"]);
        // The VM was killed in the middle of writing b's line.
        let cut = format!("{a}{}", &b[..b.len() - 3]);
        let names: Vec<_> = parse(&cut).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["m::a"]);
        assert!(parse("").is_empty());
    }

    #[test]
    fn merge_keeps_finished_results_and_fails_the_rest_with_the_reason() {
        let done = [
            finished("m::passed", Outcome::Passed),
            finished("m::failed", Outcome::Failed("boom".into())),
            finished("m::not_selected", Outcome::Passed),
        ];
        let merged = merge(
            &["m::failed", "m::unfinished", "m::passed"],
            &done,
            "the VM was killed after 1500 s",
        );
        assert_eq!(
            merged,
            [
                ("m::failed".to_string(), Outcome::Failed("boom".into())),
                (
                    "m::unfinished".to_string(),
                    Outcome::Failed("did not finish: the VM was killed after 1500 s".into())
                ),
                ("m::passed".to_string(), Outcome::Passed),
            ]
        );
    }

    #[test]
    fn recorder_appends_whole_lines_from_many_threads() {
        let dir = crate::TempDir::new("vrf-lab-results").unwrap();
        let recorder = Recorder::open(dir.path()).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let recorder = &recorder;
                s.spawn(move || {
                    for i in 0..50 {
                        let message = format!("thread {t}\nresult {i}");
                        let f = finished(&format!("m::t{t}_{i}"), Outcome::Failed(message));
                        recorder.record(&f).unwrap();
                    }
                });
            }
        });
        let all = read(dir.path()).unwrap();
        assert_eq!(all.len(), 400);
        assert!(all.iter().all(|f| matches!(&f.outcome,
            Outcome::Failed(m) if m.starts_with("thread ") && m.contains("\nresult "))));
        assert!(read(&dir.join("nonexistent")).unwrap().is_empty());
    }
}
