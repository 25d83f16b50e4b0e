//! Content-Type values: the media-type matcher (essence, find, Matcher with its quick
//! rejection) agrees with the reference implementation on every input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_auto_core::differential::check_media_type;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = check_media_type(data) {
        panic!("{e}");
    }
});
