//! vrf-toolkit's build helpers (not shipped, not published).
//!
//! `cargo run -p xtask -- dist-docs OUTDIR` writes the man pages (`OUTDIR/man/*.1`, `*.8`) and the
//! shell completions (`OUTDIR/completions/{bash,zsh,fish}/…`) of vrf-exec, vrf-ping and vrf-curl-lite.
//! Both are rendered from the clap definitions the binaries parse with (their libraries' `cli`
//! modules), so they cannot drift from `--help`: the name, synopsis, description and options come from
//! clap; the sections clap knows nothing of (exit status, examples, files, see also) are in
//! [`pages`]. `scripts/package.sh` runs it for the Debian package.

mod man;
mod pages;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

const USAGE: &str = "usage: cargo run -p xtask -- dist-docs OUTDIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [cmd, out] if cmd == "dist-docs" => PathBuf::from(out),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match dist_docs(&out) {
        Ok(written) => {
            println!("xtask: {written} files in {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: dist-docs {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// The completion scripts, each named as its shell looks it up: bash-completion loads
/// `completions/NAME` on the first completion of NAME, zsh autoloads `_NAME` from its `fpath`, fish
/// reads `NAME.fish`.
const SHELLS: [(Shell, &str, &str); 3] = [
    (Shell::Bash, "bash", ""),
    (Shell::Zsh, "zsh", "_"),
    (Shell::Fish, "fish", ".fish"),
];

/// Writes every page and completion script under `out` (its `man` and `completions` folders are
/// made anew, so a page of a subcommand that went away does not linger); returns how many files.
fn dist_docs(out: &Path) -> io::Result<usize> {
    let man_dir = out.join("man");
    let completions_dir = out.join("completions");
    for dir in [&man_dir, &completions_dir] {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::create_dir_all(&man_dir)?;
    let date = man::source_date();
    let mut written = 0;
    for tool in pages::TOOLS {
        for page in man::pages(tool) {
            fs::write(man_dir.join(&page.file_name), page.render(&date))?;
            written += 1;
        }
        for (shell, dir, affix) in SHELLS {
            let dir = completions_dir.join(dir);
            fs::create_dir_all(&dir)?;
            let file = match affix {
                "_" => format!("_{}", tool.name),
                suffix => format!("{}{suffix}", tool.name),
            };
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut (tool.command)(), tool.name, &mut script);
            fs::write(dir.join(file), script)?;
            written += 1;
        }
    }
    Ok(written)
}
