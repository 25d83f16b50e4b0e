//! The load client: N concurrent SSE streams over HTTP/1.1 (plain or TLS), opened at a bounded
//! rate; per-event delivery latency, errors, and RSS/CPU of the processes under test.
//!
//! Phases: a baseline sample of the processes; the streams are opened (step by step with
//! `--steps`, a settled RSS sample after each step); `--warmup` seconds; `--duration` seconds
//! of measurement (only events received in this window enter the latency histogram); then every
//! stream is dropped and the JSON report is written.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::args::Args;
use crate::clock::now_ns;
use crate::hist::Hist;
use crate::http::{head_end, parse_response_head, parse_url, ChunkDecoder, Framing, Url};
use crate::procstat;
use crate::sse;

#[derive(Default)]
struct Counters {
    attempted: AtomicU64,
    established: AtomicU64,
    open: AtomicU64,
    completed: AtomicU64,
    err_connect: AtomicU64,
    err_http: AtomicU64,
    err_read: AtomicU64,
    err_eof: AtomicU64,
    events: AtomicU64,
    events_measured: AtomicU64,
    unstamped: AtomicU64,
    bytes: AtomicU64,
    /// Per sample interval (reset by the sampler): events slower than 20 ms, slowest event.
    slow: AtomicU64,
    window_max_ns: AtomicU64,
}

struct Shared {
    url: Url,
    request: Vec<u8>,
    tls: Option<tokio_rustls::TlsConnector>,
    reconnect: bool,
    connect_timeout: Duration,
    c: Counters,
    hist: Hist,
    /// CLOCK_MONOTONIC ns of the measurement window; 0 = not started / not ended.
    measure_from: AtomicU64,
    measure_to: AtomicU64,
}

enum Failure {
    Connect,
    Http,
    Read,
}

pub fn main(args: Args) -> Result<(), String> {
    let mut url = parse_url(args.required("url")?)?;
    if args.flag("tls") {
        url.tls = true;
    }
    let streams: u64 = args.num("streams", 1)?;
    let duration: f64 = args.num("duration", 10.0)?;
    let warmup: f64 = args.num("warmup", 1.0)?;
    let connect_rate: f64 = args.num("connect-rate", 1000.0)?;
    let sample_interval: f64 = args.num("sample-interval", 1.0)?;
    let settle: f64 = args.num("settle", 2.0)?;
    let open_timeout: f64 = args.num("open-timeout", 30.0)?;
    let threads: usize = args.num("threads", 1)?;
    let pids: Vec<i32> = args.list("pids")?;
    let mut steps: Vec<u64> = args.list("steps")?;
    steps.retain(|&s| s > 0 && s < streams);
    steps.push(streams);
    let label = args.str("label").unwrap_or("").to_string();

    let nofile = crate::raise_nofile(20_000);
    if nofile < streams + 64 {
        return Err(format!(
            "RLIMIT_NOFILE is {nofile}, too low for {streams} streams"
        ));
    }

    let request = if args.flag("browser-headers") {
        browser_request(&url)
    } else {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: sse-bench\r\n\r\n",
            url.target, url.host, url.port
        )
    }
    .into_bytes();
    let shared = Arc::new(Shared {
        tls: if url.tls {
            Some(crate::tls::connector()?)
        } else {
            None
        },
        url: url.clone(),
        request,
        reconnect: args.flag("reconnect"),
        connect_timeout: Duration::from_secs_f64(args.num("connect-timeout", 10.0)?),
        c: Counters::default(),
        hist: Hist::new(),
        measure_from: AtomicU64::new(0),
        measure_to: AtomicU64::new(0),
    });

    let rt = crate::runtime(threads)?;
    let report = rt.block_on(run(
        shared,
        RunOpts {
            streams,
            duration,
            warmup,
            connect_rate,
            sample_interval,
            settle,
            open_timeout,
            pids,
            steps,
        },
    ));
    let mut report = report?;
    report["label"] = json!(label);
    report["url"] = json!(args.str("url"));
    report["tls"] = json!(url.tls);
    emit_summary(&report);
    crate::emit(&report, args.str("out"))?;
    // Dropping thousands of sockets in the runtime's destructor is fine; do not wait for tasks.
    rt.shutdown_background();
    Ok(())
}

/// The request of a browser's EventSource (Chromium's headers, a session cookie): ~750 bytes,
/// more than nginx's default 1k `client_header_buffer_size` minus what a minimal request uses.
fn browser_request(url: &Url) -> String {
    let origin = format!("http://{}:{}", url.host, url.port);
    format!(
        "GET {target} HTTP/1.1\r\n\
         Host: {host}:{port}\r\n\
         Connection: keep-alive\r\n\
         sec-ch-ua-platform: \"Linux\"\r\n\
         Cache-Control: no-cache\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
         sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
         sec-ch-ua-mobile: ?0\r\n\
         Accept: text/event-stream\r\n\
         Origin: {origin}\r\n\
         Sec-Fetch-Site: same-origin\r\n\
         Sec-Fetch-Mode: cors\r\n\
         Sec-Fetch-Dest: empty\r\n\
         Referer: {origin}/dashboard\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\
         Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
         Cookie: session=3f9a0c1e5b7d2a4c6e8f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d; _ga=GA1.1.1234567890.1700000000; theme=dark\r\n\
         \r\n",
        target = url.target,
        host = url.host,
        port = url.port,
    )
}

struct RunOpts {
    streams: u64,
    duration: f64,
    warmup: f64,
    connect_rate: f64,
    sample_interval: f64,
    settle: f64,
    open_timeout: f64,
    pids: Vec<i32>,
    steps: Vec<u64>,
}

fn emit_summary(r: &Value) {
    let l = &r["latency_us"];
    eprintln!(
        "sse-bench load {}: streams {} open {} events {} (measured {}) errors {} | latency us p50 {} p99 {} max {} | rss/stream {} KiB | steal {}%",
        r["label"].as_str().unwrap_or(""),
        r["streams"],
        r["connections"]["open_at_end"],
        r["events"]["total"],
        r["events"]["measured"],
        r["errors"]["total"],
        l["p50"],
        l["p99"],
        l["max"],
        r["resources"]["rss_per_stream_kib"],
        r["machine"]["steal_pct"],
    );
}

async fn run(shared: Arc<Shared>, o: RunOpts) -> Result<Value, String> {
    let t0 = Instant::now();
    let ticks = procstat::ticks_per_s();
    let baseline = procstat::sample(&o.pids);
    let series: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();

    // Periodic samples of the processes under test.
    let sampler = {
        let series = series.clone();
        let pids = o.pids.clone();
        let shared = shared.clone();
        let every = Duration::from_secs_f64(o.sample_interval.max(0.05));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut machine = procstat::machine_ticks();
            loop {
                tick.tick().await;
                let m = procstat::machine_ticks();
                let (_, _, steal) = procstat::machine_split(&machine, &m);
                machine = m;
                let s = if pids.is_empty() {
                    procstat::Sample::default()
                } else {
                    procstat::sample(&pids)
                };
                series.lock().unwrap().push(json!([
                    round3(t0.elapsed().as_secs_f64()),
                    shared.c.open.load(Relaxed),
                    s.rss_kib,
                    round3(s.cpu_ticks as f64 / ticks),
                    shared.c.events.load(Relaxed),
                    shared.c.slow.swap(0, Relaxed),
                    round3(shared.c.window_max_ns.swap(0, Relaxed) as f64 / 1000.0),
                    round3(steal),
                ]));
            }
        })
    };

    let mut tasks: Vec<JoinHandle<()>> = Vec::with_capacity(o.streams as usize);
    let mut step_reports = Vec::new();
    let ramp_start = Instant::now();
    for &target in &o.steps {
        open_streams(&shared, &mut tasks, target, o.connect_rate).await;
        // Wait until every stream of this step is open (or failed for good).
        let deadline = Instant::now() + Duration::from_secs_f64(o.open_timeout);
        while Instant::now() < deadline {
            let c = &shared.c;
            let settled =
                c.open.load(Relaxed) + c.err_connect.load(Relaxed) + c.err_http.load(Relaxed);
            if settled >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !o.pids.is_empty() && (o.steps.len() > 1 || o.settle > 0.0) {
            tokio::time::sleep(Duration::from_secs_f64(o.settle)).await;
            let s = median_sample(&o.pids).await;
            let open = shared.c.open.load(Relaxed);
            let delta = s.rss_kib as f64 - baseline.rss_kib as f64;
            step_reports.push(json!({
                "target": target,
                "open": open,
                "rss_kib": s.rss_kib,
                "delta_kib": delta,
                "per_stream_kib": if open > 0 { json!(round3(delta / open as f64)) } else { Value::Null },
                "procs": s.procs,
            }));
        }
    }
    let ramp_s = ramp_start.elapsed().as_secs_f64();
    let open_at_start = shared.c.open.load(Relaxed);

    tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
    let before = procstat::sample(&o.pids);
    let me_before = procstat::sample(&[std::process::id() as i32]);
    let machine_before = procstat::machine_ticks();
    let events_before = shared.c.events.load(Relaxed);
    let m0 = Instant::now();
    shared.measure_from.store(now_ns(), Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(o.duration)).await;
    shared.measure_to.store(now_ns(), Relaxed);
    let measured_s = m0.elapsed().as_secs_f64();
    let after = procstat::sample(&o.pids);
    let (busy_pct, idle_pct, steal_pct) =
        procstat::machine_split(&machine_before, &procstat::machine_ticks());
    let me_after = procstat::sample(&[std::process::id() as i32]);
    let events_in_window = shared.c.events.load(Relaxed) - events_before;
    let open_at_end = shared.c.open.load(Relaxed);

    sampler.abort();
    for t in &tasks {
        t.abort();
    }

    let c = &shared.c;
    let h = &shared.hist;
    let us = |ns: u64| round3(ns as f64 / 1000.0);
    let mut cdf = Vec::new();
    if h.count() > 0 {
        let mut qs: Vec<f64> = vec![0.0, 0.001, 0.005];
        qs.extend((1..100).map(|i| i as f64 / 100.0));
        qs.extend((1..10).map(|i| 0.99 + i as f64 / 1000.0));
        qs.extend((1..10).map(|i| 0.999 + i as f64 / 10000.0));
        qs.push(1.0);
        for q in qs {
            cdf.push(json!([us(h.quantile(q)), q]));
        }
    }
    let errors = c.err_connect.load(Relaxed)
        + c.err_http.load(Relaxed)
        + c.err_read.load(Relaxed)
        + c.err_eof.load(Relaxed);
    let cpu_s = if after.cpu_ns > 0 {
        after.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e9
    } else {
        after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks
    };
    let open_for_mem = open_at_end.max(1);
    let rss_delta = after.rss_kib as f64 - baseline.rss_kib as f64;
    let series = std::mem::take(&mut *series.lock().unwrap());
    Ok(json!({
        "tool": "sse-bench load",
        "streams": o.streams,
        "duration_s": round3(measured_s),
        "warmup_s": o.warmup,
        "connect_rate": o.connect_rate,
        "ramp_s": round3(ramp_s),
        "reconnect": shared.reconnect,
        "connections": {
            "attempted": c.attempted.load(Relaxed),
            "established": c.established.load(Relaxed),
            "completed": c.completed.load(Relaxed),
            "open_at_start": open_at_start,
            "open_at_end": open_at_end,
        },
        "errors": {
            "connect": c.err_connect.load(Relaxed),
            "http": c.err_http.load(Relaxed),
            "read": c.err_read.load(Relaxed),
            "eof": c.err_eof.load(Relaxed),
            "total": errors,
        },
        "events": {
            "total": c.events.load(Relaxed),
            "measured": c.events_measured.load(Relaxed),
            "in_window": events_in_window,
            "rate_per_s": round3(events_in_window as f64 / measured_s),
            "unstamped": c.unstamped.load(Relaxed),
            "bytes": c.bytes.load(Relaxed),
        },
        "latency_us": {
            "count": h.count(),
            "min": us(h.min()),
            "mean": round3(h.mean() / 1000.0),
            "p50": us(h.quantile(0.5)),
            "p90": us(h.quantile(0.9)),
            "p99": us(h.quantile(0.99)),
            "p999": us(h.quantile(0.999)),
            "p9999": us(h.quantile(0.9999)),
            "max": us(h.max()),
        },
        "cdf": cdf,
        "hist_ns": h.buckets().iter().map(|&(lo, hi, n)| json!([lo, hi, n])).collect::<Vec<_>>(),
        "resources": {
            "pids": procstat::with_descendants(&o.pids),
            "rss_kib_baseline": baseline.rss_kib,
            "rss_kib_end": after.rss_kib,
            "rss_per_stream_kib": if o.pids.is_empty() { Value::Null } else { json!(round3(rss_delta / open_for_mem as f64)) },
            "cpu_s_measure": (cpu_s * 1e6).round() / 1e6,
            "cpu_pct_measure": round3(100.0 * cpu_s / measured_s),
            "series_cols": ["t_s", "open", "rss_kib", "cpu_s", "events", "slow_20ms", "max_us", "steal_pct"],
            "series": series,
        },
        "steps": step_reports,
        "machine": {
            "busy_pct": round3(busy_pct),
            "idle_pct": round3(idle_pct),
            "steal_pct": round3(steal_pct),
        },
        "client": {
            "rss_kib": me_after.rss_kib,
            "cpu_s_measure": round3(me_after.cpu_ns.saturating_sub(me_before.cpu_ns) as f64 / 1e9),
        },
    }))
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

async fn median_sample(pids: &[i32]) -> procstat::Sample {
    let mut v = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        v.push(procstat::sample(pids));
    }
    v.sort_by_key(|s| s.rss_kib);
    v[1]
}

/// Spawns streams until `target` exist, at most `rate` per second.
async fn open_streams(
    shared: &Arc<Shared>,
    tasks: &mut Vec<JoinHandle<()>>,
    target: u64,
    rate: f64,
) {
    let start = Instant::now();
    let first = tasks.len() as u64;
    while (tasks.len() as u64) < target {
        let due = first + (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        while (tasks.len() as u64) < target.min(due) {
            let s = shared.clone();
            tasks.push(tokio::spawn(conn_task(s)));
        }
        if (tasks.len() as u64) < target {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

async fn conn_task(shared: Arc<Shared>) {
    loop {
        shared.c.attempted.fetch_add(1, Relaxed);
        let r = one_stream(&shared).await;
        let c = &shared.c;
        let ended = shared.measure_to.load(Relaxed) != 0;
        match r {
            Ok(()) => {
                c.completed.fetch_add(1, Relaxed);
                if !shared.reconnect {
                    if !ended {
                        c.err_eof.fetch_add(1, Relaxed);
                    }
                    return;
                }
            }
            Err(f) => {
                if !ended {
                    match f {
                        Failure::Connect => &c.err_connect,
                        Failure::Http => &c.err_http,
                        Failure::Read => &c.err_read,
                    }
                    .fetch_add(1, Relaxed);
                }
                if !shared.reconnect {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn one_stream(shared: &Shared) -> Result<(), Failure> {
    let addr = (shared.url.host.as_str(), shared.url.port);
    let tcp = tokio::time::timeout(shared.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Failure::Connect)?
        .map_err(|_| Failure::Connect)?;
    tcp.set_nodelay(true).map_err(|_| Failure::Connect)?;
    match &shared.tls {
        None => read_stream(shared, tcp).await,
        Some(connector) => {
            let name = crate::tls::server_name(&shared.url.host).map_err(|_| Failure::Connect)?;
            let tls = tokio::time::timeout(shared.connect_timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| Failure::Connect)?
                .map_err(|_| Failure::Connect)?;
            read_stream(shared, tls).await
        }
    }
}

/// Decrements the open-stream gauge when a stream ends, however it ends.
struct OpenGuard<'a>(&'a AtomicU64);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn read_stream<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    mut s: S,
) -> Result<(), Failure> {
    let c = &shared.c;
    s.write_all(&shared.request)
        .await
        .map_err(|_| Failure::Connect)?;
    s.flush().await.map_err(|_| Failure::Connect)?;
    let mut buf = vec![0u8; 4096];
    let mut head: Vec<u8> = Vec::new();
    let (resp, body_start) = loop {
        let n = s.read(&mut buf).await.map_err(|_| Failure::Http)?;
        if n == 0 {
            return Err(Failure::Http);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head) {
            let resp = parse_response_head(&head[..end]).map_err(|_| Failure::Http)?;
            break (resp, end);
        }
        if head.len() > 32 * 1024 {
            return Err(Failure::Http);
        }
    };
    if resp.status != 200
        || !resp
            .content_type
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
    {
        return Err(Failure::Http);
    }
    c.established.fetch_add(1, Relaxed);
    c.open.fetch_add(1, Relaxed);
    let _guard = OpenGuard(&c.open);

    let mut parser = sse::Parser::new();
    let mut chunks = ChunkDecoder::new();
    let mut remaining = match resp.framing {
        Framing::Length(n) => n,
        _ => u64::MAX,
    };
    let mut bad_framing = false;
    let mut body = |data: &[u8], now: u64| -> bool {
        let from = shared.measure_from.load(Relaxed);
        let to = shared.measure_to.load(Relaxed);
        let measuring = from != 0 && now >= from && to == 0;
        let mut on_event = |e: sse::Event| match e {
            sse::Event::Stamped(t) => {
                c.events.fetch_add(1, Relaxed);
                if measuring {
                    c.events_measured.fetch_add(1, Relaxed);
                    let lat = now.saturating_sub(t);
                    shared.hist.record(lat);
                    if lat > 20_000_000 {
                        c.slow.fetch_add(1, Relaxed);
                    }
                    c.window_max_ns.fetch_max(lat, Relaxed);
                }
            }
            sse::Event::Other => {
                c.unstamped.fetch_add(1, Relaxed);
            }
        };
        match resp.framing {
            Framing::Chunked => {
                if chunks
                    .feed(data, &mut |p| parser.feed(p, &mut on_event))
                    .is_err()
                {
                    bad_framing = true;
                    return true;
                }
                chunks.done()
            }
            Framing::Length(_) => {
                let n = (data.len() as u64).min(remaining) as usize;
                parser.feed(&data[..n], &mut on_event);
                remaining -= n as u64;
                remaining == 0
            }
            Framing::Close => {
                parser.feed(data, &mut on_event);
                false
            }
        }
    };
    let leftover = head.split_off(body_start);
    drop(head);
    c.bytes.fetch_add(leftover.len() as u64, Relaxed);
    if !leftover.is_empty() && body(&leftover, now_ns()) {
        return if bad_framing {
            Err(Failure::Read)
        } else {
            Ok(())
        };
    }
    drop(leftover);
    loop {
        let n = s.read(&mut buf).await.map_err(|_| Failure::Read)?;
        let now = now_ns();
        if n == 0 {
            // Close-delimited: a clean end. Chunked or sized: cut short.
            return match resp.framing {
                Framing::Close => Ok(()),
                _ => Err(Failure::Read),
            };
        }
        c.bytes.fetch_add(n as u64, Relaxed);
        if body(&buf[..n], now) {
            return if bad_framing {
                Err(Failure::Read)
            } else {
                Ok(())
            };
        }
    }
}
