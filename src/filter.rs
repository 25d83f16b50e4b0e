//! The header filter: gathers what nginx knows about each response, asks
//! `sse_auto_core::decision` whether it is a stream, and gives streams their treatment.
//!
//! `ngx_http_upstream_send_response()` runs the header filter chain before it looks at
//! `u->buffering`, so clearing the flag here takes the same path as an upstream
//! `X-Accel-Buffering: no`: every buffer is forwarded with `flush` as soon as it is read, and
//! the response header leaves at once.

use core::ptr;

use alloc::string::String;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_output_header_filter_pt, ngx_http_request_t, ngx_http_top_header_filter,
    ngx_http_upstream_t, ngx_int_t, ngx_list_push, ngx_list_t, ngx_log_t, ngx_table_elt_t,
    NGX_HTTP_HEAD, NGX_HTTP_NOT_MODIFIED, NGX_HTTP_NO_CONTENT, NGX_HTTP_OK,
    NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING,
};
use ngx::http::{list_iterator, HttpModuleLocationConf};
use ngx::log::{check_mask, DebugMask};
use ngx::ngx_log_debug;

use sse_auto_core::decision::{decide, Decision, Response, Upstream};
use sse_auto_core::media_type::{find, EVENT_STREAM};
use sse_auto_core::metrics::Kind;
use sse_auto_core::timeout::StreamBy;

use crate::config::LocConf;
use crate::soft;
use crate::stream::Ctx;
use crate::upstream;
use crate::Module;

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;

/// Installs the header filter; called from postconfiguration.
pub fn init() {
    // SAFETY: postconfiguration runs single-threaded while the configuration is read; this is
    // how every nginx filter links itself into the chain.
    unsafe {
        NEXT_HEADER_FILTER = ngx_http_top_header_filter;
        ngx_http_top_header_filter = Some(header_filter);
    }
}

extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request to every header filter.
    let req = unsafe { &mut *r };

    if let Some(lcf) = Module::location_conf(req) {
        let decision = decide(&Facts { r: req, lcf });
        if decision.is_stream() {
            if treat(req, lcf, decision).is_err() {
                return Status::NGX_ERROR.into();
            }
        } else if decision == Decision::Soft {
            log_decision_if_debug(req, decision);
            if !soft::arm(req, lcf) {
                // SAFETY: a request always has a connection with a log.
                let log = unsafe { (*req.connection).log };
                ngx_log_debug!(
                    mask: DebugMask::Http,
                    log,
                    "sse_auto: not soft-streamed: the worker's armed responses are too many"
                );
            }
        } else {
            log_decision_if_debug(req, decision);
        }
    }

    // SAFETY: NEXT_HEADER_FILTER was set in postconfiguration, before any request exists; the
    // chain always ends in ngx_http_header_filter, so it is never None here.
    match unsafe { NEXT_HEADER_FILTER } {
        Some(next) => unsafe { next(r) },
        None => Status::NGX_ERROR.into(),
    }
}

#[inline(always)]
fn log_decision_if_debug(r: &ngx_http_request_t, decision: Decision) {
    // SAFETY: a request always has a connection with a log, valid for its lifetime.
    let log = unsafe { (*r.connection).log };
    // SAFETY: as above.
    if check_mask(DebugMask::Http, unsafe { (*log).log_level }) {
        log_decision(log, decision, r);
    }
}

/// Out of line, so the filter's common path stays a handful of tests.
#[cold]
#[inline(never)]
fn log_decision(log: *mut ngx_log_t, decision: Decision, r: &ngx_http_request_t) {
    ngx_log_debug!(
        mask: DebugMask::Http,
        log,
        "sse_auto: \"{}\" response {}",
        String::from_utf8_lossy(r.headers_out.content_type.as_bytes()),
        decision.describe()
    );
}

/// What nginx knows about a response, read when the decision asks.
struct Facts<'a> {
    r: &'a ngx_http_request_t,
    lcf: &'a LocConf,
}

impl Facts<'_> {
    /// The upstream; only asked after `upstream()` said there is one.
    fn u(&self) -> Option<&ngx_http_upstream_t> {
        // SAFETY: `upstream` is null or points to the request's upstream, alive with it.
        unsafe { self.r.upstream.as_ref() }
    }
}

impl Response for Facts<'_> {
    #[inline(always)]
    fn enabled(&self) -> bool {
        self.lcf.enable != 0
    }

    #[inline(always)]
    fn stream_type(&self) -> bool {
        self.lcf
            .types
            .as_ref()
            .is_some_and(|t| t.is_stream(self.r.headers_out.content_type.as_bytes()))
    }

    fn unsized_type(&self) -> bool {
        self.lcf
            .types
            .as_ref()
            .is_some_and(|t| t.is_unsized(self.r.headers_out.content_type.as_bytes()))
    }

    fn main_request(&self) -> bool {
        ptr::eq(self.r, self.r.main)
    }

    fn upstream(&self) -> Upstream {
        let Some(u) = self.u() else {
            return Upstream::None;
        };
        if u.cleanup.is_null() {
            // The upstream is finalized already: this is nginx's own response (an error page
            // after an invalid upstream header), not the upstream's (found by the stack
            // fuzzer: seed 50, case 6).
            return Upstream::None;
        }
        // SAFETY: an upstream that has a response has its module's upstream configuration.
        match unsafe { u.conf.as_ref() } {
            // Only proxy, fastcgi, uwsgi and scgi buffer and honour X-Accel-Buffering.
            Some(ucf) if ucf.change_buffering() != 0 => Upstream::Switchable,
            _ => Upstream::Fixed,
        }
    }

    fn has_body(&self) -> bool {
        let r = self.r;
        let status = r.headers_out.status;
        // HEAD sets header_only only in the last header filter, after this one.
        r.header_only() == 0
            && r.method != NGX_HTTP_HEAD as usize
            && status >= NGX_HTTP_OK as usize
            && status != NGX_HTTP_NO_CONTENT as usize
            && status != NGX_HTTP_NOT_MODIFIED as usize
    }

    fn cached(&self) -> bool {
        #[cfg(ngx_feature = "http_cache")]
        return self.r.cached() != 0;
        // nginx built without the cache serves nothing from one (and has no such flag)
        #[cfg(not(ngx_feature = "http_cache"))]
        false
    }

    #[inline(always)]
    fn length_known(&self) -> bool {
        // The upstream's own word: chunked and close-delimited bodies leave it at -1.
        self.u().is_some_and(|u| u.headers_in.content_length_n >= 0)
    }

    fn buffered(&self) -> bool {
        self.u().is_some_and(|u| u.buffering() != 0)
    }

    fn upstream_says_buffer(&self) -> bool {
        let Some(u) = self.u() else {
            return false;
        };
        // SAFETY: checked in upstream().
        let ignored = unsafe { u.conf.as_ref() }.is_some_and(|ucf| {
            ucf.ignore_headers & NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING as usize != 0
        });
        !ignored && upstream_asks_buffering(u)
    }

    fn soft_enabled(&self) -> bool {
        self.lcf.soft != 0
    }

    fn stored(&self) -> bool {
        self.u()
            .is_some_and(|u| u.store() != 0 || will_cache(self.r, u))
    }
}

/// Whether nginx will store the buffered response in its cache: cacheable so far, and the
/// tests nginx makes right after the header filter (`proxy_no_cache`, a validity time for
/// the status) will not change that.
#[cfg(ngx_feature = "http_cache")]
fn will_cache(r: &ngx_http_request_t, u: &ngx_http_upstream_t) -> bool {
    use ngx::ffi::{ngx_http_test_predicates, NGX_DECLINED};

    if u.cacheable() == 0 {
        return false;
    }
    // a binary without the cache never makes a response cacheable; if it did, stored it is
    let Some(cache_valid) = crate::optional::file_cache_valid() else {
        return true;
    };
    // SAFETY: a cacheable response has its module's configuration and r.cache (nginx set it
    // up when it looked the response up in the cache).
    let (Some(ucf), Some(cache)) = (unsafe { u.conf.as_ref() }, unsafe { r.cache.as_ref() }) else {
        return false;
    };
    let r = ptr::from_ref(r).cast_mut();
    // SAFETY: the request and its location's predicates; nginx evaluates them again itself.
    if unsafe { ngx_http_test_predicates(r, ucf.no_cache) } == NGX_DECLINED as ngx_int_t {
        return false;
    }
    // SAFETY: the location's cache validity list (may be null: the function handles it).
    cache.valid_sec != 0 || unsafe { cache_valid(ucf.cache_valid, u.headers_in.status_n) } != 0
}

#[cfg(not(ngx_feature = "http_cache"))]
fn will_cache(_r: &ngx_http_request_t, u: &ngx_http_upstream_t) -> bool {
    u.cacheable() != 0
}

/// True when the upstream's last valid `X-Accel-Buffering` header says `yes`, the way nginx
/// itself reads it (exact value, case-insensitive; other values are ignored).
fn upstream_asks_buffering(u: &ngx_http_upstream_t) -> bool {
    let mut asks = false;
    // SAFETY: the upstream's parsed header list, alive with the request.
    for (key, value) in unsafe { list_iterator(&u.headers_in.headers) } {
        if !key.as_bytes().eq_ignore_ascii_case(b"X-Accel-Buffering") {
            continue;
        }
        let value = value.as_bytes();
        if value.eq_ignore_ascii_case(b"yes") {
            asks = true;
        } else if value.eq_ignore_ascii_case(b"no") {
            asks = false;
        }
    }
    asks
}

/// The stream treatment, the same whoever made the response unbuffered: non-buffered mode,
/// the stream read timeout, heartbeats and draining for event streams, the hint downstream.
/// The rarely taken branch of the filter.
#[inline(never)]
fn treat(r: &mut ngx_http_request_t, lcf: &LocConf, decision: Decision) -> Result<(), ()> {
    // SAFETY: a request always has a connection with a log.
    let log = unsafe { (*r.connection).log };
    ngx_log_debug!(
        mask: DebugMask::Http,
        log,
        "sse_auto: \"{}\" response: {}",
        String::from_utf8_lossy(r.headers_out.content_type.as_bytes()),
        decision.describe()
    );

    // SAFETY: a stream is an upstream response (the decision checked it).
    let u = unsafe { r.upstream.as_mut() }.ok_or(())?;
    if decision.switches() {
        u.set_buffering(0);
    }

    // SAFETY: the decision found the upstream's configuration (Upstream::Switchable).
    let ucf = unsafe { u.conf.as_ref() }.ok_or(())?;
    // Typed streams get the stream timeout; one by length only keeps a short location one.
    let typed = decision == Decision::Switch
        || (decision == Decision::Unbuffered
            && lcf
                .types
                .as_ref()
                .is_some_and(|t| t.is_stream(r.headers_out.content_type.as_bytes())));
    let by = if typed {
        StreamBy::Type
    } else {
        StreamBy::NoLength
    };
    let (timeout, rule) = lcf.stream_read_timeout(upstream::effective_read_timeout(u, ucf), by);
    ngx_log_debug!(
        mask: DebugMask::Http,
        log,
        "sse_auto: read timeout {}ms: {}",
        timeout,
        rule.describe()
    );
    // SAFETY: u is the live request's upstream, r.pool its pool, and the shared
    // configuration belongs to the request's location.
    if !unsafe { upstream::set_read_timeout(u, timeout, &lcf.stream_upstream, r.pool) } {
        return Err(());
    }

    // Heartbeats and draining need event boundaries: event streams only. NDJSON and text
    // streams have no comment syntax, and no way to tell a client where to resume. Nor into
    // a response whose length the client knows: a heartbeat would overrun it, an early end
    // cut it short (found by the stack fuzzer).
    // SAFETY: as above.
    let sized = unsafe { (*r.upstream).headers_in.content_length_n } >= 0;
    let event_stream = find(r.headers_out.content_type.as_bytes(), &[EVENT_STREAM]).is_some();
    let (heartbeat_ms, drain_ms) = if event_stream && !sized {
        (lcf.heartbeat, lcf.drain)
    } else {
        (0, 0)
    };
    let kind = Kind::of(decision).ok_or(())?;
    Ctx::create(
        r,
        kind,
        decision.label(),
        (timeout, rule),
        heartbeat_ms,
        drain_ms,
    )
    .ok_or(())?;

    if lcf.downstream_hint != 0 && !has_header(&r.headers_out.headers, b"X-Accel-Buffering") {
        add_hint(&mut r.headers_out.headers)?;
    }
    Ok(())
}

/// Adds `X-Accel-Buffering: no`, so a proxy in front (often a stock nginx on a panel host)
/// streams the response too: nginx never forwards the upstream's own `X-Accel-*` headers.
fn add_hint(headers: &mut ngx_list_t) -> Result<(), ()> {
    // SAFETY: ngx_list_push returns null or an uninitialised element of the list.
    let h = unsafe { ngx_list_push(headers) }.cast::<ngx_table_elt_t>();
    if h.is_null() {
        return Err(());
    }
    // Static strings, as nginx's own filters use for headers they add; nothing writes to them.
    let elt = ngx_table_elt_t {
        hash: 1,
        key: ngx::ngx_string!("X-Accel-Buffering"),
        value: ngx::ngx_string!("no"),
        lowcase_key: c"x-accel-buffering".as_ptr().cast_mut().cast(),
        #[cfg(nginx1_23_0)]
        next: ptr::null_mut(),
    };
    // SAFETY: h points to writable, properly aligned storage for one element.
    unsafe { h.write(elt) };
    Ok(())
}

fn has_header(headers: &ngx_list_t, name: &[u8]) -> bool {
    // SAFETY: the response's header list, alive with the request.
    unsafe { list_iterator(headers) }.any(|(key, _)| key.as_bytes().eq_ignore_ascii_case(name))
}
