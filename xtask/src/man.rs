//! A man page: clap_mangen's sections (title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS, SUBCOMMANDS),
//! rendered from the clap command, then ours from [`pages`](crate::pages): EXIT STATUS, EXAMPLES,
//! FILES, SEE ALSO.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::pages::{Extra, Tool};

/// An empty [`Extra`], for a subcommand added without one.
const NO_EXTRA: Extra = Extra {
    exit_intro: "",
    exit_codes: &[],
    examples: &[],
    files: &[],
    see_also: &[],
};

/// One page to write.
#[derive(Debug)]
pub struct Page {
    /// `vrf-exec.8`, `vrf-exec-identify.8`.
    pub file_name: String,
    section: &'static str,
    /// The tool's version (a subcommand has none of its own).
    version: String,
    cmd: clap::Command,
    extra: Extra,
    /// Pages of the same tool to refer to first: the subcommands' from the main page, the main page
    /// from a subcommand's.
    related: Vec<String>,
}

/// The pages of `tool`: its own and one per subcommand clap has (but `help`), whatever they are.
pub fn pages(tool: &Tool) -> Vec<Page> {
    // Built, so that each subcommand knows its full name (`vrf-exec identify`, page `vrf-exec-identify`).
    let mut cmd = (tool.command)().disable_help_subcommand(true);
    cmd.build();
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let sub_page = |s: &clap::Command| format!("{}-{}", tool.name, s.get_name());
    let version = cmd.get_version().unwrap_or_default().to_string();
    // The synopsis is clap's usage, as `--help` prints it, with one line per subcommand in place of
    // clap's `vrf-exec <COMMAND>` (which would read as the launch's COMMAND).
    let mut synopsis = usage(&mut cmd);
    if !subcommands.is_empty() {
        synopsis.truncate(1);
        synopsis.extend(subcommands.iter().map(|s| usage(&mut s.clone()).remove(0)));
    }
    let mut pages = vec![Page {
        file_name: format!("{}.{}", tool.name, tool.section),
        section: tool.section,
        version: version.clone(),
        related: subcommands.iter().map(sub_page).collect(),
        cmd: cmd.clone().override_usage(synopsis.join("\n")),
        extra: tool.extra,
    }];
    for sub in subcommands {
        let extra = match tool.subcommands.iter().find(|(n, _)| *n == sub.get_name()) {
            Some((_, extra)) => *extra,
            None => {
                eprintln!(
                    "xtask: {}({}) has no EXIT STATUS or EXAMPLES: add them in xtask/src/pages.rs",
                    sub_page(&sub),
                    tool.section
                );
                NO_EXTRA
            }
        };
        let synopsis = usage(&mut sub.clone()).join("\n");
        pages.push(Page {
            file_name: format!("{}.{}", sub_page(&sub), tool.section),
            section: tool.section,
            version: version.clone(),
            related: vec![tool.name.to_string()],
            cmd: sub.override_usage(synopsis),
            extra,
        });
    }
    pages
}

/// The forms of clap's usage (`Usage: vrf-exec [OPTIONS] <VRF> <COMMAND>...`), one per line.
fn usage(cmd: &mut clap::Command) -> Vec<String> {
    let usage = cmd.render_usage().to_string();
    let usage = usage.strip_prefix("Usage:").unwrap_or(&usage);
    usage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

impl Page {
    /// The page as roff, dated `date` (`YYYY-MM-DD`, or empty).
    pub fn render(&self, date: &str) -> Vec<u8> {
        let name = self.cmd.get_display_name().unwrap_or(self.cmd.get_name());
        let version = &self.version;
        let manual = match self.section {
            "8" => "System Manager's Manual",
            _ => "User Commands",
        };
        let man = Man::new(self.cmd.clone())
            .title(name.to_uppercase())
            .section(self.section)
            .date(date)
            .source(format!("vrf-toolkit {version}"))
            .manual(manual);
        let has_options = self.cmd.get_arguments().any(|a| !a.is_hide_set());
        let has_subcommands = self.cmd.get_subcommands().any(|s| !s.is_hide_set());
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut part = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
            let mut buf = Vec::new();
            render(&mut buf).expect("writing to a Vec");
            parts.push(buf);
        };
        part(&|w| man.render_title(w));
        part(&|w| man.render_name_section(w));
        part(&|w| man.render_synopsis_section(w));
        part(&|w| man.render_description_section(w));
        if has_options {
            part(&|w| man.render_options_section(w));
        }
        if has_subcommands {
            part(&|w| man.render_subcommands_section(w));
        }
        part(&|w| self.extra_sections().to_writer(w));
        // Each rendering starts with roff's preamble (the apostrophe string): keep the first only.
        let preamble = preamble();
        let mut page = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let body = match p.strip_prefix(preamble.as_slice()) {
                Some(body) if i > 0 => body,
                _ => p,
            };
            page.extend_from_slice(body);
        }
        let page = String::from_utf8(page).expect("roff of UTF-8 text is UTF-8");
        page.lines()
            .map(|l| code_in_bold(l) + "\n")
            .collect::<String>()
            .into_bytes()
    }

    fn extra_sections(&self) -> Roff {
        let e = &self.extra;
        let mut r = Roff::new();
        if !e.exit_intro.is_empty() || !e.exit_codes.is_empty() {
            r.control("SH", ["EXIT STATUS"]);
            if !e.exit_intro.is_empty() {
                r.text([roman(e.exit_intro)]);
            }
            for (status, meaning) in e.exit_codes {
                r.control("TP", []);
                r.text([bold(status.to_string())]);
                r.text([roman(*meaning)]);
            }
        }
        if !e.examples.is_empty() {
            r.control("SH", ["EXAMPLES"]);
            // The command as it is typed, unfilled (a long one is split with `\` in pages.rs), then
            // what it does, indented.
            for (command, what) in e.examples {
                r.control("PP", []);
                r.control("nf", []);
                r.text([bold(*command)]);
                r.control("fi", []);
                r.control("RS", ["4"]);
                r.text([roman(*what)]);
                r.control("RE", []);
            }
        }
        if !e.files.is_empty() {
            r.control("SH", ["FILES"]);
            for (path, what) in e.files {
                r.control("TP", []);
                r.text([italic(*path)]);
                r.text([roman(*what)]);
            }
        }
        let see_also: Vec<(&str, &str)> = self
            .related
            .iter()
            .map(|p| (p.as_str(), self.section))
            .chain(e.see_also.iter().copied())
            .collect();
        if !see_also.is_empty() {
            r.control("SH", ["SEE ALSO"]);
            // Left-aligned and unhyphenated: a justified list of page names spreads out, and a
            // hyphenated name reads as another.
            r.control("ad", ["l"]);
            r.control("nh", []);
            let mut line = Vec::new();
            for (i, (page, section)) in see_also.iter().enumerate() {
                line.push(bold(*page));
                let end = if i + 1 == see_also.len() { "" } else { "," };
                line.push(roman(format!("({section}){end} ")));
            }
            r.text(line);
        }
        r
    }
}

/// A text line's `code spans` (the help texts' markdown) in bold, as man pages set commands; control
/// lines, and lines with an unpaired backquote, as they are.
fn code_in_bold(line: &str) -> String {
    if line.starts_with('.') || !line.matches('`').count().is_multiple_of(2) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for (i, piece) in line.split('`').enumerate() {
        if i > 0 {
            out.push_str(if i % 2 == 1 { "\\fB" } else { "\\fR" });
        }
        out.push_str(piece);
    }
    out
}

/// What roff writes before every rendering.
fn preamble() -> Vec<u8> {
    let mut empty = Vec::new();
    Roff::new().to_writer(&mut empty).expect("writing to a Vec");
    empty
}

/// The pages' date: the day of `SOURCE_DATE_EPOCH` (reproducible builds; `scripts/package.sh` sets it
/// to the last commit's time), else none.
pub fn source_date() -> String {
    let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    else {
        return String::new();
    };
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::TOOLS;

    #[test]
    fn code_spans() {
        assert_eq!(
            code_in_bold("as `ip vrf exec` does, `a` b"),
            "as \\fBip vrf exec\\fR does, \\fBa\\fR b"
        );
        assert_eq!(code_in_bold("one ` only"), "one ` only");
        assert_eq!(code_in_bold(".TP `x`"), ".TP `x`");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    fn page(pages: &[Page], file: &str) -> String {
        let p = pages.iter().find(|p| p.file_name == file).unwrap();
        String::from_utf8(p.render("2024-01-01")).unwrap()
    }

    /// Every vrf-exec subcommand clap has gets a page, and the main page names each.
    #[test]
    fn a_page_per_subcommand() {
        let pages = pages(&TOOLS[0]);
        let mut cmd = vrf_exec::command();
        cmd.build();
        let subs: Vec<_> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|s| s != "help")
            .collect();
        assert!(subs.len() >= 5, "{subs:?}");
        let main = page(&pages, "vrf-exec.8");
        for s in &subs {
            let file = format!("vrf-exec-{s}.8");
            assert!(pages.iter().any(|p| p.file_name == file), "{file}");
            assert!(
                main.contains(&format!("vrf\\-exec\\-{s}")),
                "{s} in vrf-exec.8"
            );
        }
        assert!(!pages.iter().any(|p| p.file_name == "vrf-exec-help.8"));
        // A subcommand's page names it as it is typed.
        let identify = page(&pages, "vrf-exec-identify.8");
        assert!(
            identify.contains(".TH VRF-EXEC-IDENTIFY 8 2024-01-01"),
            "{identify}"
        );
        assert!(
            identify.contains("\\fBvrf\\-exec identify\\fR"),
            "{identify}"
        );
    }

    /// Every page has the sections of iproute2's, in their order, and roff's preamble once.
    #[test]
    fn sections_in_order() {
        for tool in TOOLS {
            let pages = pages(tool);
            let main = page(&pages, &format!("{}.{}", tool.name, tool.section));
            let mut at = 0;
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH DESCRIPTION",
                ".SH OPTIONS",
                ".SH \"EXIT STATUS\"",
                ".SH EXAMPLES",
                ".SH FILES",
                ".SH \"SEE ALSO\"",
            ] {
                let found = main[at..].find(section);
                assert!(found.is_some(), "{} lacks {section} after {at}", tool.name);
                at += found.unwrap();
            }
            assert_eq!(main.matches(".ds Aq").count(), 2, "{}", tool.name);
            assert!(!main.contains(".SH EXTRA"), "{}", tool.name);
        }
    }

    /// Examples are set unfilled: each line must fit 80 columns after the 7 of the margin.
    #[test]
    fn examples_fit() {
        let all = TOOLS
            .iter()
            .flat_map(|t| std::iter::once(&t.extra).chain(t.subcommands.iter().map(|(_, e)| e)));
        for extra in all {
            for (command, _) in extra.examples {
                for line in command.lines() {
                    assert!(line.len() <= 72, "{line:?} is {} long", line.len());
                }
            }
        }
    }

    /// vrf-curl-lite's exit codes on its page are its `error::code` constants.
    #[test]
    fn curl_exit_codes() {
        let pages = pages(&TOOLS[2]);
        let main = page(&pages, "vrf-curl-lite.1");
        for c in [6, 7, 22, 28, 45, 77] {
            assert!(main.contains(&format!(".TP\n\\fB{c}\\fR\n")), "{c}");
        }
    }
}
