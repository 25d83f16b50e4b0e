//! The upstream read timeout of a stream.

/// Default `sse_auto_read_timeout`: an hour, what users raise `proxy_read_timeout` to by hand
/// for SSE locations.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 60 * 60 * 1000;

/// nginx's own default `proxy_read_timeout` (and fastcgi/uwsgi/scgi): a location below it
/// was set so on purpose.
pub const NGINX_READ_TIMEOUT_MS: u64 = 60 * 1000;

/// Why a response is a stream, as far as its timeout is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamBy {
    /// Its media type is a stream type (`sse_auto_types`: event streams, NDJSON, ...).
    Type,
    /// Only because it has no length: a stream-if-unsized type, or no `Content-Type`.
    NoLength,
}

/// Which rule gave a stream its read timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutRule {
    /// `sse_auto_read_timeout`, set explicitly.
    Directive,
    /// The default hour.
    Default,
    /// The location's own `*_read_timeout`: longer than the default hour, or below nginx's
    /// 60 s default for a stream that has no type telling it is one.
    Location,
}

impl TimeoutRule {
    /// One word, for `$sse_auto_read_timeout`.
    pub fn label(self) -> &'static str {
        match self {
            TimeoutRule::Directive => "sse_auto_read_timeout",
            TimeoutRule::Default => "default",
            TimeoutRule::Location => "location",
        }
    }

    /// For the debug log.
    pub fn describe(self) -> &'static str {
        match self {
            TimeoutRule::Directive => "sse_auto_read_timeout",
            TimeoutRule::Default => "the default",
            TimeoutRule::Location => "the location's own",
        }
    }
}

/// The idle read timeout, in milliseconds, for a stream, and the rule that chose it.
///
/// `configured` is `sse_auto_read_timeout` when set; `upstream` is the request's effective
/// `proxy_read_timeout` (or its fastcgi/uwsgi/scgi equivalent). An explicit value is used as
/// given. The default never shortens a longer upstream timeout the location already has, and
/// never stretches one set below nginx's 60 s default for a response that is a stream only
/// because it has no length: a guess that weak does not overrule an administrator's short
/// timeout. Typed streams are the ones the 60 s default cuts, and get the hour.
pub fn stream_read_timeout(
    configured: Option<u64>,
    upstream: u64,
    by: StreamBy,
) -> (u64, TimeoutRule) {
    if let Some(ms) = configured {
        return (ms, TimeoutRule::Directive);
    }
    if upstream > DEFAULT_READ_TIMEOUT_MS
        || (by == StreamBy::NoLength && upstream < NGINX_READ_TIMEOUT_MS)
    {
        return (upstream, TimeoutRule::Location);
    }
    (DEFAULT_READ_TIMEOUT_MS, TimeoutRule::Default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StreamBy::{NoLength, Type};
    use TimeoutRule::{Default, Directive, Location};

    const HOUR: u64 = DEFAULT_READ_TIMEOUT_MS;

    #[test]
    fn default_lengthens_the_stock_timeout() {
        for by in [Type, NoLength] {
            assert_eq!(stream_read_timeout(None, 60_000, by), (HOUR, Default));
            assert_eq!(stream_read_timeout(None, 600_000, by), (HOUR, Default));
            assert_eq!(stream_read_timeout(None, HOUR, by), (HOUR, Default));
        }
    }

    #[test]
    fn default_never_shortens_a_longer_upstream_timeout() {
        let day = 24 * 60 * 60 * 1000;
        for by in [Type, NoLength] {
            assert_eq!(stream_read_timeout(None, day, by), (day, Location));
            assert_eq!(
                stream_read_timeout(None, HOUR + 1, by),
                (HOUR + 1, Location)
            );
        }
    }

    #[test]
    fn short_timeout_stays_for_streams_by_length_only() {
        assert_eq!(
            stream_read_timeout(None, 2_000, NoLength),
            (2_000, Location)
        );
        assert_eq!(
            stream_read_timeout(None, 59_999, NoLength),
            (59_999, Location)
        );
        assert_eq!(stream_read_timeout(None, 60_000, NoLength), (HOUR, Default));
        // zero is not a value nginx accepts for a timeout; kept as given all the same
        assert_eq!(stream_read_timeout(None, 0, NoLength), (0, Location));
    }

    #[test]
    fn typed_streams_get_the_hour_over_a_short_timeout() {
        assert_eq!(stream_read_timeout(None, 2_000, Type), (HOUR, Default));
        assert_eq!(stream_read_timeout(None, 59_999, Type), (HOUR, Default));
        assert_eq!(stream_read_timeout(None, 0, Type), (HOUR, Default));
    }

    #[test]
    fn explicit_value_is_used_as_given() {
        for by in [Type, NoLength] {
            assert_eq!(
                stream_read_timeout(Some(1_500), 500, by),
                (1_500, Directive)
            );
            assert_eq!(
                stream_read_timeout(Some(30_000), 60_000, by),
                (30_000, Directive)
            );
            assert_eq!(stream_read_timeout(Some(0), 60_000, by), (0, Directive));
            assert_eq!(
                stream_read_timeout(Some(HOUR), 2_000, by),
                (HOUR, Directive)
            );
        }
    }

    #[test]
    fn exhaustive_over_boundaries() {
        let points = [
            0,
            1,
            59_999,
            60_000,
            60_001,
            HOUR - 1,
            HOUR,
            HOUR + 1,
            u64::MAX,
        ];
        for &upstream in &points {
            for by in [Type, NoLength] {
                for configured in [None, Some(0), Some(5_000), Some(u64::MAX)] {
                    let (ms, rule) = stream_read_timeout(configured, upstream, by);
                    match configured {
                        Some(c) => assert_eq!((ms, rule), (c, Directive)),
                        None if upstream > HOUR => assert_eq!((ms, rule), (upstream, Location)),
                        None if by == NoLength && upstream < 60_000 => {
                            assert_eq!((ms, rule), (upstream, Location))
                        }
                        None => assert_eq!((ms, rule), (HOUR, Default)),
                    }
                    // the result is never shorter than the location's own, but by the
                    // directive or for a stream by length only
                    if configured.is_none() {
                        assert!(ms >= upstream.min(HOUR) || by == NoLength);
                        assert!(ms >= upstream || upstream <= HOUR);
                    }
                }
            }
        }
    }
}
