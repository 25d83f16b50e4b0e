//! Tracks whether what has been forwarded of an event stream ends at an event boundary.
//!
//! In `text/event-stream` (HTML Living Standard, "Server-sent events"), lines end with CRLF, LF
//! or CR, and an empty line dispatches the event. Something may be inserted into the stream
//! (a heartbeat comment) or the stream may be ended (drain) only where no event is partly
//! forwarded: at the very start, or right after an empty line.
//!
//! Only the state at the end of the forwarded bytes matters, and it depends only on the run of
//! CR/LF bytes after the last other byte, so each buffer is scanned from its end and usually
//! only a few bytes are read, whatever its size.

/// Where the forwarded bytes end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of the stream or after an empty line.
    Boundary,
    /// As `Boundary`, but the last byte was a CR: an LF now completes that CRLF.
    BoundaryCr,
    /// Inside a line with content.
    Line,
    /// Right after the end of a line with content (LF, or a completed CRLF).
    LineEnd,
    /// Right after a CR ending a line with content: an LF now completes that CRLF.
    LineEndCr,
}

impl State {
    /// The state after one CR or LF byte.
    fn after_eol(self, b: u8) -> State {
        match (self, b) {
            (State::BoundaryCr, b'\n') => State::Boundary,
            (State::LineEndCr, b'\n') => State::LineEnd,
            (State::Line, b'\n') => State::LineEnd,
            (State::Line, _) => State::LineEndCr,
            // An end of line right after one: an empty line.
            (_, b'\n') => State::Boundary,
            (_, _) => State::BoundaryCr,
        }
    }
}

/// The event-boundary tracker of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventBoundary {
    state: State,
}

impl Default for EventBoundary {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBoundary {
    /// A tracker for a stream that has forwarded nothing yet: at a boundary.
    pub const fn new() -> Self {
        Self {
            state: State::Boundary,
        }
    }

    /// Accounts for `bytes`, the next bytes forwarded.
    pub fn feed(&mut self, bytes: &[u8]) {
        let eol_run = bytes
            .iter()
            .rev()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if eol_run < bytes.len() {
            // Some content byte comes before the run: the run starts inside a line.
            self.state = State::Line;
        }
        for &b in &bytes[bytes.len() - eol_run..] {
            self.state = self.state.after_eol(b);
        }
    }

    /// True when the forwarded bytes end at an event boundary.
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Boundary | State::BoundaryCr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::at_boundary as reference_at_boundary;

    fn fed(parts: &[&[u8]]) -> bool {
        let mut t = EventBoundary::new();
        for p in parts {
            t.feed(p);
        }
        t.at_boundary()
    }

    #[test]
    fn examples() {
        let cases: &[(&[u8], bool)] = &[
            (b"", true),
            (b"data: x", false),
            (b"data: x\n", false),
            (b"data: x\n\n", true),
            (b"data: x\r\n", false),
            (b"data: x\r\n\r\n", true),
            (b"data: x\r\r", true),
            (b"data: x\r\n\r", true),
            (b"data: x\n\r", true),
            (b"data: x\r\n\n", true),
            (b"data: x\n\ndata: y", false),
            (b"data: x\n\ndata: y\n", false),
            (b"data: x\n\ndata: y\n\n", true),
            (b":comment\n\n", true),
            (b":\n", false),
            (b"\n", true),
            (b"\r\n", true),
            (b"\r", true),
            (b"\n\n\n", true),
            (b"id: 1\nevent: a\ndata: b\n\n", true),
            (b"data: x\r\n\r\ndata", false),
            (b"data: \xff\xfe\n\n", true),
            (b"data: \0\n\n", true),
            (b"data: \0", false),
        ];
        for &(stream, expected) in cases {
            assert_eq!(
                reference_at_boundary(stream),
                expected,
                "reference {:?}",
                String::from_utf8_lossy(stream)
            );
            assert_eq!(
                fed(&[stream]),
                expected,
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    /// Every way of cutting a stream into two or three buffers gives the same answer as the
    /// reference reading of the whole stream, at every prefix.
    #[test]
    fn every_split_position() {
        let streams: &[&[u8]] = &[
            b"id: 1\ndata: one\n\nid: 2\r\ndata: two\r\n\r\n: hb\r\rdata: x\n",
            b"\r\n\r\n\n\r\r\ndata\r",
            b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\r\n",
        ];
        for stream in streams {
            for end in 0..=stream.len() {
                let s = &stream[..end];
                let expected = reference_at_boundary(s);
                for i in 0..=s.len() {
                    assert_eq!(fed(&[&s[..i], &s[i..]]), expected, "{s:?} at {i}");
                    for j in i..=s.len() {
                        assert_eq!(
                            fed(&[&s[..i], &s[i..j], &s[j..]]),
                            expected,
                            "{s:?} at {i}, {j}"
                        );
                    }
                }
            }
        }
    }

    /// Byte-at-a-time feeding over all short streams of the interesting bytes.
    #[test]
    fn exhaustive_short_streams() {
        let alphabet = [b'\r', b'\n', b'x'];
        for len in 0..=8u32 {
            for n in 0..3usize.pow(len) {
                let mut k = n;
                let stream: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[k % 3];
                        k /= 3;
                        b
                    })
                    .collect();
                let expected = reference_at_boundary(&stream);
                let bytes: Vec<&[u8]> = stream.chunks(1).collect();
                assert_eq!(fed(&bytes), expected, "{stream:?} byte by byte");
                assert_eq!(fed(&[&stream]), expected, "{stream:?} whole");
            }
        }
    }

    #[test]
    fn large_buffer_reads_only_its_tail() {
        let mut stream = vec![b'x'; 1 << 20];
        stream.extend_from_slice(b"\n\n");
        assert!(fed(&[&stream]));
        stream.push(b'y');
        assert!(!fed(&[&stream]));
    }
}
