//! Media-type matching for `Content-Type` values.
//!
//! nginx's own `ngx_http_test_content_type()` relies on `content_type_len`, which is shortened only
//! when a `charset=` parameter is present, so `text/event-stream; foo=bar` would be missed. The
//! response header is parsed here instead, following RFC 9110 §8.3.1:
//!
//! ```text
//! media-type = type "/" subtype parameters
//! parameters = *( OWS ";" OWS [ parameter ] )
//! ```
//!
//! Type and subtype are tokens compared case-insensitively; parameters are never interpreted, so a
//! malformed parameter cannot hide a stream. Everything here is allocation-free: it runs in the
//! header filter for every upstream response.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::decision::Media;

/// The media type every stream detection starts with; `sse_auto_types` always includes it.
pub const EVENT_STREAM: &[u8] = b"text/event-stream";

/// Default `sse_auto_types`: media types that are streams whenever they are sent, so streaming
/// them unconditionally costs nothing (see the README for who sends each).
pub const DEFAULT_STREAM_TYPES: &[&[u8]] = &[
    EVENT_STREAM,
    b"application/x-ndjson",
    b"application/stream+json",
    b"application/json-seq",
    b"application/grpc-web",
    b"application/grpc-web+proto",
    b"application/grpc-web+json",
    b"application/grpc-web-text",
    b"application/grpc-web-text+proto",
];

/// Default `sse_auto_unsized_types`: streams when sent without a length, files or complete
/// replies when sent with one. A response without `Content-Type` is one too (`none`).
pub const DEFAULT_UNSIZED_TYPES: &[&[u8]] = &[
    b"text/plain",
    b"text/x-component",
    b"application/jsonl",
    b"application/x-jsonlines",
];

/// The media types a location treats as streams: what `Media` a `Content-Type` value is.
/// The lists are shared: locations that inherit a list refer to their parent's.
#[derive(Debug, Clone)]
pub struct StreamTypes {
    /// `sse_auto_types`.
    pub stream: Arc<Matcher>,
    /// `sse_auto_unsized_types`: the types, and whether "no Content-Type" is one (`none`).
    pub unsized_types: Arc<Matcher>,
    pub unsized_untyped: bool,
}

impl StreamTypes {
    /// The media of a response whose `Content-Type` value is `value` (empty: none sent).
    pub fn media(&self, value: &[u8]) -> Media {
        if self.is_stream(value) {
            Media::Stream
        } else if self.is_unsized(value) {
            Media::StreamIfUnsized
        } else {
            Media::Other
        }
    }

    /// `value` is of a stream type.
    #[inline(always)]
    pub fn is_stream(&self, value: &[u8]) -> bool {
        self.stream.find(value).is_some()
    }

    /// `value` is of a stream-if-unsized type (empty: no Content-Type sent); a stream type
    /// in both lists is a stream type (`media`).
    #[inline(always)]
    pub fn is_unsized(&self, value: &[u8]) -> bool {
        if value.is_empty() {
            return self.unsized_untyped;
        }
        self.unsized_types.find(value).is_some()
    }
}

/// Builds a type list from the configuration's arguments: each validated and lowercased
/// (`parse_config_type`), duplicates dropped, `always` first. The argument that is not a valid
/// media type is returned as the error.
pub fn config_types<'a>(
    always: Option<&[u8]>,
    args: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Box<[u8]>>, &'a [u8]> {
    let mut types: Vec<Box<[u8]>> = always.into_iter().map(Into::into).collect();
    for arg in args {
        let t = parse_config_type(arg).ok_or(arg)?;
        if !types.iter().any(|have| **have == *t) {
            types.push(t.into_boxed_slice());
        }
    }
    Ok(types)
}

/// The given list as `Matcher` input.
pub fn type_list(types: &[&[u8]]) -> Vec<Box<[u8]>> {
    types.iter().map(|&t| t.into()).collect()
}

/// `tchar` from RFC 9110 §5.6.2.
const fn is_tchar(c: u8) -> bool {
    matches!(c,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`'
        | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

const fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Length of the token at the start of `s`.
fn token_len(s: &[u8]) -> usize {
    s.iter().position(|&c| !is_tchar(c)).unwrap_or(s.len())
}

/// Returns the `type/subtype` part of a `Content-Type` value, without surrounding whitespace or
/// parameters, or `None` when the value does not start with a well-formed media type.
pub fn essence(value: &[u8]) -> Option<&[u8]> {
    let start = value
        .iter()
        .position(|&c| !is_ows(c))
        .unwrap_or(value.len());
    let rest = &value[start..];

    let type_len = token_len(rest);
    if type_len == 0 || rest.get(type_len) != Some(&b'/') {
        return None;
    }

    let sub = &rest[type_len + 1..];
    let sub_len = token_len(sub);
    if sub_len == 0 {
        return None;
    }

    let end = type_len + 1 + sub_len;
    let tail = &rest[end..];
    let after_ows = tail.iter().position(|&c| !is_ows(c)).unwrap_or(tail.len());
    match tail.get(after_ows) {
        None | Some(b';') => Some(&rest[..end]),
        Some(_) => None,
    }
}

/// Returns the entry of `types` (lowercase `type/subtype` strings, as `parse_config_type`
/// makes them) that the media type of the `Content-Type` value `value` equals, ignoring case,
/// whitespace and parameters.
///
/// This runs for every proxied response, so it compares with each type directly instead of
/// parsing the value first: a value whose media type is a given (valid) type starts with it,
/// after optional whitespace, and continues with whitespace, `;` or nothing. Other responses
/// are rejected within their first bytes. The differential tests check this against `essence`.
pub fn find<'a, T: AsRef<[u8]>>(value: &[u8], types: &'a [T]) -> Option<&'a T> {
    let start = value.iter().position(|&c| !is_ows(c))?;
    let value = &value[start..];
    types.iter().find(|t| {
        let t = t.as_ref();
        value.len() >= t.len()
            && value[..t.len()].eq_ignore_ascii_case(t)
            && match value[t.len()..].iter().find(|&&c| !is_ows(c)) {
                None => true,
                Some(&c) => c == b';',
            }
    })
}

/// The configured stream types with a quick rejection test in front of `find`.
///
/// Most responses are not streams, so the common answer must be the cheap one: a value shorter
/// than every type, or whose first eight bytes differ (ignoring case) from those of every type,
/// cannot match and is rejected without a call. The test is sound (it never rejects a value
/// `find` would match); the differential tests check that too.
#[derive(Debug, Clone)]
pub struct Matcher {
    types: Vec<Pattern>,
    /// The shortest type's length.
    min_len: usize,
    /// The first eight bytes of each type, as `head` computes them; empty when a type is
    /// shorter than eight bytes (then only `min_len` is tested).
    heads: Vec<u64>,
}

/// Setting bit 5 of every byte folds ASCII case: two bytes equal ignoring ASCII case are equal
/// after it (other bytes may become equal too; that only makes the test pass more often).
const FOLD: u64 = 0x2020_2020_2020_2020;

fn head(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes) | FOLD
}

/// A configured (lowercase) type, prepared to be compared eight bytes at a time: its 8-byte
/// windows, each with a mask that has bit 5 set where the type has a letter. `(value | mask)
/// == window` then compares letters ignoring ASCII case (a lowercase letter ORed with 0x20 is
/// itself, its uppercase form becomes it, nothing else does) and every other byte exactly.
#[derive(Debug, Clone)]
struct Pattern {
    ty: Box<[u8]>,
    /// (offset, window, mask): one ending at the type's end, then ..., 16, 8, 0. Empty for
    /// types shorter than eight bytes, which are compared byte by byte.
    windows: Vec<(usize, u64, u64)>,
}

impl Pattern {
    fn new(ty: Box<[u8]>) -> Self {
        let word = |off: usize| {
            let mut w = [0u8; 8];
            let mut m = [0u8; 8];
            w.copy_from_slice(&ty[off..off + 8]);
            for (m, &c) in m.iter_mut().zip(&w) {
                *m = if c.is_ascii_lowercase() { 0x20 } else { 0 };
            }
            (off, u64::from_le_bytes(w), u64::from_le_bytes(m))
        };
        let mut windows = Vec::new();
        if ty.len() >= 8 {
            // The end first: types that share a prefix ("application/") differ there.
            if ty.len() % 8 != 0 {
                windows.push(word(ty.len() - 8));
            }
            windows.extend((0..ty.len() / 8).rev().map(|k| word(k * 8)));
        }
        Self { ty, windows }
    }

    /// `value` starts with this type, ignoring ASCII case.
    #[inline(always)]
    fn is_prefix_of(&self, value: &[u8]) -> bool {
        let Some(v) = value.get(..self.ty.len()) else {
            return false;
        };
        if self.windows.is_empty() {
            return v.eq_ignore_ascii_case(&self.ty);
        }
        self.windows.iter().all(|&(off, w, m)| {
            v.get(off..off + 8)
                .and_then(|b| b.try_into().ok())
                .is_some_and(|b: [u8; 8]| u64::from_le_bytes(b) | m == w)
        })
    }
}

impl Default for Matcher {
    /// No types: matches nothing.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Matcher {
    /// `types` as `parse_config_type` makes them; their order is kept (`find` returns the first
    /// that matches).
    pub fn new(types: Vec<Box<[u8]>>) -> Self {
        // No types: nothing is long enough.
        let min_len = types.iter().map(|t| t.len()).min().unwrap_or(usize::MAX);
        let mut heads = types
            .iter()
            .map(|t| t.first_chunk::<8>().map(head))
            .collect::<Option<Vec<u64>>>()
            .unwrap_or_default();
        // Many types share their first eight bytes ("applicat"): each is tested once.
        heads.sort_unstable();
        heads.dedup();
        Self {
            types: types.into_iter().map(Pattern::new).collect(),
            min_len,
            heads,
        }
    }

    /// False when no configured type can be the media type of `value`; true when one may be.
    #[inline(always)]
    pub fn may_match(&self, value: &[u8]) -> bool {
        // Leading whitespace only makes a matching value longer than its type.
        if value.len() < self.min_len {
            return false;
        }
        if self.heads.is_empty() {
            return true;
        }
        match value.first_chunk::<8>() {
            Some(first) if !is_ows(first[0]) => self.heads.contains(&head(first)),
            _ => true,
        }
    }

    /// The configured type that is the media type of the `Content-Type` value `value`: the
    /// same answer as the free function `find` over the same types (the differential tests
    /// check it), eight bytes at a time.
    #[inline(always)]
    pub fn find(&self, value: &[u8]) -> Option<&[u8]> {
        if !self.may_match(value) {
            return None;
        }
        let start = value.iter().position(|&c| !is_ows(c))?;
        let value = &value[start..];
        self.types
            .iter()
            .find(|p| {
                p.is_prefix_of(value)
                    && match value[p.ty.len()..].iter().find(|&&c| !is_ows(c)) {
                        None => true,
                        Some(&c) => c == b';',
                    }
            })
            .map(|p| &*p.ty)
    }
}

/// Validates a media type given in the configuration and returns it lowercased, or `None` when it
/// is not a bare `type/subtype` (parameters and wildcards are not accepted).
pub fn parse_config_type(value: &[u8]) -> Option<Vec<u8>> {
    let essence = essence(value)?;
    if essence.len() != value.len() || essence.contains(&b'*') {
        return None;
    }
    Some(essence.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &[&[u8]] = &[EVENT_STREAM];

    fn is_sse(value: &[u8]) -> bool {
        let found = find(value, SSE).is_some();
        let matcher = Matcher::new(vec![EVENT_STREAM.into()]);
        assert_eq!(matcher.find(value).is_some(), found, "{value:?}");
        found
    }

    fn matcher(types: &[&[u8]]) -> Matcher {
        Matcher::new(types.iter().map(|&t| t.into()).collect())
    }

    #[test]
    fn matcher_rejects_quickly_and_soundly() {
        let m = matcher(&[EVENT_STREAM, b"application/x-ndjson"]);
        // Shorter than every type, or a different first eight bytes: rejected up front.
        for v in [
            &b"text/plain"[..],
            b"text/html; charset=utf-8",
            b"application/json",
        ] {
            assert!(!m.may_match(v), "{:?}", String::from_utf8_lossy(v));
            assert_eq!(m.find(v), None);
        }
        // Case and leading whitespace do not hide a match.
        for (v, t) in [
            (&b"TEXT/EVENT-STREAM"[..], EVENT_STREAM),
            (b"  text/event-stream; charset=utf-8", EVENT_STREAM),
            (b"\tApplication/X-NDJSON", b"application/x-ndjson"),
        ] {
            assert!(m.may_match(v));
            assert_eq!(m.find(v), Some(t));
        }
        // Same first eight bytes, but not the type: `find` decides.
        assert!(m.may_match(b"text/event-streamX"));
        assert_eq!(m.find(b"text/event-streamX"), None);
    }

    #[test]
    fn matcher_with_short_types_tests_length_only() {
        let m = matcher(&[EVENT_STREAM, b"a/b"]);
        assert!(m.may_match(b"x/yz"));
        assert_eq!(m.find(b"A/B"), Some(&b"a/b"[..]));
        assert_eq!(m.find(b"a/"), None);
        assert_eq!(m.find(b"Text/Event-Stream"), Some(EVENT_STREAM));
        assert_eq!(Matcher::default().find(b"text/event-stream"), None);
    }

    fn stream_types(untyped: bool) -> StreamTypes {
        StreamTypes {
            stream: Arc::new(Matcher::new(type_list(DEFAULT_STREAM_TYPES))),
            unsized_types: Arc::new(Matcher::new(type_list(DEFAULT_UNSIZED_TYPES))),
            unsized_untyped: untyped,
        }
    }

    #[test]
    fn media_of_responses() {
        let t = stream_types(true);
        for v in [
            &b"text/event-stream"[..],
            b"text/event-stream; charset=utf-8",
            b"application/x-ndjson",
            b"Application/Grpc-Web+Proto",
            b"application/grpc-web-text",
            b"application/json-seq",
            b"application/stream+json",
        ] {
            assert_eq!(t.media(v), Media::Stream, "{}", String::from_utf8_lossy(v));
        }
        for v in [
            &b""[..],
            b"text/plain",
            b"text/plain; charset=utf-8",
            b"TEXT/PLAIN",
            b"text/x-component",
            b"application/jsonl",
            b"application/x-jsonlines",
        ] {
            assert_eq!(
                t.media(v),
                Media::StreamIfUnsized,
                "{}",
                String::from_utf8_lossy(v)
            );
        }
        for v in [
            &b"text/html; charset=utf-8"[..],
            b"application/json",
            b"text/plainx",
            b"text/css",
            b"application/grpc",
            b"application/grpc-webx",
            b" ",
            b";",
            b"application/octet-stream",
        ] {
            assert_eq!(t.media(v), Media::Other, "{}", String::from_utf8_lossy(v));
        }
        // Without `none`, a response without Content-Type is not a stream.
        assert_eq!(stream_types(false).media(b""), Media::Other);
        // `sse_auto_unsized_types off`: nothing is stream-if-unsized.
        let off = StreamTypes {
            unsized_types: Arc::new(Matcher::default()),
            unsized_untyped: false,
            ..stream_types(false)
        };
        assert_eq!(off.media(b"text/plain"), Media::Other);
        assert_eq!(off.media(b""), Media::Other);
        assert_eq!(off.media(b"text/event-stream"), Media::Stream);
        // A type in both lists is a stream type.
        let both = StreamTypes {
            unsized_types: Arc::new(Matcher::new(type_list(&[b"application/x-ndjson"]))),
            ..stream_types(false)
        };
        assert_eq!(both.media(b"application/x-ndjson"), Media::Stream);
    }

    #[test]
    fn configured_lists() {
        let list = config_types(
            Some(EVENT_STREAM),
            [
                &b"Application/X-NDJSON"[..],
                b"text/event-stream",
                b"application/x-ndjson",
            ],
        )
        .ok();
        assert_eq!(
            list,
            Some(type_list(&[EVENT_STREAM, b"application/x-ndjson"]))
        );
        assert_eq!(
            config_types(None, [&b"text/plain"[..], b"text/*", b"x/y"]),
            Err(&b"text/*"[..])
        );
        assert_eq!(config_types(None, []), Ok(vec![]));
        // The defaults are valid configuration values, without duplicates.
        for list in [DEFAULT_STREAM_TYPES, DEFAULT_UNSIZED_TYPES] {
            let parsed = config_types(None, list.iter().copied()).ok();
            assert_eq!(parsed, Some(type_list(list)));
        }
        assert_eq!(DEFAULT_STREAM_TYPES[0], EVENT_STREAM);
    }

    #[test]
    fn accepts_event_stream_variants() {
        for v in [
            &b"text/event-stream"[..],
            b"TEXT/EVENT-STREAM",
            b"Text/Event-Stream",
            b"text/event-stream;charset=utf-8",
            b"text/event-stream; charset=utf-8",
            b"text/event-stream ; charset=UTF-8",
            b"text/event-stream\t;\tcharset=utf-8",
            b"  text/event-stream",
            b"\ttext/event-stream",
            b"text/event-stream  ",
            b"text/event-stream;",
            b"text/event-stream;;",
            b"text/event-stream; charset=\"utf-8\"",
            b"text/event-stream; foo=bar",
            b"text/event-stream; foo=\"a;b\"; charset=utf-8",
            b"text/event-stream; =broken",
            b"text/event-stream; no-equals-sign",
            b"text/event-stream; charset=\"unterminated",
            b"text/event-stream; charset=\xff\xfe",
            b"text/event-stream;\0",
        ] {
            assert!(is_sse(v), "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn rejects_other_and_malformed_values() {
        for v in [
            &b""[..],
            b" ",
            b";",
            b"text",
            b"text/",
            b"/event-stream",
            b"text/event",
            b"text/event-streamX",
            b"text/event-stream-x",
            b"text/event-stream.json",
            b"text/event-streams",
            b"xtext/event-stream",
            b"text /event-stream",
            b"text/ event-stream",
            b"text/event stream",
            b"text/event-stream x",
            b"text/event-stream, text/html",
            b"text/event-stream\0",
            b"\0text/event-stream",
            b"text/event-str\0eam",
            b"text/\xc3\xa9vent-stream",
            b"text/event-stream\xff",
            b"text\\/event-stream",
            b"\"text/event-stream\"",
            b"application/json",
            b"text/plain",
            b"text/html; charset=text/event-stream",
            b"application/x-ndjson",
            b"text/event-stream\r\n",
            b"\x0btext/event-stream",
        ] {
            assert!(!is_sse(v), "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn very_long_values() {
        let mut v = b"text/event-stream;".to_vec();
        v.extend(std::iter::repeat_n(b'a', 1 << 20));
        assert!(is_sse(&v));

        let mut long_subtype = b"text/event-stream".to_vec();
        long_subtype.extend(std::iter::repeat_n(b'x', 1 << 20));
        assert!(!is_sse(&long_subtype));

        let mut leading = vec![b' '; 1 << 20];
        leading.extend_from_slice(b"text/event-stream");
        assert!(is_sse(&leading));
    }

    #[test]
    fn finds_configured_types() {
        let types: &[&[u8]] = &[EVENT_STREAM, b"application/x-ndjson", b"text/plain"];
        assert_eq!(
            find(b"Application/X-NDJSON", types).copied(),
            Some(&b"application/x-ndjson"[..])
        );
        assert_eq!(
            find(b"text/plain; charset=utf-8", types).copied(),
            Some(&b"text/plain"[..])
        );
        assert_eq!(
            find(b"text/event-stream", types).copied(),
            Some(EVENT_STREAM)
        );
        assert_eq!(find(b"text/plainx", types), None);
        assert_eq!(find(b"application/json", types), None);
        assert_eq!(find::<&[u8]>(b"text/event-stream", &[]), None);
    }

    #[test]
    fn essence_strips_whitespace_and_parameters() {
        assert_eq!(
            essence(b" Text/Event-Stream ; a=b"),
            Some(&b"Text/Event-Stream"[..])
        );
        assert_eq!(
            essence(b"application/vnd.api+json"),
            Some(&b"application/vnd.api+json"[..])
        );
        assert_eq!(essence(b"text/event-stream x"), None);
    }

    #[test]
    fn config_type_values() {
        assert_eq!(
            parse_config_type(b"Application/X-NDJSON"),
            Some(b"application/x-ndjson".to_vec())
        );
        assert_eq!(
            parse_config_type(b"text/plain"),
            Some(b"text/plain".to_vec())
        );
        for bad in [
            &b""[..],
            b"text",
            b"text/",
            b"*",
            b"text/plain; charset=utf-8",
            b"text/plain;",
            b" text/plain",
            b"text/plain ",
            b"text/pl ain",
            b"text/pl\xc3\xa4in",
        ] {
            assert_eq!(
                parse_config_type(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // `*` is a tchar, so wildcards parse as media types; they are refused all the same.
        for wildcard in [&b"*/*"[..], b"text/*", b"*/plain"] {
            assert!(essence(wildcard).is_some());
            assert_eq!(parse_config_type(wildcard), None);
        }
    }
}
