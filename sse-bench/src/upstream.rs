//! The SSE upstream emulator.
//!
//! `GET /sse?...` streams events shaped by the query string:
//!
//! | key         | default | meaning                                                        |
//! |-------------|---------|----------------------------------------------------------------|
//! | `n`         | 0       | events, then the response ends; 0: endless                     |
//! | `rate`      | 1       | events per second (per stream)                                 |
//! | `size`      | 0       | padding bytes in each event's data                             |
//! | `gap_every` | 0       | after every `gap_every` events, a silence of `gap_ms`          |
//! | `gap_ms`    | 0       |                                                                |
//! | `delay_ms`  | 1/rate  | before the first event                                         |
//! | `chunked`   | 0       | 1: chunked (HTTP/1.1 requests only); otherwise close-delimited |
//! | `hello`     | 1       | send a `:ok` comment with the header, so it is flushed at once |
//!
//! An event is `data: <CLOCK_MONOTONIC ns> <seq> <padding>\n\n`, the time taken right before
//! its write. `GET /plain?size=N` answers a text/plain body of N bytes with Content-Length
//! (`&unsized=1`: a text/html body without one, chunked or close-delimited) and
//! keep-alive (HTTP/1.1, or HTTP/1.0 with `Connection: keep-alive`).

use std::io::Write as _;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::args::Args;
use crate::clock::now_ns;
use crate::http::{head_end, parse_request_head, query, RequestHead};

pub fn main(args: Args) -> Result<(), String> {
    let listen: std::net::SocketAddr = args
        .required("listen")?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let threads: usize = args.num("threads", 1)?;
    raise_limits();
    let rt = crate::runtime(threads)?;
    rt.block_on(async move {
        let sock = if listen.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| e.to_string())?;
        sock.set_reuseaddr(true).map_err(|e| e.to_string())?;
        sock.bind(listen)
            .map_err(|e| format!("bind {listen}: {e}"))?;
        let listener = sock.listen(8192).map_err(|e| e.to_string())?;
        eprintln!("sse-bench upstream: listening on {listen}");
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(async move {
                        let _ = serve(s).await;
                    });
                }
                Err(e) => {
                    // Out of descriptors, say: do not spin.
                    eprintln!("sse-bench upstream: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}

fn raise_limits() {
    let n = crate::raise_nofile(20_000);
    if n < 20_000 {
        eprintln!("sse-bench upstream: RLIMIT_NOFILE is {n}");
    }
}

async fn serve(mut s: TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        // Read one request head (pipelined bytes after it stay in buf).
        let end = loop {
            if let Some(e) = head_end(&buf) {
                break e;
            }
            if buf.len() > 16 * 1024 {
                return Ok(());
            }
            let mut chunk = [0u8; 2048];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let req = match parse_request_head(&buf[..end]) {
            Ok(r) => r,
            Err(_) => {
                s.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
                return Ok(());
            }
        };
        buf.drain(..end);
        let path = req.target.split('?').next().unwrap_or("");
        let again = if path == "/plain" {
            plain(&mut s, &req).await?
        } else if path == "/health" {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
                .await?;
            false
        } else {
            stream(&mut s, &req).await?
        };
        if !again {
            let _ = s.shutdown().await;
            return Ok(());
        }
    }
}

async fn plain(s: &mut TcpStream, req: &RequestHead) -> std::io::Result<bool> {
    let mut size = 0usize;
    // `unsized=1`: an HTML page without Content-Length (chunked, or close-delimited for
    // HTTP/1.0), as PHP and template engines send them
    let mut no_length = false;
    for (k, v) in query(&req.target) {
        if k == "size" {
            size = v.parse().unwrap_or(0);
        } else if k == "unsized" {
            no_length = v == "1";
        }
    }
    let mut out = Vec::with_capacity(160 + size);
    let conn = if !req.keep_alive {
        "Connection: close\r\n"
    } else if !req.http11 {
        "Connection: keep-alive\r\n"
    } else {
        ""
    };
    if no_length {
        let (framing, keep) = if req.http11 {
            ("Transfer-Encoding: chunked\r\n", req.keep_alive)
        } else {
            ("Connection: close\r\n", false)
        };
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{framing}\r\n"
        );
        if req.method != "HEAD" {
            if req.http11 {
                let _ = write!(out, "{size:x}\r\n");
                out.resize(out.len() + size, b'x');
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            } else {
                out.resize(out.len() + size, b'x');
            }
        }
        s.write_all(&out).await?;
        return Ok(keep);
    }
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n{conn}\r\n"
    );
    if req.method != "HEAD" {
        out.resize(out.len() + size, b'x');
    }
    s.write_all(&out).await?;
    Ok(req.keep_alive)
}

struct Shape {
    n: u64,
    interval: Duration,
    size: usize,
    gap_every: u64,
    gap: Duration,
    delay: Duration,
    chunked: bool,
    hello: bool,
}

fn shape(req: &RequestHead) -> Shape {
    let mut sh = Shape {
        n: 0,
        interval: Duration::from_secs(1),
        size: 0,
        gap_every: 0,
        gap: Duration::ZERO,
        delay: Duration::MAX,
        chunked: false,
        hello: true,
    };
    for (k, v) in query(&req.target) {
        match k {
            "n" => sh.n = v.parse().unwrap_or(0),
            "rate" => {
                if let Ok(r) = v.parse::<f64>() {
                    if r > 0.0 {
                        sh.interval = Duration::from_secs_f64(1.0 / r);
                    }
                }
            }
            "size" => sh.size = v.parse().unwrap_or(0),
            "gap_every" => sh.gap_every = v.parse().unwrap_or(0),
            "gap_ms" => sh.gap = Duration::from_millis(v.parse().unwrap_or(0)),
            "delay_ms" => sh.delay = Duration::from_millis(v.parse().unwrap_or(0)),
            "chunked" => sh.chunked = v == "1",
            "hello" => sh.hello = v != "0",
            _ => {}
        }
    }
    if sh.delay == Duration::MAX {
        sh.delay = sh.interval;
    }
    // Chunked framing needs an HTTP/1.1 request.
    sh.chunked &= req.http11;
    sh
}

/// Appends `payload` to `out`, as a chunk when `chunked`.
fn frame(out: &mut Vec<u8>, payload: &[u8], chunked: bool) {
    if chunked {
        let _ = write!(out, "{:x}\r\n", payload.len());
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(payload);
    }
}

async fn stream(s: &mut TcpStream, req: &RequestHead) -> std::io::Result<bool> {
    let sh = shape(req);
    let mut out: Vec<u8> = Vec::with_capacity(256 + sh.size);
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
    );
    if sh.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        if !req.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if sh.hello {
        frame(&mut out, b":ok\n\n", sh.chunked);
    }
    s.write_all(&out).await?;
    if req.method == "HEAD" {
        return Ok(false);
    }

    let padding = vec![b'x'; sh.size];
    let mut event: Vec<u8> = Vec::with_capacity(64 + sh.size);
    let mut next = Instant::now() + sh.delay;
    let mut seq: u64 = 0;
    while sh.n == 0 || seq < sh.n {
        tokio::time::sleep_until(next).await;
        event.clear();
        out.clear();
        let _ = write!(event, "data: {} {} ", now_ns(), seq);
        event.extend_from_slice(&padding);
        event.extend_from_slice(b"\n\n");
        frame(&mut out, &event, sh.chunked);
        s.write_all(&out).await?;
        seq += 1;
        next += sh.interval;
        if sh.gap_every > 0 && seq % sh.gap_every == 0 {
            next += sh.gap;
        }
        // A writer that fell behind (a stalled reader) does not burst to catch up.
        let now = Instant::now();
        if next + sh.interval < now {
            next = now;
        }
    }
    if sh.chunked {
        s.write_all(b"0\r\n\r\n").await?;
        Ok(req.keep_alive)
    } else {
        Ok(false)
    }
}
