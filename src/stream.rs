//! Per-stream state of switched responses: the body filter that tracks event boundaries, the
//! heartbeat timer that writes an SSE comment into a quiet event stream, and the end of a
//! stream drained on shutdown.

use core::ffi::c_void;
use core::mem::{size_of, zeroed};
use core::ptr::{self, addr_of_mut};

use ngx::core::Status;
use ngx::ffi::{
    ngx_add_timer, ngx_buf_t, ngx_chain_t, ngx_current_msec, ngx_del_timer, ngx_event_t,
    ngx_http_finalize_request, ngx_http_output_body_filter_pt, ngx_http_output_filter,
    ngx_http_request_t, ngx_http_run_posted_requests, ngx_http_top_body_filter, ngx_int_t,
    ngx_msec_t, ngx_palloc, ngx_pcalloc, ngx_pool_cleanup_add, ngx_post_event, ngx_posted_events,
    off_t, NGX_LOG_INFO,
};
use ngx::http::HttpModule;
use ngx::ngx_log_error;
use sse_auto_core::boundary::EventBoundary;
use sse_auto_core::timeout::TimeoutRule;

use crate::metrics::{self, EndReason, Finish, Kind};
use crate::{drain, tls, Module};

/// `u->finalize_request` of the upstream modules.
pub type Finalize = unsafe extern "C" fn(*mut ngx_http_request_t, ngx_int_t);

static mut NEXT_BODY_FILTER: ngx_http_output_body_filter_pt = None;

/// Whether the body filter is in the filter chain that serves requests. Heartbeats, draining
/// and giving back a TLS stream's send buffer (`tls`) need it; it is installed only when some
/// location enables heartbeats or draining, or some server listens with TLS, so other
/// configurations pay nothing per buffer (and those, one context lookup per buffer of the
/// responses that are not streams). Kept next to the chain itself (both are process globals
/// rebuilt by every configuration load), so a stream is tracked only when its buffers pass
/// the filter.
static mut BODY_FILTER_INSTALLED: bool = false;

/// Set while the configuration is read when some location enables heartbeats or draining, or
/// some server listens with TLS.
static mut BODY_FILTER_WANTED: bool = false;

/// An SSE comment line and the empty line that ends it: ignored by every client.
static HEARTBEAT: &[u8] = b":\n\n";

/// Per-request state of a stream, in the module's request context slot.
#[repr(C)]
pub struct Ctx {
    /// What was decided, for `$sse_auto`.
    pub label: &'static str,
    /// The stream's upstream read timeout and why, for `$sse_auto_read_timeout`; None for
    /// responses that are not streams (soft-streamed ones keep the location's).
    pub read_timeout: Option<(ngx_msec_t, TimeoutRule)>,
    /// Event boundaries, heartbeats and draining; null when the stream has none of them.
    stream: *mut Stream,
    /// What the metrics need at the stream's end; `kind` is None for other responses.
    meter: Meter,
}

/// A stream as the metrics see it.
struct Meter {
    kind: Option<Kind>,
    request: *mut ngx_http_request_t,
    /// When it was decided, and what its connection had sent by then.
    started: ngx_msec_t,
    sent: off_t,
    /// How nginx finished its upstream part, and why the module ended it, if it did.
    finish: Option<Finish>,
    noted: Option<EndReason>,
    /// The upstream module's own `finalize_request`, which `finalize` wraps.
    finalize: Option<Finalize>,
}

/// What a stream with heartbeats or draining needs: allocated only for those.
pub struct Stream {
    request: *mut ngx_http_request_t,
    /// Whether the forwarded bytes end between two events.
    boundary: EventBoundary,
    /// `sse_auto_heartbeat` for this stream; 0 when off.
    heartbeat_ms: ngx_msec_t,
    /// When the stream was switched, for the log.
    started: ngx_msec_t,
    /// The last buffer went by: nothing may be written any more.
    finished: bool,
    heartbeat: ngx_event_t,
    heartbeat_buf: ngx_buf_t,
    heartbeat_out: ngx_chain_t,
    /// `sse_auto_drain` for this stream; 0 when off.
    drain_ms: ngx_msec_t,
    /// The worker is exiting and the drain delay is over: end at the next event boundary.
    draining: bool,
    /// In the worker's queue of drainable streams (drain_ms > 0).
    drain_entry: drain::Entry,
    /// Posted (or timed, while the client still has data to take) to end the stream.
    drain_event: ngx_event_t,
}

impl Ctx {
    /// A context with no per-stream state.
    pub const fn new(label: &'static str) -> Self {
        Self {
            label,
            read_timeout: None,
            stream: ptr::null_mut(),
            meter: Meter {
                kind: None,
                request: ptr::null_mut(),
                started: 0,
                sent: 0,
                finish: None,
                noted: None,
                finalize: None,
            },
        }
    }

    /// Makes `ctx` the module's context of the request.
    ///
    /// # Safety
    ///
    /// `ctx` lives as long as the request (its pool), and is a `Ctx` or starts with one.
    pub unsafe fn attach(r: &mut ngx_http_request_t, ctx: *mut Ctx) {
        // SAFETY: r.ctx has one slot per HTTP module; ctx_index is ours.
        unsafe { *r.ctx.add(Module::module().ctx_index) = ctx.cast::<c_void>() };
    }

    /// Attaches the state of a stream to the request, from the request pool, and counts it
    /// as open until the pool is destroyed. Heartbeats and draining are set up when asked for
    /// and the body filter is installed; their timers are removed with the pool.
    pub fn create(
        r: &mut ngx_http_request_t,
        kind: Kind,
        label: &'static str,
        read_timeout: (ngx_msec_t, TimeoutRule),
        heartbeat_ms: ngx_msec_t,
        drain_ms: ngx_msec_t,
    ) -> Option<()> {
        // SAFETY: allocation from the request pool, which outlives everything that uses ctx.
        let ctx = unsafe { ngx_palloc(r.pool, size_of::<Ctx>()) }.cast::<Ctx>();
        if ctx.is_null() {
            return None;
        }
        // SAFETY: the request pool is valid; nginx initialises the entry's next link.
        let cln = unsafe { ngx_pool_cleanup_add(r.pool, 0).as_mut() }?;
        // SAFETY: a stream is an upstream response (the filter checked it).
        let u = unsafe { r.upstream.as_mut() }?;
        // SAFETY: read while requests are served, written only while configuring.
        let tracked = unsafe { BODY_FILTER_INSTALLED } && (heartbeat_ms > 0 || drain_ms > 0);
        let stream = if tracked {
            Stream::create(r, heartbeat_ms, drain_ms)?
        } else {
            ptr::null_mut()
        };
        // SAFETY: ctx is a fresh allocation of the right size; a request always has a
        // connection; ngx_current_msec is read-only here.
        unsafe {
            ctx.write(Ctx {
                label,
                read_timeout: Some(read_timeout),
                stream,
                meter: Meter {
                    kind: Some(kind),
                    request: r,
                    started: ngx_current_msec,
                    sent: (*r.connection).sent,
                    finish: None,
                    noted: None,
                    finalize: u.finalize_request,
                },
            });
            Ctx::attach(r, ctx);
        }
        // Learns how nginx ends the stream; nginx calls it once, before it frees the request.
        u.finalize_request = Some(finalize);
        cln.handler = Some(ended);
        cln.data = ctx.cast();
        metrics::opened(kind);
        // SAFETY: null, or the Stream just made; nothing else refers to it yet.
        if let Some(stream) = unsafe { stream.as_mut() } {
            // A stream that stays quiet from its start gets heartbeats too.
            stream.arm_heartbeat();
            if drain_ms > 0 {
                drain::register(&mut stream.drain_entry, Stream::drain_due);
            }
        }
        Some(())
    }

    /// Notes why the module ends the request's stream, for the metrics.
    fn note(r: &ngx_http_request_t, reason: EndReason) {
        // Nobody else holds a reference to the context across this.
        if let Some(ctx) = Ctx::get(r).map(|c| ptr::from_ref(c).cast_mut()) {
            // SAFETY: see above.
            unsafe { (*ctx).meter.noted = Some(reason) };
        }
    }

    /// The module's context of a request, if it is a stream.
    pub fn get(r: &ngx_http_request_t) -> Option<&Ctx> {
        // SAFETY: r.ctx has one slot per HTTP module; ours is null or a Ctx made by create().
        unsafe {
            (*r.ctx.add(Module::module().ctx_index))
                .cast::<Ctx>()
                .as_ref()
        }
    }
}

impl Stream {
    fn create(
        r: &mut ngx_http_request_t,
        heartbeat_ms: ngx_msec_t,
        drain_ms: ngx_msec_t,
    ) -> Option<*mut Stream> {
        // SAFETY: allocation from the request pool, which outlives everything that uses it.
        let stream = unsafe { ngx_pcalloc(r.pool, size_of::<Stream>()) }.cast::<Stream>();
        if stream.is_null() {
            return None;
        }
        // SAFETY: the request pool is valid; nginx initialises the returned cleanup entry's
        // next link, we fill in the rest.
        let cln = unsafe { ngx_pool_cleanup_add(r.pool, 0).as_mut() }?;

        // SAFETY: stream is a fresh allocation of the right size. The nginx structures are
        // plain C data for which all-zero is the initial state nginx itself uses (ngx_pcalloc).
        unsafe {
            stream.write(Stream {
                request: r,
                boundary: EventBoundary::new(),
                heartbeat_ms,
                started: ngx_current_msec,
                finished: false,
                heartbeat: zeroed(),
                heartbeat_buf: zeroed(),
                heartbeat_out: zeroed(),
                drain_ms,
                draining: false,
                drain_entry: drain::Entry::new(),
                drain_event: zeroed(),
            });
        }
        // SAFETY: just initialised.
        let s = unsafe { &mut *stream };
        s.heartbeat.handler = Some(heartbeat_handler);
        s.heartbeat.data = stream.cast();
        // SAFETY: a request always has a connection with a log.
        s.heartbeat.log = unsafe { (*r.connection).log };
        // A quiet stream's heartbeat must not keep a shutting-down worker alive.
        s.heartbeat.set_cancelable(1);
        s.drain_event.handler = Some(end_drained);
        s.drain_event.data = stream.cast();
        s.drain_event.log = s.heartbeat.log;

        cln.handler = Some(cleanup);
        cln.data = stream.cast();
        Some(stream)
    }

    /// The drain watcher's callback for the stream whose `drain_entry` is `entry`.
    ///
    /// # Safety
    ///
    /// `entry` is the `drain_entry` of a live Stream, and no other reference to it exists.
    unsafe fn drain_due(entry: *mut drain::Entry, exiting_for: ngx_msec_t) {
        // SAFETY: see above: the Stream that holds the entry.
        let stream = unsafe {
            &mut *entry
                .byte_sub(core::mem::offset_of!(Stream, drain_entry))
                .cast::<Stream>()
        };
        stream.drain_if_due(exiting_for);
    }

    /// Called by the worker's watcher once it is exiting: starts draining when the stream's
    /// delay is over.
    fn drain_if_due(&mut self, exiting_for: ngx_msec_t) {
        if self.draining || self.finished || exiting_for < self.drain_ms {
            return;
        }
        self.draining = true;
        if self.boundary.at_boundary() {
            self.post_end();
        }
    }

    fn post_end(&mut self) {
        // SAFETY: the event lives in ctx, in the request pool; the pool cleanup removes it
        // from the posted queue.
        unsafe { ngx_post_event(&mut self.drain_event, addr_of_mut!(ngx_posted_events)) };
    }

    fn arm_heartbeat(&mut self) {
        if self.heartbeat_ms > 0 && !self.finished {
            // SAFETY: the event was initialised in create() and lives in the request pool.
            unsafe { ngx_add_timer(&mut self.heartbeat, self.heartbeat_ms) };
        }
    }

    fn stop_heartbeat(&mut self) {
        if self.heartbeat.timer_set() != 0 {
            // SAFETY: the timer is in the tree (timer_set), and deleted only here.
            unsafe { ngx_del_timer(&mut self.heartbeat) };
        }
    }
}

/// Called by the configuration merge when a location enables heartbeats or draining, and at
/// postconfiguration when a server listens with TLS.
pub fn want_body_filter() {
    // SAFETY: the configuration is read single-threaded.
    unsafe { BODY_FILTER_WANTED = true };
}

/// Starts reading a configuration; called from preconfiguration.
pub fn preconfigure() {
    // SAFETY: the configuration is read single-threaded.
    unsafe { BODY_FILTER_WANTED = false };
}

/// Installs the body filter if the configuration needs it; called from postconfiguration,
/// after every location is merged.
pub fn init() {
    // SAFETY: postconfiguration runs single-threaded while the configuration is read; each
    // load rebuilds the whole filter chain, and the flag with it.
    unsafe {
        BODY_FILTER_INSTALLED = BODY_FILTER_WANTED;
        if BODY_FILTER_INSTALLED {
            NEXT_BODY_FILTER = ngx_http_top_body_filter;
            ngx_http_top_body_filter = Some(body_filter);
        }
    }
}

extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request to every body filter.
    match unsafe { Ctx::get(&*r) } {
        Some(ctx) if ctx.read_timeout.is_some() => stream_body_filter(ctx.stream, r, chain),
        // not a stream: nothing more than this lookup for every other response
        _ => next_body_filter(r, chain),
    }
}

/// The body filter of a stream: event boundaries for heartbeats and draining, then the TLS
/// send buffer. Out of line, so that other responses pay only for the lookup above.
#[inline(never)]
fn stream_body_filter(
    stream: *mut Stream,
    r: *mut ngx_http_request_t,
    chain: *mut ngx_chain_t,
) -> ngx_int_t {
    // SAFETY: null or the request's Stream; the module's own code is the only user of it,
    // and never re-enters this filter while holding it.
    let rc = match unsafe { stream.as_mut() } {
        Some(stream) => track(stream, r, chain),
        None => next_body_filter(r, chain),
    };
    if rc != Status::NGX_ERROR.into() {
        // SAFETY: the request is alive: nothing finalizes it inside its output filters.
        unsafe { tls::release_send_buffer(&*r) };
    }
    rc
}

/// The body filter of a tracked stream: notes event boundaries and the end of the response.
#[inline(never)]
fn track(ctx: &mut Stream, r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    let mut forwarded = false;
    let mut cl = chain;
    // SAFETY: the chain and its buffers are valid for the duration of the call.
    while let Some(link) = unsafe { cl.as_ref() } {
        if let Some(b) = unsafe { link.buf.as_ref() } {
            if !b.pos.is_null() && b.last > b.pos && b.in_file() == 0 {
                // SAFETY: pos..last is the buffer's unsent data in memory.
                let data = unsafe {
                    core::slice::from_raw_parts(b.pos, b.last.offset_from(b.pos) as usize)
                };
                ctx.boundary.feed(data);
                forwarded = true;
            } else if b.in_file() != 0 {
                // Non-buffered upstreams never send file buffers; if one does, do not guess.
                ctx.boundary.feed(b"?");
                forwarded = true;
            }
            if b.last_buf() != 0 || b.last_in_chain() != 0 {
                ctx.finished = true;
            }
        }
        cl = link.next;
    }

    let rc = next_body_filter(r, chain);

    if ctx.finished {
        ctx.stop_heartbeat();
    } else if forwarded {
        ctx.arm_heartbeat();
        if ctx.draining && ctx.boundary.at_boundary() {
            ctx.post_end();
        }
    }
    rc
}

fn next_body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    // SAFETY: set in postconfiguration before any request; the chain always ends in the
    // write filter, so it is never None here.
    match unsafe { NEXT_BODY_FILTER } {
        Some(next) => unsafe { next(r, chain) },
        None => Status::NGX_ERROR.into(),
    }
}

extern "C" fn heartbeat_handler(ev: *mut ngx_event_t) {
    // SAFETY: the event is the one in a Stream, whose data points back at it; a pending timer
    // means the request (and its pool holding ctx) is alive: the pool cleanup deletes it.
    // References to ctx are kept short: the output filter below re-enters body_filter, which
    // takes its own.
    let ctx_ptr = unsafe { (*ev).data.cast::<Stream>() };
    let (r, out) = {
        // SAFETY: see above.
        let ctx = unsafe { &mut *ctx_ptr };
        let r = ctx.request;
        // SAFETY: the request is alive (see above).
        let (req, c) = unsafe { (&*r, (*r).connection) };

        if ctx.finished {
            return;
        }

        // Only between events, and only when the client took everything written so far.
        // SAFETY: c is the request's connection.
        if !ctx.boundary.at_boundary() || !req.out.is_null() || unsafe { (*c).buffered() } != 0 {
            ctx.arm_heartbeat();
            return;
        }

        let b = &mut ctx.heartbeat_buf;
        // SAFETY: all-zero is an empty buffer.
        *b = unsafe { zeroed() };
        // The static bytes are only read.
        b.pos = HEARTBEAT.as_ptr().cast_mut();
        // SAFETY: one past the end of the same static slice.
        b.last = unsafe { b.pos.add(HEARTBEAT.len()) };
        b.set_memory(1);
        b.set_flush(1);
        ctx.heartbeat_out.buf = b;
        ctx.heartbeat_out.next = ptr::null_mut();
        (r, ptr::addr_of_mut!(ctx.heartbeat_out))
    };

    // SAFETY: a live request; the chain lives in ctx, which outlives the call. The body filter
    // sees the comment and re-arms the timer.
    let rc = unsafe { ngx_http_output_filter(r, out) };
    // SAFETY: the request is still alive: nothing finalizes it inside the output filter.
    let c = unsafe { (*r).connection };
    metrics::heartbeat(rc != Status::NGX_ERROR.into());

    if rc == Status::NGX_ERROR.into() {
        // SAFETY: as above; the last use of ctx before the request is finalized.
        let ctx = unsafe { &mut *ctx_ptr };
        // SAFETY: c is the request's connection, with its log.
        let (sent, log) = unsafe { ((*c).sent, (*c).log) };
        // SAFETY: read-only access to nginx's cached time.
        let age = unsafe { ngx_current_msec }.wrapping_sub(ctx.started);
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "sse_auto: client gone, heartbeat failed after {} bytes sent, stream age {}.{:03}s",
            sent,
            age / 1000,
            age % 1000
        );
        ctx.finished = true;
        // SAFETY: the request is alive.
        Ctx::note(unsafe { &*r }, EndReason::Client);
        // SAFETY: a live request with its upstream (the filter switched only those).
        unsafe { end_after_client_error(r) };
    }

    // SAFETY: nginx keeps the connection structure valid and marks it destroyed when the
    // request above closed it; ngx_http_run_posted_requests checks that.
    unsafe { ngx_http_run_posted_requests(c) };
}

/// Ends a request whose client is gone, closing the upstream connection at once so the
/// backend learns it, in the order nginx itself uses on a failed write: the upstream is
/// finalized first, then the request.
///
/// Finalizing the request alone would run the upstream's cleanup from inside
/// `ngx_http_terminate_request`, which frees the request while that function still walks
/// its cleanup list. The extra reference keeps the request alive until the second step.
///
/// # Safety
///
/// `r` is a live main request with an upstream, called from an event handler.
unsafe fn end_after_client_error(r: *mut ngx_http_request_t) {
    let u = (*r).upstream;
    if let Some(cleanup) = u.as_ref().and_then(|u| u.cleanup.as_ref()).and_then(|c| *c) {
        (*(*r).main).set_count((*(*r).main).count() + 1);
        // ngx_http_upstream_cleanup: closes the upstream connection, drops the reference.
        cleanup(r.cast());
    }
    ngx_http_finalize_request(r, Status::NGX_ERROR.into());
}

/// Ends a drained stream where it stands, at an event boundary, as if the upstream had
/// finished its response: the client gets a complete response and reconnects.
extern "C" fn end_drained(ev: *mut ngx_event_t) {
    // SAFETY: the event is the drain event of a live Stream (the pool cleanup cancels it).
    let ctx = unsafe { &mut *(*ev).data.cast::<Stream>() };
    let r = ctx.request;
    // SAFETY: the request is alive while its Stream is.
    let (req, c) = unsafe { (&mut *r, (*r).connection) };
    // SAFETY: the filter switched only upstream responses: upstream is set.
    let u = unsafe { &mut *req.upstream };

    if ctx.finished || u.cleanup.is_null() || !ctx.boundary.at_boundary() {
        // Done already, or the next event boundary is still to come (the body filter
        // posts this event again then).
        return;
    }

    // SAFETY: c is the request's connection.
    if !u.busy_bufs.is_null() || !req.out.is_null() || unsafe { (*c).buffered() } != 0 {
        // The client has not taken everything yet: look again shortly.
        // SAFETY: the event lives in ctx; the pool cleanup deletes its timer.
        unsafe { ngx_add_timer(ev, 100) };
        return;
    }

    // SAFETY: c is the request's connection, with its log.
    let (sent, log) = unsafe { ((*c).sent, (*c).log) };
    // SAFETY: read-only access to nginx's cached time.
    let age = unsafe { ngx_current_msec }.wrapping_sub(ctx.started);
    ngx_log_error!(
        NGX_LOG_INFO,
        log,
        "sse_auto: stream ended at an event boundary for shutdown after {} bytes sent, \
         stream age {}.{:03}s",
        sent,
        age / 1000,
        age % 1000
    );

    // With the response length reached, the non-buffered upstream code finalizes the
    // request normally: the last chunk goes to the client, the upstream connection closes.
    Ctx::note(req, EndReason::Drain);
    u.length = 0;
    if let Some(handler) = req.write_event_handler {
        // SAFETY: the request's own write handler, called from an event as nginx does.
        unsafe { handler(r) };
    }
    // SAFETY: nginx marks the connection destroyed if it was closed; the call checks that.
    unsafe { ngx_http_run_posted_requests(c) };
}

extern "C" fn cleanup(data: *mut c_void) {
    // SAFETY: registered in create() with ctx as data; runs while the pool still exists.
    let ctx = unsafe { &mut *data.cast::<Stream>() };
    ctx.finished = true;
    ctx.stop_heartbeat();
    drain::cancel(&mut ctx.drain_event);
    drain::unregister(&mut ctx.drain_entry);
}

/// The wrapped `u->finalize_request` of a stream: notes how nginx finished it, then runs the
/// upstream module's own function.
unsafe extern "C" fn finalize(r: *mut ngx_http_request_t, rc: ngx_int_t) {
    // SAFETY: nginx passes the live request, whose context is the stream's Ctx (create()
    // wrapped the function together with attaching it); no other reference to it is held.
    let original = unsafe {
        let Some(ctx) = Ctx::get(&*r).map(|c| ptr::from_ref(c).cast_mut()) else {
            return;
        };
        (*ctx).meter.finish = Some(metrics::finish_of(rc));
        (*ctx).meter.finalize
    };
    if let Some(f) = original {
        // SAFETY: the upstream module's own function, with nginx's arguments.
        unsafe { f(r, rc) };
    }
}

/// The request pool's cleanup of a stream: it has ended; counts why, how long it lasted and
/// what it sent.
extern "C" fn ended(data: *mut c_void) {
    // SAFETY: registered in create() with the Ctx as data; the pool, the request in it and
    // the request's connection still exist while pool cleanups run.
    let m = unsafe { &(*data.cast::<Ctx>()).meter };
    // SAFETY: as above; null only for contexts that are not streams.
    let (Some(kind), Some(r)) = (m.kind, unsafe { m.request.as_ref() }) else {
        return;
    };
    // SAFETY: a request always has a connection, alive until after its pool is destroyed.
    let c = unsafe { &*r.connection };
    let reason = sse_auto_core::metrics::end_reason(m.finish, m.noted, c.error() != 0);
    // SAFETY: read-only access to nginx's cached time.
    let age = unsafe { ngx_current_msec }.wrapping_sub(m.started);
    let bytes = u64::try_from(c.sent - m.sent).unwrap_or(0);
    metrics::ended(kind, reason, age as u64, bytes);
}
