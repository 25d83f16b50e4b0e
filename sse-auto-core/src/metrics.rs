//! Stream metrics: what is counted, the counters as they live in memory that every nginx
//! process of an instance shares, and the two ways they are shown (Prometheus' text
//! exposition format 0.0.4 and JSON).
//!
//! Totals are one set of counters for the instance. What is open now is counted per process
//! slot (nginx's `ngx_process_slot`), so that the streams of a process that died are known:
//! the process that takes its slot next, or the first scrape that finds it gone, moves them
//! from "open" to the `lost` end reason. Updates are single relaxed atomic operations; a
//! scrape reads each counter once, so a snapshot taken while streams come and go may be a few
//! events apart between counters, never wrong in a single one.

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::decision::Decision;

/// What was decided for a counted response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A stream type, switched to unbuffered.
    Switched,
    /// A stream-if-unsized type without length, switched.
    Unsized,
    /// A stream nginx already sent unbuffered.
    Unbuffered,
    /// A buffered response without length, soft-streamed.
    Soft,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Switched, Kind::Unsized, Kind::Unbuffered, Kind::Soft];
    /// The kinds that are streams (the others are responses nginx keeps buffering).
    pub const STREAMS: [Kind; 3] = [Kind::Switched, Kind::Unsized, Kind::Unbuffered];

    /// The kind of a decision, for the decisions that are counted.
    pub fn of(decision: Decision) -> Option<Kind> {
        match decision {
            Decision::Switch => Some(Kind::Switched),
            Decision::SwitchUnsized => Some(Kind::Unsized),
            Decision::Unbuffered => Some(Kind::Unbuffered),
            Decision::Soft => Some(Kind::Soft),
            Decision::Leave(_) => None,
        }
    }

    /// The label value, the same word as `$sse_auto`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Switched => "switched",
            Kind::Unsized => "unsized",
            Kind::Unbuffered => "unbuffered",
            Kind::Soft => "soft",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client went away, or writing to it failed or timed out.
    Client,
    /// The upstream ended its response (completely, or by closing or failing).
    Upstream,
    /// The upstream was quiet for the stream's read timeout.
    ReadTimeout,
    /// `sse_auto_drain` ended it at an event boundary while its worker shut down.
    Drain,
    /// nginx ended the request for another reason (an internal error).
    Other,
    /// Its worker process died (killed, crashed) while it was open.
    Lost,
}

impl EndReason {
    pub const ALL: [EndReason; 6] = [
        EndReason::Client,
        EndReason::Upstream,
        EndReason::ReadTimeout,
        EndReason::Drain,
        EndReason::Other,
        EndReason::Lost,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EndReason::Client => "client",
            EndReason::Upstream => "upstream",
            EndReason::ReadTimeout => "read_timeout",
            EndReason::Drain => "drain",
            EndReason::Other => "other",
            EndReason::Lost => "lost",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How nginx finished the upstream part of a stream: the code it passes to the upstream
/// module's `finalize_request`, as a fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// 0: the response is complete (or its close-delimited end came).
    Complete,
    /// 499: the client closed the connection.
    ClientClosed,
    /// 408: writing to the client timed out (`send_timeout`).
    ClientTimedOut,
    /// 504: reading from the upstream timed out.
    UpstreamTimedOut,
    /// 502: the upstream closed early, failed, or sent an invalid body.
    UpstreamFailed,
    /// `NGX_ERROR`: a write to the client failed, or nginx failed.
    Error,
    /// `NGX_DONE`: the request was ended from outside the upstream (its cleanup).
    Aborted,
    /// Anything else.
    Other,
}

/// Why a stream ended, from how nginx finished it (`None`: it never did, as far as the
/// module saw), a reason the module noted itself when it ended the stream (heartbeat to a gone
/// client, drain), and whether the client connection failed.
pub fn end_reason(
    finish: Option<Finish>,
    noted: Option<EndReason>,
    client_error: bool,
) -> EndReason {
    if let Some(reason) = noted {
        return reason;
    }
    match finish {
        Some(Finish::Complete | Finish::UpstreamFailed) => EndReason::Upstream,
        Some(Finish::UpstreamTimedOut) => EndReason::ReadTimeout,
        Some(Finish::ClientClosed | Finish::ClientTimedOut) => EndReason::Client,
        Some(Finish::Error | Finish::Aborted | Finish::Other) | None if client_error => {
            EndReason::Client
        }
        Some(Finish::Error | Finish::Aborted | Finish::Other) | None => EndReason::Other,
    }
}

/// Upper bounds of the stream duration histogram, in seconds; `+Inf` follows.
pub const DURATION_BOUNDS: [u64; 12] =
    [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 43200, 86400];
const BUCKETS: usize = DURATION_BOUNDS.len() + 1;

/// The bucket of a duration: the first bound it does not exceed, or `+Inf`.
pub fn bucket_of(duration_ms: u64) -> usize {
    DURATION_BOUNDS
        .iter()
        .position(|&s| duration_ms <= s.saturating_mul(1000))
        .unwrap_or(DURATION_BOUNDS.len())
}

/// The counters of the whole instance.
#[repr(C)]
#[derive(Default)]
pub struct Totals {
    decided: [AtomicU64; 4],
    ended: [AtomicU64; 6],
    heartbeats: AtomicU64,
    heartbeats_failed: AtomicU64,
    soft_pushes: AtomicU64,
    sent_bytes: AtomicU64,
    duration: [AtomicU64; BUCKETS],
    duration_sum_ms: AtomicU64,
}

/// What one process has open now.
#[repr(C)]
#[derive(Default)]
pub struct Slot {
    /// 0: free; `REAPING`: being emptied; else the pid of the process that counts here.
    pid: AtomicI64,
    open: [AtomicI64; 4],
}

const REAPING: i64 = -1;

/// Set by `Shared::init` in a fresh zone: another layout under the same name is not reused.
const MAGIC: u64 = 0x5353_455f_6d65_7401;

/// The shared counters, for up to `N` process slots. All-zero memory is a valid value (not yet
/// initialised), which is what nginx's shared memory starts as.
#[repr(C)]
pub struct Shared<const N: usize> {
    magic: AtomicU64,
    start_time: AtomicU64,
    totals: Totals,
    slots: [Slot; N],
}

impl<const N: usize> Default for Shared<N> {
    fn default() -> Self {
        Self {
            magic: AtomicU64::new(0),
            start_time: AtomicU64::new(0),
            totals: Totals::default(),
            slots: core::array::from_fn(|_| Slot::default()),
        }
    }
}

impl<const N: usize> Shared<N> {
    /// Makes zeroed memory the counters of an instance started at `start_time` (seconds since
    /// the epoch); returns false when it holds them already (a zone kept across a reload).
    pub fn init(&self, start_time: u64) -> bool {
        if self.magic.load(Relaxed) == MAGIC {
            return false;
        }
        self.start_time.store(start_time, Relaxed);
        self.magic.store(MAGIC, Relaxed);
        true
    }

    /// Whether `init` made this memory the counters.
    pub fn valid(&self) -> bool {
        self.magic.load(Relaxed) == MAGIC
    }

    /// Slot `slot` becomes the one of process `pid`. A previous occupant is gone (nginx gives
    /// a slot to a new process only once the old one is reaped): what it had open is lost.
    /// Returns the number of streams it left.
    pub fn claim(&self, slot: usize, pid: i64) -> u64 {
        let Some(s) = self.slots.get(slot) else {
            return 0;
        };
        loop {
            let cur = s.pid.load(Relaxed);
            if cur == REAPING {
                core::hint::spin_loop();
                continue;
            }
            if s.pid.compare_exchange(cur, pid, Relaxed, Relaxed).is_ok() {
                return if cur != 0 && cur != pid {
                    self.fold(s)
                } else {
                    0
                };
            }
        }
    }

    /// Process `pid` leaves slot `slot` (it exits): what it still has open is lost.
    pub fn release(&self, slot: usize, pid: i64) -> u64 {
        let Some(s) = self.slots.get(slot) else {
            return 0;
        };
        if s.pid
            .compare_exchange(pid, REAPING, Relaxed, Relaxed)
            .is_err()
        {
            return 0;
        }
        let lost = self.fold(s);
        s.pid.store(0, Relaxed);
        lost
    }

    /// Empties the slots of processes that are gone (`alive` says), counting their open
    /// streams as lost. Returns how many streams were lost.
    pub fn reap(&self, alive: impl Fn(i64) -> bool) -> u64 {
        let mut lost = 0;
        for s in &self.slots {
            let pid = s.pid.load(Relaxed);
            if pid <= 0 || alive(pid) {
                continue;
            }
            if s.pid
                .compare_exchange(pid, REAPING, Relaxed, Relaxed)
                .is_ok()
            {
                lost += self.fold(s);
                s.pid.store(0, Relaxed);
            }
        }
        lost
    }

    /// Takes a slot's open counts away: its streams become lost, its soft responses are
    /// forgotten (they are not streams).
    fn fold(&self, s: &Slot) -> u64 {
        let mut lost = 0;
        for k in Kind::ALL {
            let n = s.open[k.index()].swap(0, Relaxed).max(0) as u64;
            if k != Kind::Soft {
                lost += n;
            }
        }
        self.totals.ended[EndReason::Lost.index()].fetch_add(lost, Relaxed);
        lost
    }

    /// A response of kind `kind` was decided and is open, in slot `slot`.
    pub fn opened(&self, slot: usize, kind: Kind) {
        self.totals.decided[kind.index()].fetch_add(1, Relaxed);
        if let Some(s) = self.slots.get(slot) {
            s.open[kind.index()].fetch_add(1, Relaxed);
        }
    }

    /// A response of kind `kind` was decided but is not tracked (no gauge).
    pub fn decided(&self, kind: Kind) {
        self.totals.decided[kind.index()].fetch_add(1, Relaxed);
    }

    /// A soft-streamed response of slot `slot` is done.
    pub fn soft_done(&self, slot: usize) {
        if let Some(s) = self.slots.get(slot) {
            s.open[Kind::Soft.index()].fetch_sub(1, Relaxed);
        }
    }

    /// A stream of kind `kind`, open in slot `slot`, ended.
    pub fn ended(&self, slot: usize, kind: Kind, reason: EndReason, duration_ms: u64, bytes: u64) {
        if let Some(s) = self.slots.get(slot) {
            s.open[kind.index()].fetch_sub(1, Relaxed);
        }
        let t = &self.totals;
        t.ended[reason.index()].fetch_add(1, Relaxed);
        t.duration[bucket_of(duration_ms)].fetch_add(1, Relaxed);
        t.duration_sum_ms.fetch_add(duration_ms, Relaxed);
        t.sent_bytes.fetch_add(bytes, Relaxed);
    }

    /// A heartbeat was written (`ok`), or found the client gone.
    pub fn heartbeat(&self, ok: bool) {
        let c = if ok {
            &self.totals.heartbeats
        } else {
            &self.totals.heartbeats_failed
        };
        c.fetch_add(1, Relaxed);
    }

    /// Held data of a soft-streamed response was pushed to the client.
    pub fn soft_push(&self) {
        self.totals.soft_pushes.fetch_add(1, Relaxed);
    }

    /// The numbers as they are now.
    pub fn snapshot(&self) -> Snapshot {
        let t = &self.totals;
        let mut snap = Snapshot {
            start_time: self.start_time.load(Relaxed),
            heartbeats: t.heartbeats.load(Relaxed),
            heartbeats_failed: t.heartbeats_failed.load(Relaxed),
            soft_pushes: t.soft_pushes.load(Relaxed),
            sent_bytes: t.sent_bytes.load(Relaxed),
            duration_sum_ms: t.duration_sum_ms.load(Relaxed),
            ..Snapshot::default()
        };
        for (d, c) in snap.decided.iter_mut().zip(&t.decided) {
            *d = c.load(Relaxed);
        }
        for (d, c) in snap.ended.iter_mut().zip(&t.ended) {
            *d = c.load(Relaxed);
        }
        for (d, c) in snap.duration.iter_mut().zip(&t.duration) {
            *d = c.load(Relaxed);
        }
        for s in &self.slots {
            if s.pid.load(Relaxed) <= 0 {
                continue;
            }
            snap.processes += 1;
            for (d, c) in snap.open.iter_mut().zip(&s.open) {
                *d += c.load(Relaxed).max(0) as u64;
            }
        }
        snap
    }
}

/// The numbers of a moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// When the counters started (nginx's start; a reload keeps them), seconds since the epoch.
    pub start_time: u64,
    /// Processes counting here (workers, old ones still running after a reload included).
    pub processes: u64,
    /// Open now, by `Kind`.
    pub open: [u64; 4],
    /// Decided since the start, by `Kind`.
    pub decided: [u64; 4],
    /// Ended since the start, by `EndReason`.
    pub ended: [u64; 6],
    pub heartbeats: u64,
    pub heartbeats_failed: u64,
    pub soft_pushes: u64,
    /// Bytes sent to clients by streams that ended, headers included.
    pub sent_bytes: u64,
    /// Ended streams by duration bucket (`DURATION_BOUNDS`, then `+Inf`), not cumulative.
    pub duration: [u64; BUCKETS],
    pub duration_sum_ms: u64,
}

impl Snapshot {
    pub fn open(&self, kind: Kind) -> u64 {
        self.open[kind.index()]
    }

    pub fn decided(&self, kind: Kind) -> u64 {
        self.decided[kind.index()]
    }

    pub fn ended(&self, reason: EndReason) -> u64 {
        self.ended[reason.index()]
    }

    /// Ended streams, all reasons.
    pub fn ended_count(&self) -> u64 {
        self.duration.iter().sum::<u64>() + self.ended(EndReason::Lost)
    }
}

/// Who is counting: the module and the nginx it runs in.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    /// The module's version.
    pub version: &'a str,
    /// nginx's version (the core's, for forks).
    pub nginx_version: &'a str,
    /// `nginx`, `openresty` or `tengine`.
    pub flavour: &'a str,
    /// The server's own name and version (`NGINX_VER`: `openresty/1.27.1.2`).
    pub server: &'a str,
}

/// The representations the status handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    Json,
}

impl Format {
    /// The `Content-Type` of the representation.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// The representation for a request: `format=json` or `format=prometheus` in the query string
/// decides; else JSON only when `Accept` prefers `application/json` to `text/plain`.
pub fn negotiate(args: &[u8], accept: Option<&[u8]>) -> Format {
    for param in args.split(|&b| b == b'&') {
        match param {
            b"format=json" => return Format::Json,
            b"format=prometheus" | b"format=text" => return Format::Prometheus,
            _ => {}
        }
    }
    let Some(accept) = accept else {
        return Format::Prometheus;
    };
    let (mut json, mut text) = (0u16, 0u16);
    for range in accept.split(|&b| b == b',') {
        let mut parts = range.split(|&b| b == b';');
        let media = trim(parts.next().unwrap_or_default());
        let q = parts.find_map(quality).unwrap_or(1000);
        let lower = |m: &[u8], want: &[u8]| m.eq_ignore_ascii_case(want);
        if lower(media, b"application/json") || lower(media, b"application/*") {
            json = json.max(q);
        } else if lower(media, b"text/plain") || lower(media, b"text/*") {
            text = text.max(q);
        } else if lower(media, b"*/*") {
            json = json.max(q);
            text = text.max(q);
        }
    }
    if json > text {
        Format::Json
    } else {
        Format::Prometheus
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// A media range parameter `q=0.5` as thousandths; `None` for other parameters.
fn quality(param: &[u8]) -> Option<u16> {
    let p = trim(param);
    let v = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q="))?;
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (v.get(..dot)?, v.get(dot + 1..)?),
        None => (v, &b""[..]),
    };
    let int = match int {
        b"0" => 0u16,
        b"1" => 1,
        _ => return Some(0),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return Some(0);
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    // RFC 9110: at most 1, and "1" has only zeros after its point
    Some(if int == 1 && thousandths > 0 {
        0
    } else {
        int * 1000 + thousandths
    })
}

/// A Prometheus label value, escaped.
fn label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Seconds with millisecond precision, as Prometheus and JSON write them.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The Prometheus text exposition (format 0.0.4).
pub fn prometheus(s: &Snapshot, id: &Identity) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "sse_auto_info",
        "gauge",
        "The sse_auto module and the nginx it runs in.",
    );
    out.push_str("sse_auto_info{version=\"");
    label(&mut out, id.version);
    out.push_str("\",nginx_version=\"");
    label(&mut out, id.nginx_version);
    out.push_str("\",flavour=\"");
    label(&mut out, id.flavour);
    out.push_str("\",server=\"");
    label(&mut out, id.server);
    out.push_str("\"} 1\n");

    family(
        &mut out,
        "sse_auto_start_time_seconds",
        "gauge",
        "When the counters started (nginx's start; a reload keeps them), in seconds since the epoch.",
    );
    let _ = writeln!(out, "sse_auto_start_time_seconds {}", s.start_time);
    family(
        &mut out,
        "sse_auto_worker_processes",
        "gauge",
        "Worker processes counting streams, old ones still running after a reload included.",
    );
    let _ = writeln!(out, "sse_auto_worker_processes {}", s.processes);

    family(
        &mut out,
        "sse_auto_streams_open",
        "gauge",
        "Streams open now, by what was decided.",
    );
    for k in Kind::STREAMS {
        let _ = writeln!(
            out,
            "sse_auto_streams_open{{decision=\"{}\"}} {}",
            k.label(),
            s.open(k)
        );
    }
    family(
        &mut out,
        "sse_auto_soft_responses_open",
        "gauge",
        "Soft-streamed responses whose upstream is still sending.",
    );
    let _ = writeln!(out, "sse_auto_soft_responses_open {}", s.open(Kind::Soft));

    family(
        &mut out,
        "sse_auto_responses_total",
        "counter",
        "Responses decided, by decision.",
    );
    for k in Kind::ALL {
        let _ = writeln!(
            out,
            "sse_auto_responses_total{{decision=\"{}\"}} {}",
            k.label(),
            s.decided(k)
        );
    }
    family(
        &mut out,
        "sse_auto_streams_ended_total",
        "counter",
        "Streams ended, by what ended them.",
    );
    for r in EndReason::ALL {
        let _ = writeln!(
            out,
            "sse_auto_streams_ended_total{{reason=\"{}\"}} {}",
            r.label(),
            s.ended(r)
        );
    }

    for (name, help, value) in [
        (
            "sse_auto_heartbeats_total",
            "Heartbeat comments written into quiet event streams.",
            s.heartbeats,
        ),
        (
            "sse_auto_heartbeats_failed_total",
            "Heartbeats that found the client gone (the stream then ended).",
            s.heartbeats_failed,
        ),
        (
            "sse_auto_soft_pushes_total",
            "Times held data of a soft-streamed response was sent when its upstream paused.",
            s.soft_pushes,
        ),
        (
            "sse_auto_stream_sent_bytes_total",
            "Bytes sent to clients by streams that ended, headers included.",
            s.sent_bytes,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }

    family(
        &mut out,
        "sse_auto_stream_duration_seconds",
        "histogram",
        "How long streams lasted, from their response header to their end (lost ones excluded).",
    );
    let mut cumulative = 0;
    for (i, n) in s.duration.iter().enumerate() {
        cumulative += n;
        match DURATION_BOUNDS.get(i) {
            Some(b) => {
                let _ = writeln!(
                    out,
                    "sse_auto_stream_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "sse_auto_stream_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "sse_auto_stream_duration_seconds_sum {}",
        seconds(s.duration_sum_ms)
    );
    let _ = writeln!(out, "sse_auto_stream_duration_seconds_count {cumulative}");
    out
}

/// A JSON string.
fn json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_object<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, u64)>) {
    out.push('{');
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{k}\":{v}");
    }
    out.push('}');
}

/// The same numbers as JSON: one object, counters by their Prometheus names without the
/// `sse_auto_` prefix and `_total` suffix.
pub fn json(s: &Snapshot, id: &Identity) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"version\":");
    json_string(&mut out, id.version);
    out.push_str(",\"nginx_version\":");
    json_string(&mut out, id.nginx_version);
    out.push_str(",\"flavour\":");
    json_string(&mut out, id.flavour);
    out.push_str(",\"server\":");
    json_string(&mut out, id.server);
    let _ = write!(
        out,
        ",\"start_time\":{},\"worker_processes\":{},\"streams_open\":",
        s.start_time, s.processes
    );
    json_object(
        &mut out,
        Kind::STREAMS.iter().map(|&k| (k.label(), s.open(k))),
    );
    let _ = write!(
        out,
        ",\"soft_responses_open\":{},\"responses\":",
        s.open(Kind::Soft)
    );
    json_object(
        &mut out,
        Kind::ALL.iter().map(|&k| (k.label(), s.decided(k))),
    );
    out.push_str(",\"streams_ended\":");
    json_object(
        &mut out,
        EndReason::ALL.iter().map(|&r| (r.label(), s.ended(r))),
    );
    let _ = write!(
        out,
        ",\"heartbeats\":{},\"heartbeats_failed\":{},\"soft_pushes\":{},\"stream_sent_bytes\":{}",
        s.heartbeats, s.heartbeats_failed, s.soft_pushes, s.sent_bytes
    );
    out.push_str(",\"stream_duration_seconds\":{\"buckets\":{");
    let mut cumulative = 0;
    for (i, n) in s.duration.iter().enumerate() {
        cumulative += n;
        if i > 0 {
            out.push(',');
        }
        match DURATION_BOUNDS.get(i) {
            Some(b) => {
                let _ = write!(out, "\"{b}\":{cumulative}");
            }
            None => {
                let _ = write!(out, "\"+Inf\":{cumulative}");
            }
        }
    }
    let _ = writeln!(
        out,
        "}},\"sum\":{},\"count\":{cumulative}}}}}",
        seconds(s.duration_sum_ms)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Leave;
    use std::collections::HashSet;
    use std::sync::Arc;

    const ID: Identity = Identity {
        version: "0.2.0",
        nginx_version: "1.28.0",
        flavour: "nginx",
        server: "nginx/1.28.0",
    };

    const FINISHES: [Finish; 8] = [
        Finish::Complete,
        Finish::ClientClosed,
        Finish::ClientTimedOut,
        Finish::UpstreamTimedOut,
        Finish::UpstreamFailed,
        Finish::Error,
        Finish::Aborted,
        Finish::Other,
    ];

    #[test]
    fn kinds_are_the_decisions_that_count() {
        assert_eq!(Kind::of(Decision::Switch), Some(Kind::Switched));
        assert_eq!(Kind::of(Decision::SwitchUnsized), Some(Kind::Unsized));
        assert_eq!(Kind::of(Decision::Unbuffered), Some(Kind::Unbuffered));
        assert_eq!(Kind::of(Decision::Soft), Some(Kind::Soft));
        assert_eq!(Kind::of(Decision::Leave(Leave::Off)), None);
        for k in Kind::ALL {
            let d = [
                Decision::Switch,
                Decision::SwitchUnsized,
                Decision::Unbuffered,
                Decision::Soft,
            ]
            .into_iter()
            .find(|&d| Kind::of(d) == Some(k));
            // the label is $sse_auto's word for the same decision
            assert_eq!(d.map(Decision::label), Some(k.label()));
        }
    }

    #[test]
    fn end_reason_every_case() {
        let finishes = FINISHES.iter().copied().map(Some).chain([None]);
        for finish in finishes {
            for client_error in [false, true] {
                // a reason the module noted itself always wins
                for noted in EndReason::ALL {
                    assert_eq!(end_reason(finish, Some(noted), client_error), noted);
                }
                let want = match finish {
                    Some(Finish::Complete | Finish::UpstreamFailed) => EndReason::Upstream,
                    Some(Finish::UpstreamTimedOut) => EndReason::ReadTimeout,
                    Some(Finish::ClientClosed | Finish::ClientTimedOut) => EndReason::Client,
                    _ if client_error => EndReason::Client,
                    _ => EndReason::Other,
                };
                assert_eq!(
                    end_reason(finish, None, client_error),
                    want,
                    "{finish:?} {client_error}"
                );
            }
        }
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1000), 0);
        assert_eq!(bucket_of(1001), 1);
        for (i, b) in DURATION_BOUNDS.iter().enumerate() {
            assert_eq!(bucket_of(b * 1000), i);
            assert_eq!(bucket_of(b * 1000 + 1), i + 1);
        }
        assert_eq!(bucket_of(u64::MAX), DURATION_BOUNDS.len());
    }

    #[test]
    fn open_and_ended_add_up() {
        let m = Shared::<4>::default();
        assert!(!m.valid());
        assert!(m.init(1_700_000_000));
        assert!(!m.init(1), "a kept zone keeps its start");
        assert_eq!(m.claim(0, 100), 0);
        assert_eq!(m.claim(1, 101), 0);
        for _ in 0..3 {
            m.opened(0, Kind::Switched);
        }
        m.opened(1, Kind::Unsized);
        m.opened(1, Kind::Soft);
        m.decided(Kind::Soft);
        let s = m.snapshot();
        assert_eq!(
            (
                s.open(Kind::Switched),
                s.open(Kind::Unsized),
                s.open(Kind::Soft)
            ),
            (3, 1, 1)
        );
        assert_eq!(s.decided(Kind::Soft), 2);
        assert_eq!(s.processes, 2);
        assert_eq!(s.start_time, 1_700_000_000);

        m.ended(0, Kind::Switched, EndReason::Client, 500, 100);
        m.ended(0, Kind::Switched, EndReason::ReadTimeout, 61_000, 10);
        m.soft_done(1);
        let s = m.snapshot();
        assert_eq!(s.open(Kind::Switched), 1);
        assert_eq!(s.open(Kind::Soft), 0);
        assert_eq!(s.ended(EndReason::Client), 1);
        assert_eq!(s.ended(EndReason::ReadTimeout), 1);
        assert_eq!(s.sent_bytes, 110);
        assert_eq!(s.duration_sum_ms, 61_500);
        assert_eq!(s.duration[0], 1);
        assert_eq!(s.duration[bucket_of(61_000)], 1);
        assert_eq!(s.ended_count(), 2);
        // a slot out of range counts totals only
        m.opened(9, Kind::Switched);
        assert_eq!(m.snapshot().decided(Kind::Switched), 4);
        assert_eq!(m.snapshot().open(Kind::Switched), 1);
    }

    #[test]
    fn a_dead_process_streams_are_lost_once() {
        let m = Shared::<4>::default();
        m.init(1);
        m.claim(2, 200);
        for _ in 0..5 {
            m.opened(2, Kind::Unbuffered);
        }
        m.opened(2, Kind::Soft);
        // the master gives the slot to its replacement: the 5 streams are lost, not the soft one
        assert_eq!(m.claim(2, 201), 5);
        let s = m.snapshot();
        assert_eq!((s.open(Kind::Unbuffered), s.open(Kind::Soft)), (0, 0));
        assert_eq!(s.ended(EndReason::Lost), 5);
        assert_eq!(s.processes, 1);
        // the same process claiming again loses nothing
        m.opened(2, Kind::Switched);
        assert_eq!(m.claim(2, 201), 0);
        assert_eq!(m.snapshot().open(Kind::Switched), 1);

        // a process gone without a replacement: the first scrape that sees it reaps it
        m.claim(3, 300);
        m.opened(3, Kind::Switched);
        assert_eq!(m.reap(|pid| pid != 300), 1);
        assert_eq!(m.reap(|pid| pid != 300), 0);
        let s = m.snapshot();
        assert_eq!(s.ended(EndReason::Lost), 6);
        assert_eq!(s.open(Kind::Switched), 1);
        assert_eq!(s.processes, 1);

        // an exiting process releases its slot; only its own pid can
        assert_eq!(m.release(2, 999), 0);
        assert_eq!(m.release(2, 201), 1);
        let s = m.snapshot();
        assert_eq!(
            (
                s.processes,
                s.open(Kind::Switched),
                s.ended(EndReason::Lost)
            ),
            (0, 0, 7)
        );
    }

    #[test]
    fn concurrent_updates_are_exact() {
        let m = Arc::new(Shared::<8>::default());
        m.init(1);
        let threads: Vec<_> = (0..8)
            .map(|slot| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    m.claim(slot, 1000 + slot as i64);
                    for i in 0..20_000u64 {
                        let kind = Kind::STREAMS[(i % 3) as usize];
                        m.opened(slot, kind);
                        let reason = EndReason::ALL[(i % 5) as usize];
                        m.ended(slot, kind, reason, i % 7000, 3);
                        m.heartbeat(i % 2 == 0);
                    }
                })
            })
            .collect();
        // a reaper that finds everybody alive changes nothing
        while !threads.iter().all(|t| t.is_finished()) {
            assert_eq!(m.reap(|_| true), 0);
        }
        for t in threads {
            assert!(t.join().is_ok());
        }
        let s = m.snapshot();
        assert_eq!(s.decided.iter().sum::<u64>(), 160_000);
        assert_eq!(s.open, [0; 4]);
        assert_eq!(s.ended_count(), 160_000);
        assert_eq!(s.ended(EndReason::Lost), 0);
        assert_eq!(s.ended(EndReason::Client), 32_000);
        assert_eq!(s.sent_bytes, 480_000);
        assert_eq!(s.heartbeats + s.heartbeats_failed, 160_000);
        assert_eq!(s.processes, 8);
    }

    #[test]
    fn negotiation() {
        use Format::*;
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Format);
        let cases: &[Case] = &[
            (b"", None, Prometheus),
            (b"format=json", None, Json),
            (b"a=1&format=json", Some(b"text/plain"), Json),
            (b"format=prometheus", Some(b"application/json"), Prometheus),
            (b"format=text", Some(b"application/json"), Prometheus),
            (b"format=xml", None, Prometheus),
            (b"", Some(b"application/json"), Json),
            (b"", Some(b"Application/JSON"), Json),
            (b"", Some(b"text/plain"), Prometheus),
            (b"", Some(b"*/*"), Prometheus),
            (b"", Some(b""), Prometheus),
            (b"", Some(b"application/json, text/plain;q=0.5"), Json),
            (
                b"",
                Some(b"text/plain;q=0.9, application/json;q=0.8"),
                Prometheus,
            ),
            (
                b"",
                Some(b"application/json;q=0.9, text/plain;q=0.9"),
                Prometheus,
            ),
            (b"", Some(b"application/json;q=0, */*;q=0.1"), Prometheus),
            (b"", Some(b"application/*;q=0.5, text/*;q=0.4"), Json),
            (
                b"",
                Some(b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                Prometheus,
            ),
            // what Prometheus sends
            (
                b"",
                Some(
                    b"application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                      version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                Prometheus,
            ),
            (
                b"",
                Some(b"application/json;q=bogus, text/plain;q=0.001"),
                Prometheus,
            ),
            (b"", Some(b"application/json;q=1.5"), Prometheus),
            (b"", Some(b" application/json ; q=0.7 "), Json),
        ];
        for &(args, accept, want) in cases {
            assert_eq!(
                negotiate(args, accept),
                want,
                "{:?} {:?}",
                args,
                accept.map(String::from_utf8_lossy)
            );
        }
        assert_eq!(quality(b"q=0.5"), Some(500));
        assert_eq!(quality(b"q=1"), Some(1000));
        assert_eq!(quality(b"q=1.000"), Some(1000));
        assert_eq!(quality(b"q=0.0001"), Some(0));
        assert_eq!(quality(b"level=1"), None);
    }

    fn busy() -> Snapshot {
        let m = Shared::<2>::default();
        m.init(1_764_780_000);
        m.claim(0, 1);
        for (i, k) in Kind::ALL.iter().enumerate() {
            for _ in 0..=i {
                m.opened(0, *k);
            }
        }
        m.ended(0, Kind::Switched, EndReason::Drain, 1234, 99);
        m.heartbeat(true);
        m.soft_push();
        m.snapshot()
    }

    #[test]
    fn prometheus_text_is_well_formed() {
        let text = prometheus(&busy(), &ID);
        let mut typed = HashSet::new();
        let mut series = HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_default();
                assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
                assert!(typed.insert(name.to_string()), "typed twice: {line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(series.insert(key.to_string()), "duplicate series: {line}");
            let name = key.split('{').next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
                .unwrap_or(name);
            assert!(typed.contains(family), "untyped: {line}");
            assert!(name.starts_with("sse_auto_"), "{line}");
            if text.contains(&format!("# TYPE {family} counter")) {
                assert!(family.ends_with("_total"), "{line}");
            }
        }
        assert!(text.contains("sse_auto_streams_open{decision=\"unsized\"} 2\n"));
        assert!(text.contains("sse_auto_soft_responses_open 4\n"));
        assert!(text.contains("sse_auto_streams_ended_total{reason=\"drain\"} 1\n"));
        assert!(text.contains("sse_auto_stream_duration_seconds_bucket{le=\"1\"} 0\n"));
        assert!(text.contains("sse_auto_stream_duration_seconds_bucket{le=\"5\"} 1\n"));
        assert!(text.contains("sse_auto_stream_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("sse_auto_stream_duration_seconds_sum 1.234\n"));
        assert!(text.contains("sse_auto_info{version=\"0.2.0\",nginx_version=\"1.28.0\",flavour=\"nginx\",server=\"nginx/1.28.0\"} 1\n"));
        assert!(text.ends_with('\n'));

        let mut escaped = String::new();
        label(&mut escaped, "a\"b\\c\nd");
        assert_eq!(escaped, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn json_carries_the_same_numbers() {
        let s = busy();
        let j = json(&s, &ID);
        assert!(j.starts_with("{\"version\":\"0.2.0\",\"nginx_version\":\"1.28.0\""));
        assert!(j.contains("\"streams_open\":{\"switched\":0,\"unsized\":2,\"unbuffered\":3}"));
        assert!(j.contains("\"soft_responses_open\":4,"));
        assert!(
            j.contains("\"responses\":{\"switched\":1,\"unsized\":2,\"unbuffered\":3,\"soft\":4}")
        );
        assert!(j.contains("\"drain\":1,"));
        assert!(j.contains(
            "\"heartbeats\":1,\"heartbeats_failed\":0,\"soft_pushes\":1,\"stream_sent_bytes\":99"
        ));
        assert!(j.contains("\"+Inf\":1},\"sum\":1.234,\"count\":1}}"));
        assert_eq!(j.matches('{').count(), j.matches('}').count());
        let mut quoted = String::new();
        json_string(&mut quoted, "a\"\\\u{1}");
        assert_eq!(quoted, "\"a\\\"\\\\\\u0001\"");
    }
}
