//! sse-bench: the benchmark tool of sse_auto.
//!
//! * `sse-bench upstream --listen 127.0.0.1:PORT` — an SSE upstream whose streams are shaped by
//!   the query string; every event carries the CLOCK_MONOTONIC time at which it was written.
//! * `sse-bench load --url URL --streams N --duration S` — N concurrent SSE streams, per-event
//!   delivery latency, errors, and the RSS/CPU of the proxy processes given with `--pids`.
//! * `sse-bench plain --url URL --requests N` — plain keep-alive GETs (for the callgrind runs).
//!
//! Results are JSON. The client and the upstream must run on the same machine: the latency of an
//! event is the reader's CLOCK_MONOTONIC minus the writer's, a clock shared by all processes.

mod args;
mod clock;
mod hist;
mod http;
mod load;
mod plain;
mod procstat;
mod sse;
mod tls;
mod upstream;

use std::process::ExitCode;

const USAGE: &str = "\
usage:
  sse-bench upstream --listen ADDR [--threads N]
      GET /sse?n=EVENTS&rate=PER_S&size=PAD_BYTES&gap_every=K&gap_ms=MS&chunked=0|1&hello=0|1
          an event stream: `data: <monotonic ns> <seq> <padding>` every 1/rate s; n=0: endless;
          after every K events a silence of MS ms; chunked=1 (HTTP/1.1 requests) or
          close-delimited; hello=1 (default) sends a `:ok` comment with the header
      GET /plain?size=BYTES   a text/plain body of that size (Content-Length, keep-alive)
  sse-bench load --url URL --streams N --duration S [--warmup S] [--connect-rate PER_S]
                 [--tls] [--pids PID,...] [--sample-interval S] [--steps N,N,...] [--settle S]
                 [--open-timeout S] [--reconnect] [--browser-headers] [--threads N] [--label NAME] [--out FILE]
  sse-bench plain --url URL --requests N [--concurrency C] [--out FILE]
";

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv[0] == "-h" || argv[0] == "--help" {
        eprint!("{USAGE}");
        return if argv.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let cmd = argv.remove(0);
    let parsed = match args::Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sse-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "upstream" => upstream::main(parsed),
        "load" => load::main(parsed),
        "plain" => plain::main(parsed),
        other => Err(format!("unknown command {other:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sse-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to `want` (bounded by the hard limit); returns the new soft limit.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let target = want.min(lim.rlim_max);
        if lim.rlim_cur < target {
            lim.rlim_cur = target;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// A tokio runtime with `threads` workers (1: a current-thread runtime).
pub fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    let mut b = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    b.enable_all().build().map_err(|e| format!("runtime: {e}"))
}

/// Writes `json` to `out` (a file) or to standard output.
pub fn emit(json: &serde_json::Value, out: Option<&str>) -> Result<(), String> {
    let text = serde_json::to_string_pretty(json).map_err(|e| e.to_string())? + "\n";
    match out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{path}: {e}")),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
