//! When a held HTTP/1.x TLS stream gives nginx's TLS send buffer back.
//!
//! Giving the buffer back and having nginx allocate it again for the next write costs about
//! 700 instructions (nginx's pool and malloc, 16k each time), which a stream sending 100
//! events a second would pay on every event (+6 % per event over TLS). So a stream that is
//! busy — its previous write less than [`IDLE_MS`] ago — keeps its buffer, as nginx does, and
//! gives it back once it has been quiet for about that long (a timer); a stream that was
//! already quiet gives it back at once, after the write. A held stream with an event every
//! few seconds holds no buffer between its events; a busy one holds it only while busy.

/// How long a stream is quiet before its buffer goes back, and the gap between two writes
/// below which it counts as busy.
pub const IDLE_MS: u64 = 1000;

/// What to do with the buffer once a write has left it empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Give it back now: the stream was quiet before this write.
    Now,
    /// Keep it; give it back once the stream has been quiet for [`IDLE_MS`].
    WhenIdle,
}

/// `since_previous`: milliseconds since the stream's previous write; None for its first.
pub fn after_write(since_previous: Option<u64>) -> Release {
    match since_previous {
        Some(ms) if ms < IDLE_MS => Release::WhenIdle,
        _ => Release::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_write_gives_it_back() {
        assert_eq!(after_write(None), Release::Now);
    }

    #[test]
    fn a_busy_stream_keeps_it_until_quiet() {
        for ms in [0, 1, 10, 100, 500, IDLE_MS - 1] {
            assert_eq!(after_write(Some(ms)), Release::WhenIdle, "{ms} ms");
        }
    }

    #[test]
    fn a_quiet_stream_gives_it_back_at_once() {
        for ms in [IDLE_MS, IDLE_MS + 1, 5_000, 3_600_000, u64::MAX] {
            assert_eq!(after_write(Some(ms)), Release::Now, "{ms} ms");
        }
    }
}
