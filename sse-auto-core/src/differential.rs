//! Differential checks of the real implementations against `reference`, on generated inputs.
//! Run a few hundred thousand cases by `cargo test`, and many millions by
//! `cargo run --release -p sse-auto-core --example differential -- <cases>`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::boundary::EventBoundary;
use crate::{media_type, reference};

/// A small, fast, seedable generator (xorshift64*): no dependency, reproducible failures.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Pieces `Content-Type` values are built from: the interesting ones, and random bytes.
const PIECES: &[&[u8]] = &[
    b"text",
    b"TEXT",
    b"Text",
    b"/",
    b"event-stream",
    b"EVENT-STREAM",
    b"event",
    b"-stream",
    b"plain",
    b"application",
    b"x-ndjson",
    b";",
    b" ",
    b"\t",
    b"charset=utf-8",
    b"=",
    b"\"",
    b"x",
    b"y",
    b"*",
    b",",
    b"\0",
    b"\xff",
    b"\r\n",
    b"event-streamX",
];

/// Type sets for the `Matcher` check: the default, long types only, and with a short one.
const MATCHER_SETS: &[&[&[u8]]] = &[
    &[media_type::EVENT_STREAM],
    &[
        media_type::EVENT_STREAM,
        b"text/plain",
        b"application/x-ndjson",
    ],
    &[media_type::EVENT_STREAM, b"x/y"],
];

pub fn content_type(rng: &mut Rng, buf: &mut Vec<u8>) {
    buf.clear();
    for _ in 0..rng.below(9) {
        if rng.below(8) == 0 {
            buf.push(rng.next_u64() as u8);
        } else {
            buf.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
    }
}

/// One media-type case: the real matcher and the reference agree.
pub fn check_media_type(value: &[u8]) -> Result<(), String> {
    let real = media_type::essence(value).map(|e| e.to_ascii_lowercase());
    let expected = reference::media_type(value);
    if real != expected {
        return Err(format!(
            "media type of {:?}: real {:?}, reference {:?}",
            String::from_utf8_lossy(value),
            real.map(|r| String::from_utf8_lossy(&r).into_owned()),
            expected.map(|r| String::from_utf8_lossy(&r).into_owned())
        ));
    }
    let types: &[&[u8]] = &[media_type::EVENT_STREAM, b"text/plain"];
    let found = media_type::find(value, types).copied();
    let expected = expected.and_then(|e| types.iter().copied().find(|t| *t == e.as_slice()));
    if found != expected {
        return Err(format!(
            "find in {:?} differs",
            String::from_utf8_lossy(value)
        ));
    }
    // The quick rejection in front of `find` never changes its answer, whatever the types.
    for set in MATCHER_SETS {
        let matcher = media_type::Matcher::new(set.iter().map(|&t| t.into()).collect());
        if matcher.find(value) != media_type::find(value, set).copied() {
            return Err(format!(
                "Matcher::find in {:?} with {} types differs",
                String::from_utf8_lossy(value),
                set.len()
            ));
        }
    }
    Ok(())
}

pub fn event_stream(rng: &mut Rng, buf: &mut Vec<u8>) {
    const BYTES: &[u8] = b"\r\n\r\n\r\nx:d";
    buf.clear();
    for _ in 0..rng.below(24) {
        buf.push(BYTES[rng.below(BYTES.len())]);
    }
}

/// One boundary case: fed in random pieces, the tracker agrees with the reference at the end
/// of every piece.
pub fn check_boundary(rng: &mut Rng, stream: &[u8]) -> Result<(), String> {
    let mut tracker = EventBoundary::new();
    let mut at = 0;
    while at < stream.len() {
        let len = 1 + rng.below(stream.len() - at);
        tracker.feed(&stream[at..at + len]);
        at += len;
        if tracker.at_boundary() != reference::at_boundary(&stream[..at]) {
            return Err(format!("boundary after {:?} differs", &stream[..at]));
        }
    }
    Ok(())
}

/// Runs `cases` cases of each check from `seed`; the first disagreement, if any.
pub fn run(seed: u64, cases: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut buf = Vec::new();
    for _ in 0..cases {
        content_type(&mut rng, &mut buf);
        check_media_type(&buf)?;
        event_stream(&mut rng, &mut buf);
        let stream = buf.clone();
        check_boundary(&mut rng, &stream)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn agrees_with_reference() {
        super::run(0x5eed, 300_000).unwrap();
    }
}
