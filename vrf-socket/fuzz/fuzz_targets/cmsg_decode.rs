//! Decodes arbitrary control buffers: the first 4 bytes are `msg_flags`, the rest the buffer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vrf_socket::cmsg::{self, Cmsg};

fuzz_target!(|input: &[u8]| {
    let Some((flags, buf)) = input.split_first_chunk::<4>() else {
        return;
    };
    let range = buf.as_ptr_range();
    let mut it = cmsg::decode(buf, i32::from_ne_bytes(*flags));
    for item in it.by_ref() {
        if let Ok(Cmsg::Other { data, .. }) = item {
            let d = data.as_ptr_range();
            assert!(range.start <= d.start && d.end <= range.end);
        }
    }
    assert!(it.next().is_none());
});
