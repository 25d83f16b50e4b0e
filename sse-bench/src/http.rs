//! The little HTTP/1.1 the tool needs: URLs, response heads, body framing (chunked,
//! Content-Length, close-delimited), request heads on the upstream side.

#[derive(Clone, Debug, PartialEq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with '/'.
    pub target: String,
}

pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("{url}: only http:// and https:// URLs"));
    };
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_string(),
            p.parse().map_err(|_| format!("{url}: bad port"))?,
        ),
        _ => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    Ok(Url {
        tls,
        host,
        port,
        target: target.to_string(),
    })
}

/// Where a complete head ends (after the empty line), if `buf` holds one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

#[derive(Debug, PartialEq)]
pub enum Framing {
    Chunked,
    Length(u64),
    Close,
}

#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: String,
    pub framing: Framing,
}

pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead, String> {
    let text = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_type = String::new();
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_string();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(value.parse().map_err(|_| "bad Content-Length")?);
        }
    }
    Ok(ResponseHead {
        status,
        content_type,
        framing,
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ChunkState {
    Size,
    Ext,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    Trailer { empty: bool },
    Done,
}

/// Decodes a chunked body incrementally.
pub struct ChunkDecoder {
    state: ChunkState,
    size: u64,
}

impl ChunkDecoder {
    pub fn new() -> ChunkDecoder {
        ChunkDecoder {
            state: ChunkState::Size,
            size: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    fn size_line_end(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::Trailer { empty: true }
        } else {
            ChunkState::Data(self.size)
        };
        self.size = 0;
    }

    /// Feeds body bytes; payload goes to `out`. Err on a framing error.
    pub fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<(), String> {
        while !input.is_empty() {
            if let ChunkState::Data(rem) = self.state {
                let n = (rem.min(input.len() as u64)) as usize;
                out(&input[..n]);
                input = &input[n..];
                self.state = if rem == n as u64 {
                    ChunkState::DataCr
                } else {
                    ChunkState::Data(rem - n as u64)
                };
                continue;
            }
            let b = input[0];
            input = &input[1..];
            match self.state {
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap() as u64;
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(d))
                            .ok_or("chunk size overflow")?;
                    }
                    b';' | b' ' | b'\t' => self.state = ChunkState::Ext,
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.size_line_end(),
                    _ => return Err(format!("bad chunk size byte {b:#x}")),
                },
                ChunkState::Ext => {
                    if b == b'\n' {
                        self.size_line_end();
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err("bad chunk size line".into());
                    }
                    self.size_line_end();
                }
                ChunkState::DataCr => match b {
                    b'\r' => self.state = ChunkState::DataLf,
                    b'\n' => self.state = ChunkState::Size,
                    _ => return Err("chunk data not followed by CRLF".into()),
                },
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err("chunk data not followed by CRLF".into());
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer { empty } => match b {
                    b'\n' if empty => self.state = ChunkState::Done,
                    b'\n' => self.state = ChunkState::Trailer { empty: true },
                    b'\r' => {}
                    _ => self.state = ChunkState::Trailer { empty: false },
                },
                ChunkState::Done => return Err("data after the last chunk".into()),
                ChunkState::Data(_) => unreachable!(),
            }
        }
        Ok(())
    }
}

/// A request head as the upstream sees it.
#[derive(Debug)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub http11: bool,
    pub keep_alive: bool,
}

pub fn parse_request_head(head: &[u8]) -> Result<RequestHead, String> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {line:?}"));
    };
    let http11 = version == "HTTP/1.1";
    if !http11 && version != "HTTP/1.0" {
        return Err(format!("bad version {version:?}"));
    }
    let mut keep_alive = http11;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("connection") {
                let v = value.trim().to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    Ok(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        http11,
        keep_alive,
    })
}

/// `key=value` pairs of a request target's query string.
pub fn query(target: &str) -> Vec<(&str, &str)> {
    target
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut d = ChunkDecoder::new();
        let mut out = Vec::new();
        for p in body.chunks(piece) {
            d.feed(p, &mut |b| out.extend_from_slice(b)).unwrap();
        }
        (out, d.done())
    }

    #[test]
    fn chunked_any_split() {
        let body = b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        for piece in 1..body.len() {
            let (out, done) = decode_in_pieces(body, piece);
            assert_eq!(out, b"helloabcdefghijklmnopqrstuvwxyz", "piece {piece}");
            assert!(done);
        }
        let (out, done) = decode_in_pieces(b"3\r\nabc\r\n", 2);
        assert_eq!(out, b"abc");
        assert!(!done);
        let mut d = ChunkDecoder::new();
        assert!(d.feed(b"3\r\nabcX", &mut |_| {}).is_err());
        assert!(ChunkDecoder::new().feed(b"zz\r\n", &mut |_| {}).is_err());
    }

    #[test]
    fn heads() {
        let h = parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.content_type, "text/event-stream");
        assert_eq!(h.framing, Framing::Chunked);
        let h =
            parse_response_head(b"HTTP/1.0 404 Not Found\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing), (404, Framing::Length(12)));
        let r = parse_request_head(b"GET /sse?n=3&rate=2 HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        assert!(!r.http11 && !r.keep_alive);
        assert_eq!(query(&r.target), vec![("n", "3"), ("rate", "2")]);
        let r = parse_request_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(r.http11 && !r.keep_alive);
        assert_eq!(head_end(b"a\r\n\r\nb"), Some(5));
    }

    #[test]
    fn urls() {
        let u = parse_url("https://127.0.0.1:8443/sse?n=1").unwrap();
        assert_eq!(
            u,
            Url {
                tls: true,
                host: "127.0.0.1".into(),
                port: 8443,
                target: "/sse?n=1".into()
            }
        );
        let u = parse_url("http://localhost").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
    }
}
