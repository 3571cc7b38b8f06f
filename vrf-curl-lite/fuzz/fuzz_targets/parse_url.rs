//! URL parsing for the command line ([`request::parse_url`]) and what a request is made of.
//!
//! Must not panic; a URL it accepts is http or https with a host, and can be requested: its Host
//! header is a valid header value, its request target and its HTTP/2 URI are valid URIs, and `-O`
//! finds a name or says why not. Credentials are always allowed to the URL itself.

#![no_main]

use http::{HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use vrf_curl_lite::request::{
    credentials_allowed, host_header, origin_of, parse_url, remote_name, target,
};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let Ok(url) = parse_url(&s) else {
        return;
    };
    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
    assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}");
    let (scheme, host, _) = origin_of(&url);
    assert_eq!(scheme, url.scheme());
    assert!(!host.is_empty());
    let authority = host_header(&url);
    assert!(
        HeaderValue::from_str(&authority).is_ok(),
        "Host {authority:?} of {url}"
    );
    let path = target(&url);
    assert!(
        Uri::try_from(path.as_str()).is_ok(),
        "target {path:?} of {url}"
    );
    let full = format!("{scheme}://{authority}{path}");
    assert!(
        Uri::try_from(full.as_str()).is_ok(),
        "HTTP/2 URI {full:?} of {url}"
    );
    let _ = remote_name(&url);
    assert!(credentials_allowed(&url, &url), "{url}");
});
