//! `-w FORMAT`: parses an arbitrary format and writes it with an arbitrary [`Info`] (any times, NaN
//! and infinities included, any strings and headers).
//!
//! Neither step may panic; writing twice gives the same bytes; a format without `%` or `\` is copied
//! as it is, to standard output; `%{json}` and `%{header_json}` are valid JSON, the first an object
//! with the same keys whatever the values.

#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use vrf_curl_lite::writeout::{Info, WriteOut};

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    u.arbitrary()
}

fn info(u: &mut Unstructured<'_>) -> Result<Info> {
    let ip = |u: &mut Unstructured<'_>| -> Result<Option<IpAddr>> {
        Ok(match u.int_in_range(0..=2)? {
            0 => None,
            1 => Some(IpAddr::from(u.arbitrary::<[u8; 4]>()?)),
            _ => Some(IpAddr::from(u.arbitrary::<[u8; 16]>()?)),
        })
    };
    Ok(Info {
        http_code: u.arbitrary()?,
        http_connect: u.arbitrary()?,
        http_version: text(u)?,
        method: text(u)?,
        scheme: text(u)?,
        url: text(u)?,
        url_effective: text(u)?,
        redirect_url: u.arbitrary()?,
        num_redirects: u.arbitrary()?,
        num_connects: u.arbitrary()?,
        content_type: u.arbitrary()?,
        remote_ip: ip(u)?,
        remote_port: u.arbitrary()?,
        local_ip: ip(u)?,
        local_port: u.arbitrary()?,
        time_namelookup: u.arbitrary()?,
        time_connect: u.arbitrary()?,
        time_appconnect: u.arbitrary()?,
        time_pretransfer: u.arbitrary()?,
        time_starttransfer: u.arbitrary()?,
        time_redirect: u.arbitrary()?,
        time_total: u.arbitrary()?,
        size_download: u.arbitrary()?,
        size_header: u.arbitrary()?,
        size_request: u.arbitrary()?,
        size_upload: u.arbitrary()?,
        speed_download: u.arbitrary()?,
        speed_upload: u.arbitrary()?,
        ssl_verify_result: u.arbitrary()?,
        exitcode: u.arbitrary()?,
        errormsg: text(u)?,
        headers: u.arbitrary()?,
        vrf: text(u)?,
    })
}

fn write(w: &WriteOut, info: &Info) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    w.write(info, &mut out, &mut err)
        .expect("writing to memory cannot fail");
    (out, err)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(format), Ok(info)) = (text(&mut u), info(&mut u)) else {
        return;
    };
    let w = WriteOut::parse(&format);
    let written = write(&w, &info);
    assert_eq!(written, write(&w, &info), "not deterministic");
    if !format.contains(['%', '\\']) {
        assert_eq!(written.0, format.as_bytes());
        assert!(written.1.is_empty() && w.warnings().is_empty());
    }
    let keys = |info: &Info| {
        let (json, _) = write(&WriteOut::parse("%{json}"), info);
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap_or_else(|e| {
            panic!(
                "%{{json}} is not JSON ({e}): {}",
                String::from_utf8_lossy(&json)
            )
        });
        json.as_object().expect("%{json} is an object").len()
    };
    assert_eq!(keys(&info), keys(&Info::default()), "%{{json}} keys");
    let (headers, _) = write(&WriteOut::parse("%{header_json}"), &info);
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&headers) {
        panic!(
            "%{{header_json}} is not JSON ({e}): {}",
            String::from_utf8_lossy(&headers)
        );
    }
});
