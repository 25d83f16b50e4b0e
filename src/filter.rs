//! The header filter: switches buffered upstream responses of a stream media type to nginx's
//! non-buffered mode.
//!
//! `ngx_http_upstream_send_response()` runs the header filter chain before it looks at
//! `u->buffering`, so clearing the flag here takes the same path as an upstream
//! `X-Accel-Buffering: no`: every buffer is forwarded with `flush` as soon as it is read.

use core::cell::Cell;
use core::mem::size_of;
use core::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_cycle, ngx_http_output_header_filter_pt, ngx_http_request_t, ngx_http_top_header_filter,
    ngx_http_upstream_conf_t, ngx_http_upstream_t, ngx_int_t, ngx_list_push, ngx_list_t, ngx_log_t,
    ngx_msec_t, ngx_palloc, ngx_pool_t, ngx_table_elt_t, NGX_HTTP_HEAD, NGX_HTTP_NOT_MODIFIED,
    NGX_HTTP_NO_CONTENT, NGX_HTTP_OK, NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING,
};
use ngx::http::{list_iterator, HttpModuleLocationConf};
use ngx::log::{check_mask, DebugMask};
use ngx::ngx_log_debug;

use sse_auto_core::media_type::EVENT_STREAM;

use crate::config::LocConf;
use crate::stream::Ctx;
use crate::Module;

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;

/// Why a response was, or was not, switched; logged at debug level for every decision.
enum Decision<'a> {
    Switch(&'a [u8]),
    Skip(&'static str),
}

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
        match decide(req, lcf) {
            Decision::Switch(media_type) => {
                if switch(req, lcf, media_type).is_err() {
                    return Status::NGX_ERROR.into();
                }
            }
            Decision::Skip(reason) => {
                // SAFETY: a request always has a connection with a log.
                let log = unsafe { (*req.connection).log };
                // SAFETY: the connection's log is valid for the request's lifetime.
                if check_mask(DebugMask::Http, unsafe { (*log).log_level }) {
                    log_skip(log, reason);
                }
            }
        }
    }

    // SAFETY: NEXT_HEADER_FILTER was set in postconfiguration, before any request exists; the
    // chain always ends in ngx_http_header_filter, so it is never None here.
    match unsafe { NEXT_HEADER_FILTER } {
        Some(next) => unsafe { next(r) },
        None => Status::NGX_ERROR.into(),
    }
}

/// Out of line, so the filter's common path stays a handful of tests.
#[cold]
#[inline(never)]
fn log_skip(log: *mut ngx_log_t, reason: &str) {
    ngx_log_debug!(mask: DebugMask::Http, log, "sse_auto: response left alone: {reason}");
}

/// The one guard: it runs for every response of every location, so the media type comes
/// first: it is what rejects nearly every other response, most often in its first bytes.
fn decide<'a>(r: &ngx_http_request_t, lcf: &'a LocConf) -> Decision<'a> {
    if lcf.enable == 0 {
        return Decision::Skip("sse_auto off");
    }
    let Some(media_type) = lcf.find_type(r.headers_out.content_type.as_bytes()) else {
        return Decision::Skip("not a stream media type");
    };
    if !ptr::eq(r, r.main) {
        // SSI includes, auth_request, mirrors: the main request decides how it is sent.
        return Decision::Skip("subrequest");
    }
    // SAFETY: `upstream` is null or points to the request's upstream, alive with the request.
    let Some(u) = (unsafe { r.upstream.as_ref() }) else {
        return Decision::Skip("not an upstream response");
    };
    if u.buffering() == 0 {
        return Decision::Skip("not buffered");
    }
    // SAFETY: an upstream that has a response has its module's upstream configuration.
    let Some(ucf) = (unsafe { u.conf.as_ref() }) else {
        return Decision::Skip("no upstream configuration");
    };
    if ucf.change_buffering() == 0 {
        // Only proxy, fastcgi, uwsgi and scgi buffer and honour X-Accel-Buffering.
        return Decision::Skip("upstream module cannot switch buffering");
    }
    // HEAD sets header_only only in the last header filter, after this one.
    if r.header_only() != 0 || r.method == NGX_HTTP_HEAD as usize || r.cached() != 0 {
        return Decision::Skip("no body to stream");
    }
    let status = r.headers_out.status;
    if status < NGX_HTTP_OK as usize
        || status == NGX_HTTP_NO_CONTENT as usize
        || status == NGX_HTTP_NOT_MODIFIED as usize
    {
        return Decision::Skip("no body to stream");
    }

    if ucf.ignore_headers & NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING as usize == 0
        && upstream_asks_buffering(u)
    {
        return Decision::Skip("upstream sent \"X-Accel-Buffering: yes\"");
    }

    Decision::Switch(media_type)
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

/// Switches a response to non-buffered mode: the rarely taken branch of the filter.
#[inline(never)]
fn switch(r: &mut ngx_http_request_t, lcf: &LocConf, media_type: &[u8]) -> Result<(), ()> {
    // SAFETY: a request always has a connection with a log.
    let log = unsafe { (*r.connection).log };
    ngx_log_debug!(
        mask: DebugMask::Http,
        log,
        "sse_auto: \"{}\" response switched to unbuffered",
        String::from_utf8_lossy(media_type)
    );

    // SAFETY: checked non-null in decide().
    let u = unsafe { &mut *r.upstream };
    u.set_buffering(0);

    // Non-buffered mode re-arms the upstream read timer with u->conf->read_timeout after every
    // read. u->conf is the location's, shared with its other responses: streams get their own.
    // SAFETY: decide() checked u.conf is not null; it points to a complete configuration.
    let timeout = lcf.stream_read_timeout(unsafe { (*u.conf).read_timeout });
    // SAFETY: as above; the request pool outlives the upstream.
    u.conf = unsafe { lcf.stream_upstream.get(u.conf, timeout, r.pool) }.ok_or(())?;

    // Heartbeats and draining need event boundaries: event streams only. NDJSON and text
    // streams have no comment syntax, and no way to tell a client where to resume.
    let (heartbeat_ms, drain_ms) = if media_type == EVENT_STREAM {
        (lcf.heartbeat, lcf.drain)
    } else {
        (0, 0)
    };
    Ctx::create(r, media_type, heartbeat_ms, drain_ms).ok_or(())?;

    if lcf.downstream_hint != 0 && !has_header(&r.headers_out.headers, b"X-Accel-Buffering") {
        add_hint(&mut r.headers_out.headers)?;
    }
    Ok(())
}

/// The upstream configuration a location's switched streams use: the location's own with the
/// stream read timeout. Made once per worker, on first use, from the cycle pool, so streams
/// share it instead of each carrying a copy.
pub struct StreamUpstreamConf {
    /// The configuration copied (the location's), and the copy.
    of: Cell<*mut ngx_http_upstream_conf_t>,
    copy: Cell<*mut ngx_http_upstream_conf_t>,
}

impl Default for StreamUpstreamConf {
    fn default() -> Self {
        Self {
            of: Cell::new(ptr::null_mut()),
            copy: Cell::new(ptr::null_mut()),
        }
    }
}

impl core::fmt::Debug for StreamUpstreamConf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamUpstreamConf").finish_non_exhaustive()
    }
}

impl StreamUpstreamConf {
    /// The configuration for a stream whose upstream has `ucf`; `ucf` itself when the stream
    /// read timeout is its own.
    ///
    /// # Safety
    ///
    /// `ucf` is an upstream configuration of the running cycle; `request_pool` is the pool of
    /// the request the stream belongs to.
    unsafe fn get(
        &self,
        ucf: *mut ngx_http_upstream_conf_t,
        timeout: ngx_msec_t,
        request_pool: *mut ngx_pool_t,
    ) -> Option<*mut ngx_http_upstream_conf_t> {
        if (*ucf).read_timeout == timeout {
            return Some(ucf);
        }
        if self.of.get() == ucf {
            return Some(self.copy.get());
        }
        // Every response of a location normally has the same upstream configuration; should
        // one differ from the first, its streams get a copy each, in the request pool.
        let first = self.of.get().is_null();
        let pool = if first {
            (*ngx_cycle).pool
        } else {
            request_pool
        };
        let copy = ngx_palloc(pool, size_of::<ngx_http_upstream_conf_t>())
            .cast::<ngx_http_upstream_conf_t>();
        if copy.is_null() {
            return None;
        }
        // The fields it shares by pointer (arrays, hashes) are read-only after configuration.
        copy.write(ptr::read(ucf));
        (*copy).read_timeout = timeout;
        if first {
            self.of.set(ucf);
            self.copy.set(copy);
        }
        Some(copy)
    }
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
