//! `vrf-curl-lite`: an HTTP(S) client inside a VRF, with curl's options, output and exit codes (the
//! work is done by the library, `lib.rs`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use vrf_curl_lite::cli::Cli;
use vrf_curl_lite::error::Failure;

fn main() -> ExitCode {
    // Option errors exit with 2, as curl's do.
    let cli = Cli::parse();
    let quiet = cli.silent && !cli.show_error;
    let write_out = match cli
        .write_out
        .as_deref()
        .map(vrf_curl_lite::write_out_format)
        .transpose()
    {
        Ok(w) => w,
        Err(f) => return fail(&f, quiet),
    };
    let (result, mut info) = vrf_curl_lite::run(&cli);
    let mut code = 0;
    if let Err(f) = &result {
        if !quiet {
            eprintln!("vrf-curl-lite: {f}");
        }
        code = f.code;
        info.exitcode = i32::from(f.code);
        info.errormsg = f.message.clone();
    }
    if let Some(w) = write_out {
        for warning in w.warnings() {
            eprintln!("{warning}");
        }
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        if w.write(&info, &mut out, &mut err)
            .and_then(|()| out.flush())
            .is_err()
            && code == 0
        {
            code = vrf_curl_lite::error::code::WRITE_ERROR;
        }
    }
    ExitCode::from(code)
}

fn fail(f: &Failure, quiet: bool) -> ExitCode {
    if !quiet {
        eprintln!("vrf-curl-lite: {f}");
    }
    ExitCode::from(f.code)
}
