//! Plain keep-alive GETs, `--concurrency` connections each sending its share of `--requests`
//! one after another: the non-SSE load of the callgrind comparison.

use std::time::Instant;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::args::Args;
use crate::http::{head_end, parse_response_head, parse_url, Framing, Url};

pub fn main(args: Args) -> Result<(), String> {
    let url = parse_url(args.required("url")?)?;
    if url.tls {
        return Err("plain: http:// only".into());
    }
    let requests: u64 = args.num("requests", 1000)?;
    let concurrency: u64 = args.num::<u64>("concurrency", 1)?.max(1);
    let rt = crate::runtime(1)?;
    let t0 = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..concurrency {
            let share = requests / concurrency + u64::from(i < requests % concurrency);
            let url = url.clone();
            tasks.push(tokio::spawn(async move { client(&url, share).await }));
        }
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await.unwrap_or((0, 1)));
        }
        v
    });
    let elapsed = t0.elapsed().as_secs_f64();
    let ok: u64 = results.iter().map(|r| r.0).sum();
    let errors: u64 = results.iter().map(|r| r.1).sum();
    let report = json!({
        "tool": "sse-bench plain",
        "url": args.str("url"),
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "elapsed_s": elapsed,
        "rps": ok as f64 / elapsed,
    });
    eprintln!("sse-bench plain: {ok} ok, {errors} errors in {elapsed:.2} s");
    crate::emit(&report, args.str("out"))?;
    if errors > 0 {
        return Err(format!("{errors} requests failed"));
    }
    Ok(())
}

/// Sends `n` requests over keep-alive connections (reconnecting when the server closes);
/// returns (ok, errors).
async fn client(url: &Url, n: u64) -> (u64, u64) {
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: sse-bench\r\n\r\n",
        url.target, url.host, url.port
    );
    let (mut ok, mut errors) = (0, 0);
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 64 * 1024];
    while ok + errors < n {
        if conn.is_none() {
            match TcpStream::connect((url.host.as_str(), url.port)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                }
                Err(_) => {
                    errors += 1;
                    continue;
                }
            }
        }
        let s = conn.as_mut().unwrap();
        match exchange(s, req.as_bytes(), &mut buf).await {
            Ok(keep) => {
                ok += 1;
                if !keep {
                    conn = None;
                }
            }
            Err(()) => {
                errors += 1;
                conn = None;
            }
        }
    }
    (ok, errors)
}

/// One request and its response; Ok(keep-alive).
async fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut [u8]) -> Result<bool, ()> {
    s.write_all(req).await.map_err(|_| ())?;
    let mut got: Vec<u8> = Vec::new();
    loop {
        let n = s.read(buf).await.map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&got) {
            let head = parse_response_head(&got[..end]).map_err(|_| ())?;
            if head.status != 200 {
                return Err(());
            }
            let text = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let keep = !text.contains("connection: close");
            match head.framing {
                Framing::Length(len) => {
                    let mut have = (got.len() - end) as u64;
                    while have < len {
                        let n = s.read(buf).await.map_err(|_| ())?;
                        if n == 0 {
                            return Err(());
                        }
                        have += n as u64;
                    }
                }
                // A response without a length (nginx chunks it): read to the last chunk,
                // which ends every such response the upstream here sends.
                Framing::Chunked => {
                    let mut body = got[end..].to_vec();
                    while !body.ends_with(b"\r\n0\r\n\r\n") {
                        let n = s.read(buf).await.map_err(|_| ())?;
                        if n == 0 {
                            return Err(());
                        }
                        body.extend_from_slice(&buf[..n]);
                    }
                }
                Framing::Close => return Err(()),
            }
            return Ok(keep);
        }
    }
}
