//! Decodes arbitrary control buffers: the first 4 bytes are `msg_flags`, the rest the buffer.
//!
//! Every kind the codec knows (pktinfo, `SCM_TIMESTAMPNS`, `IP_TTL`, `IPV6_HOPLIMIT`, `IP_RECVERR` /
//! `IPV6_RECVERR` with its offender) must decode without panicking, stay inside the buffer and hold
//! only values its C type allows; `MSG_CTRUNC` must stop the iteration after one error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vrf_socket::cmsg::{self, Cmsg, CmsgError};

fuzz_target!(|input: &[u8]| {
    let Some((flags, buf)) = input.split_first_chunk::<4>() else {
        return;
    };
    let flags = i32::from_ne_bytes(*flags);
    let range = buf.as_ptr_range();
    let mut it = cmsg::decode(buf, flags);
    let mut items = 0;
    for item in it.by_ref() {
        items += 1;
        match item {
            Ok(Cmsg::Other { data, .. }) => {
                let d = data.as_ptr_range();
                assert!(range.start <= d.start && d.end <= range.end);
            }
            Ok(Cmsg::TimestampNs(t)) => assert!(t.subsec_nanos() < 1_000_000_000),
            Ok(Cmsg::RecvErr(e)) => drop(e.error()),
            Ok(_) => {}
            Err(CmsgError::Truncated) => assert!(flags & libc::MSG_CTRUNC != 0 && items == 1),
            Err(_) => {}
        }
    }
    if flags & libc::MSG_CTRUNC != 0 {
        assert_eq!(items, 1);
    }
    assert!(it.next().is_none());
});
