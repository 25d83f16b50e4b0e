//! Event streams fed in pieces: the event-boundary tracker agrees with the reference after
//! every piece. The first 8 bytes seed how the stream is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_auto_core::differential::{check_boundary, Rng};

fuzz_target!(|data: &[u8]| {
    let (seed, stream) = data.split_at(data.len().min(8));
    let mut bytes = [0u8; 8];
    bytes[..seed.len()].copy_from_slice(seed);
    let mut rng = Rng::new(u64::from_le_bytes(bytes));
    if let Err(e) = check_boundary(&mut rng, stream) {
        panic!("{e}");
    }
});
