//! The upstream read timeout of a switched stream.

/// Default `sse_auto_read_timeout`: an hour, what users raise `proxy_read_timeout` to by hand
/// for SSE locations.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 60 * 60 * 1000;

/// The idle read timeout, in milliseconds, for a response switched to streaming.
///
/// `configured` is `sse_auto_read_timeout` when set; `upstream` is the location's
/// `proxy_read_timeout` (or its fastcgi/uwsgi/scgi equivalent). An explicit value is used as
/// given. The default never shortens a longer upstream timeout the location already has.
pub fn stream_read_timeout(configured: Option<u64>, upstream: u64) -> u64 {
    match configured {
        Some(ms) => ms,
        None => DEFAULT_READ_TIMEOUT_MS.max(upstream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lengthens_the_stock_timeout() {
        assert_eq!(stream_read_timeout(None, 60_000), DEFAULT_READ_TIMEOUT_MS);
        assert_eq!(stream_read_timeout(None, 0), DEFAULT_READ_TIMEOUT_MS);
    }

    #[test]
    fn default_never_shortens_a_longer_upstream_timeout() {
        let day = 24 * 60 * 60 * 1000;
        assert_eq!(stream_read_timeout(None, day), day);
        assert_eq!(
            stream_read_timeout(None, DEFAULT_READ_TIMEOUT_MS + 1),
            DEFAULT_READ_TIMEOUT_MS + 1
        );
    }

    #[test]
    fn explicit_value_is_used_as_given() {
        assert_eq!(stream_read_timeout(Some(1_500), 500), 1_500);
        assert_eq!(stream_read_timeout(Some(30_000), 60_000), 30_000);
        assert_eq!(stream_read_timeout(Some(0), 60_000), 0);
    }
}
