//! Event-stream parsing on the client side: splits the body into events (ended by an empty
//! line, `\n\n` or `\r\n\r\n`) and reads the send time from the first `data:` field, as written
//! by the upstream: `data: <monotonic ns> <seq> <padding>`.

pub struct Parser {
    buf: Vec<u8>,
    /// Position up to which `buf` holds no event end.
    scanned: usize,
}

#[derive(Debug, PartialEq)]
pub enum Event {
    /// An event with a send time.
    Stamped(u64),
    /// An event or comment without one (`:ok`, a heartbeat, a foreign event).
    Other,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            buf: Vec::with_capacity(256),
            scanned: 0,
        }
    }

    pub fn feed(&mut self, data: &[u8], on_event: &mut impl FnMut(Event)) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        let mut i = self.scanned.max(start);
        while i + 1 < self.buf.len() {
            let end = if self.buf[i] == b'\n' && self.buf[i + 1] == b'\n' {
                Some(i + 2)
            } else if i + 3 < self.buf.len() && &self.buf[i..i + 4] == b"\r\n\r\n" {
                Some(i + 4)
            } else {
                None
            };
            match end {
                Some(e) => {
                    on_event(parse_event(&self.buf[start..e]));
                    start = e;
                    i = e;
                }
                None => i += 1,
            }
        }
        self.buf.drain(..start);
        // A "\r\n\r" or "\n" at the end may still become an event end.
        self.scanned = self.buf.len().saturating_sub(3);
    }
}

fn parse_event(ev: &[u8]) -> Event {
    for line in ev.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 19 {
                return Event::Other;
            }
            let mut v: u64 = 0;
            for &d in &rest[..digits] {
                v = v.wrapping_mul(10).wrapping_add((d - b'0') as u64);
            }
            return Event::Stamped(v);
        }
    }
    Event::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere() {
        let body = b":ok\n\ndata: 123 0 xx\n\nid: 1\ndata: 456 1\r\n\r\ndata: 7";
        for piece in 1..body.len() {
            let mut p = Parser::new();
            let mut got = Vec::new();
            for c in body.chunks(piece) {
                p.feed(c, &mut |e| got.push(e));
            }
            assert_eq!(
                got,
                vec![Event::Other, Event::Stamped(123), Event::Stamped(456)],
                "piece {piece}"
            );
        }
    }
}
