//! Straightforward reference implementations, written for clarity rather than speed, that the
//! differential tests (`cargo test`, `examples/differential.rs`) compare the real ones with.

use alloc::vec::Vec;

/// `tchar` from RFC 9110 §5.6.2, spelled out.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// The media type of a `Content-Type` value, lowercased: the part before the first `;`,
/// without surrounding spaces and tabs, if it is `token/token`.
pub fn media_type(value: &[u8]) -> Option<Vec<u8>> {
    let head = value.split(|&c| c == b';').next().unwrap_or_default();
    let start = head.iter().position(|&c| c != b' ' && c != b'\t')?;
    let end = head.iter().rposition(|&c| c != b' ' && c != b'\t')? + 1;
    let essence = &head[start..end];
    let parts: Vec<&[u8]> = essence.split(|&c| c == b'/').collect();
    if parts.len() != 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.iter().all(|&c| is_tchar(c)))
    {
        return None;
    }
    Some(essence.to_ascii_lowercase())
}

/// Whether a whole event stream ends at an event boundary: split it into lines (CRLF, LF or
/// CR) and look whether the last line ended is empty, with nothing after it.
pub fn at_boundary(stream: &[u8]) -> bool {
    let mut at_boundary = true;
    let mut line_has_content = false;
    let mut prev_cr = false;
    for &b in stream {
        match b {
            b'\n' if prev_cr => prev_cr = false,
            b'\r' | b'\n' => {
                at_boundary = !line_has_content;
                line_has_content = false;
                prev_cr = b == b'\r';
            }
            _ => {
                at_boundary = false;
                line_has_content = true;
                prev_cr = false;
            }
        }
    }
    at_boundary
}
