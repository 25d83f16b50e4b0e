//! Soft streaming: a buffered upstream response without a length reaches the client when its
//! upstream pauses, with nginx's buffering kept (temp files, cache, the early release of the
//! upstream for slow clients).
//!
//! nginx forwards a buffered response of unknown length only in whole buffers (and over TLS
//! only in whole TLS records): the last partly filled buffer waits for more data or the end.
//!
//! Most such responses end within a few milliseconds, so arming one allocates nothing: the
//! header filter takes an entry of a per-worker slab for it and wraps the upstream module's
//! `finalize_request` (which nginx calls once, before it frees the request), which gives the
//! entry back if the request ends first. The next tick of one cancelable per-worker timer looks
//! at the armed requests: one whose upstream is done gets its `finalize_request` back and
//! nothing else; one still in flight gets its state and joins the tick's queue. A response whose
//! upstream has been quiet for `sse_auto_soft_idle`, or that has held data for
//! `sse_auto_soft_hold`, is pushed: the partly filled buffer goes through the upstream module's
//! input filter as it does at the end of a response, the upstream and client handlers move it
//! on as after a read, and a flush takes it through gzip, postpone_output and TLS.

use core::mem::{offset_of, size_of, zeroed};
use core::ptr::{self, addr_of, addr_of_mut};

use ngx::ffi::{
    ngx_add_timer, ngx_alloc, ngx_buf_t, ngx_chain_t, ngx_current_msec, ngx_cycle_t,
    ngx_event_pipe_t, ngx_event_t, ngx_http_finalize_request, ngx_http_output_filter,
    ngx_http_request_t, ngx_http_run_posted_requests, ngx_int_t, ngx_msec_t, ngx_palloc,
    ngx_queue_empty, ngx_queue_init, ngx_queue_insert_before, ngx_queue_remove, ngx_queue_t, off_t,
    NGX_DONE, NGX_ERROR,
};
use ngx::log::DebugMask;
use ngx::ngx_log_debug;

use crate::config::LocConf;
use crate::metrics::{self, Kind};
use crate::stream::{Ctx, Finalize};

/// How often the tick looks at the armed and in-flight responses.
const TICK_MS: ngx_msec_t = 25;

/// Slab entries per worker: responses armed within one tick. When they run out, a response
/// is not soft-streamed (nginx buffers it as always).
const SLAB_ENTRIES: usize = 2048;

/// A soft-streamed response in flight, from the request pool.
#[repr(C)]
pub struct Soft {
    /// The request context nginx's other hooks read (`$sse_auto`): first, so a `Soft` is
    /// also a `Ctx`.
    ctx: Ctx,
    link: ngx_queue_t,
    request: *mut ngx_http_request_t,
    /// The upstream module's own `finalize_request`.
    finalize: Option<Finalize>,
    idle: ngx_msec_t,
    hold: ngx_msec_t,
    /// `p->read_length` at the last tick, and when it last grew.
    seen: off_t,
    active_at: ngx_msec_t,
    /// `p->read_length` when nothing read was held any more.
    clean: off_t,
    /// When data read after `clean` was first seen.
    held_since: ngx_msec_t,
}

/// An armed request not yet looked at, in the worker's slab.
#[repr(C)]
struct Armed {
    /// The request's context until the tick looks at it: first, as in `Soft`.
    ctx: Ctx,
    /// In ARMED (taken) or FREE.
    link: ngx_queue_t,
    request: *mut ngx_http_request_t,
    finalize: Option<Finalize>,
    idle: ngx_msec_t,
    hold: ngx_msec_t,
}

// Worker processes are single-threaded: these are only touched from the event loop.
static mut QUEUE: ngx_queue_t = ngx_queue_t {
    prev: ptr::null_mut(),
    next: ptr::null_mut(),
};
static mut ARMED: ngx_queue_t = ngx_queue_t {
    prev: ptr::null_mut(),
    next: ptr::null_mut(),
};
static mut FREE: ngx_queue_t = ngx_queue_t {
    prev: ptr::null_mut(),
    next: ptr::null_mut(),
};
static mut SLAB: *mut Armed = ptr::null_mut();
// SAFETY: all-zero is the initial state of an nginx event.
static mut TICK: ngx_event_t = unsafe { zeroed() };

/// The context of armed requests that ended before the tick could see them in flight:
/// nothing of theirs but `$sse_auto` needs one.
static mut DONE: Ctx = Ctx::new("soft");

/// A flush-only buffer and its link, shared by every push: nginx's output filters only read
/// a buffer without data, and copy the links they keep.
// SAFETY: all-zero is an empty buffer and an empty link; init_process sets the flush flag and
// the link's buffer before the event loop.
static mut FLUSH_BUF: ngx_buf_t = unsafe { zeroed() };
static mut FLUSH: ngx_chain_t = unsafe { zeroed() };

/// `init_process`: prepares the worker's queues, slab and tick.
///
/// # Safety
///
/// Called by nginx once per worker process, before its event loop, with the worker's cycle.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) {
    // SAFETY: see above, and the statics.
    unsafe {
        ngx_queue_init(addr_of_mut!(QUEUE));
        ngx_queue_init(addr_of_mut!(ARMED));
        ngx_queue_init(addr_of_mut!(FREE));
        let slab = ngx_alloc(SLAB_ENTRIES * size_of::<Armed>(), (*cycle).log).cast::<Armed>();
        if !slab.is_null() {
            for i in 0..SLAB_ENTRIES {
                let e = slab.add(i);
                e.write(Armed {
                    ctx: Ctx::new("soft"),
                    link: zeroed(),
                    request: ptr::null_mut(),
                    finalize: None,
                    idle: 0,
                    hold: 0,
                });
                ngx_queue_insert_before(addr_of_mut!(FREE), addr_of_mut!((*e).link));
            }
            SLAB = slab;
        }
        let t = &mut *addr_of_mut!(TICK);
        t.handler = Some(tick);
        t.log = (*cycle).log;
        // Never null: nginx's debug log reads the "connection" behind any timer's data.
        t.data = cycle.cast();
        // In-flight responses must not keep a shutting-down worker alive.
        t.set_cancelable(1);
        (*addr_of_mut!(FLUSH_BUF)).set_flush(1);
        (*addr_of_mut!(FLUSH)).buf = addr_of_mut!(FLUSH_BUF);
    }
}

/// Soft-streams a buffered response without a length: called from the header filter. Costs
/// no allocation; returns false when the worker's slab is used up (the response is then
/// buffered as always). An armed response is open for the metrics until its upstream is done.
pub fn arm(r: &mut ngx_http_request_t, lcf: &LocConf) -> bool {
    let armed = take_entry(r, lcf);
    if armed {
        metrics::opened(Kind::Soft);
    } else {
        metrics::decided(Kind::Soft);
    }
    armed
}

fn take_entry(r: &mut ngx_http_request_t, lcf: &LocConf) -> bool {
    // SAFETY: the decision checked the response comes from an upstream.
    let Some(u) = (unsafe { r.upstream.as_mut() }) else {
        return false;
    };
    // SAFETY: the event loop's thread; the queues and the slab are the worker's (a module
    // loaded by `nginx -t` serves no requests: before init_process they are empty).
    unsafe {
        let free = addr_of_mut!(FREE);
        if (*free).next.is_null() || ngx_queue_empty(free) || u.finalize_request.is_none() {
            return false;
        }
        let q = (*free).next;
        ngx_queue_remove(q);
        ngx_queue_insert_before(addr_of_mut!(ARMED), q);
        let e = &mut *q.byte_sub(offset_of!(Armed, link)).cast::<Armed>();
        e.request = r;
        e.finalize = u.finalize_request;
        e.idle = lcf.soft_idle;
        e.hold = lcf.soft_hold;
        u.finalize_request = Some(finalize);
        Ctx::attach(r, &mut e.ctx);
        let t = &mut *addr_of_mut!(TICK);
        if t.timer_set() == 0 {
            ngx_log_debug!(mask: DebugMask::Event, t.log, "sse_auto: soft tick started");
            ngx_add_timer(t, TICK_MS);
        }
    }
    true
}

/// The slab entry whose context is `ctx`, if it is one.
///
/// # Safety
///
/// The event loop's thread.
unsafe fn armed_of(ctx: *const Ctx) -> Option<*mut Armed> {
    // SAFETY: see above; only addresses are compared.
    unsafe {
        let slab = *addr_of!(SLAB);
        let end = slab.wrapping_add(SLAB_ENTRIES);
        let e = ctx.cast::<Armed>().cast_mut();
        (!slab.is_null() && e >= slab && e < end).then_some(e)
    }
}

/// Gives a slab entry back.
///
/// # Safety
///
/// `e` is a taken entry of the slab.
unsafe fn release(e: *mut Armed) {
    // SAFETY: see above.
    unsafe {
        ngx_queue_remove(addr_of_mut!((*e).link));
        ngx_queue_insert_before(addr_of_mut!(FREE), addr_of_mut!((*e).link));
    }
}

/// The wrapped `u->finalize_request`: nginx calls it once, when the upstream part of the
/// request ends, before the request can be freed. The response is forgotten, then the
/// upstream module's own function runs.
unsafe extern "C" fn finalize(r: *mut ngx_http_request_t, rc: ngx_int_t) {
    // SAFETY: nginx passes the live request; its context is a taken slab entry or its Soft
    // (the tick gives others their finalize_request back).
    let original = unsafe {
        let Some(ctx) = Ctx::get(&*r).map(ptr::from_ref) else {
            return;
        };
        if ptr::eq(ctx, addr_of!(DONE)) {
            // Not wrapped any more (the tick gave the function back): never called so.
            return;
        }
        if let Some(e) = armed_of(ctx) {
            // The request keeps the entry as its context: every entry's says "soft", which
            // is all $sse_auto reads of it later.
            let f = (*e).finalize;
            release(e);
            f
        } else {
            let s = &mut *ctx.cast::<Soft>().cast_mut();
            s.unregister();
            s.finalize
        }
    };
    metrics::soft_done();
    if let Some(f) = original {
        // SAFETY: the upstream module's own function, with nginx's arguments.
        unsafe { f(r, rc) };
    }
}

/// Looks at an armed request for the first time: tracked if still in flight, else given its
/// own `finalize_request` back.
///
/// # Safety
///
/// `e` is a taken slab entry of a live request.
unsafe fn track(e: *mut Armed) {
    // SAFETY: see above; the upstream and its pipe live in the request pool.
    unsafe {
        let r = (*e).request;
        let finalize = (*e).finalize;
        let (idle, hold) = ((*e).idle, (*e).hold);
        release(e);
        let u = &mut *(*r).upstream;
        let in_flight = u.pipe.as_ref().is_some_and(|pipe| {
            !pipe.upstream.is_null()
                && pipe.upstream_done() == 0
                && pipe.upstream_eof() == 0
                && pipe.upstream_error() == 0
        });
        let s = if in_flight {
            ngx_palloc((*r).pool, size_of::<Soft>()).cast::<Soft>()
        } else {
            ptr::null_mut()
        };
        if s.is_null() {
            // Done (or no memory): nothing to do for it any more.
            metrics::soft_done();
            u.finalize_request = finalize;
            Ctx::attach(&mut *r, addr_of_mut!(DONE));
            return;
        }
        s.write(Soft {
            ctx: Ctx::new("soft"),
            link: zeroed(),
            request: r,
            finalize,
            idle,
            hold,
            seen: 0,
            active_at: ngx_current_msec,
            clean: 0,
            held_since: 0,
        });
        Ctx::attach(&mut *r, s.cast());
        ngx_queue_insert_before(addr_of_mut!(QUEUE), addr_of_mut!((*s).link));
    }
}

impl Soft {
    fn unregister(&mut self) {
        if !self.link.next.is_null() {
            // SAFETY: the link is in QUEUE or in a tick's list of responses to look at.
            unsafe { ngx_queue_remove(&mut self.link) };
        }
    }

    /// # Safety
    ///
    /// `q` is the `link` of a live Soft, and no other reference to it exists.
    unsafe fn from_link<'a>(q: *mut ngx_queue_t) -> &'a mut Soft {
        // SAFETY: see above.
        unsafe { &mut *q.byte_sub(offset_of!(Soft, link)).cast::<Soft>() }
    }

    /// One tick for this response: notes new data, and pushes what is held when the upstream
    /// has been quiet long enough or the data has waited long enough. May end the request.
    fn look(&mut self, now: ngx_msec_t) {
        let r = self.request;
        // SAFETY: the request is alive while its Soft is registered (the pool cleanup
        // unregisters it); its upstream and pipe live in its pool.
        let (u, c) = unsafe { (&mut *(*r).upstream, &mut *(*r).connection) };
        // SAFETY: as above; set up before the response was registered.
        let Some(p) = (unsafe { u.pipe.as_mut() }) else {
            self.unregister();
            return;
        };

        if u.cleanup.is_null()
            || p.upstream.is_null()
            || p.upstream_done() != 0
            || p.upstream_eof() != 0
            || p.upstream_error() != 0
            || p.downstream_error() != 0
            || p.downstream_done() != 0
        {
            // The end is near: nginx sends the rest with the last buffer, flushed.
            self.unregister();
            return;
        }

        if p.read_length != self.seen {
            self.seen = p.read_length;
            self.active_at = now;
            if self.held_since == 0 {
                self.held_since = now.max(1);
            }
        }
        if p.read_length == self.clean {
            return;
        }
        let idle = now.wrapping_sub(self.active_at) >= self.idle;
        let held = now.wrapping_sub(self.held_since) >= self.hold;
        if !idle && !held {
            return;
        }

        // SAFETY: the connection's write event, alive with it.
        let wev = unsafe { &*c.write };
        if !ptr::eq(c.data.cast::<ngx_http_request_t>(), r)
            || wev.ready() == 0
            || wev.delayed() != 0
            || wev.timedout() != 0
            || !p.in_.is_null()
            || !p.out.is_null()
        {
            // The client has not taken what it has, or nginx is writing: a push would spend a
            // buffer it will not read yet. Look again at the next tick.
            return;
        }

        // What is held: a partly filled buffer the pipe waits to fill, or data written to
        // the output filters that gzip, postpone_output or TLS keep back. A response being
        // stored is not pushed from its raw buffer: the input filter can end the response
        // there (FastCGI's end record), and only the pipe's read loop then writes the last
        // data to the cache's temp file (found by the stack fuzzer: seed 61, case 19); what
        // nginx has written out of its temp file is still flushed.
        let cacheable = p.cacheable() != 0;
        // SAFETY: free_raw_bufs is null or the pipe's list of raw buffers.
        let raw = unsafe { p.free_raw_bufs.as_ref() }
            .and_then(|cl| unsafe { cl.buf.as_ref() })
            // SAFETY: pos and last point into the same raw buffer.
            .map_or(0, |b| unsafe { b.last.offset_from(b.pos) }.max(0))
            * isize::from(!cacheable);
        // SAFETY: the request is alive.
        let (out, buffered) = unsafe { (!(*r).out.is_null(), (*r).buffered() != 0) };
        let held_downstream = out || buffered || c.buffered() != 0;

        self.clean = p.read_length;
        self.held_since = 0;
        if raw == 0 && !held_downstream {
            return;
        }
        ngx_log_debug!(
            mask: DebugMask::Http,
            c.log,
            "sse_auto: soft push: {} bytes waiting in a buffer, output held: {}",
            raw,
            held_downstream
        );

        // SAFETY: a live request, from a timer handler as nginx's own handlers run; the extra
        // reference keeps it alive until the end of this function whatever the handlers do.
        unsafe {
            (*(*r).main).set_count((*(*r).main).count() + 1);
            if raw > 0 {
                self.push(p, r);
            }
            Soft::flush(r);
            // Drops the reference; completes the request if a handler finalized it.
            ngx_http_finalize_request(r, NGX_DONE as ngx_int_t);
            ngx_http_run_posted_requests(c);
        }
    }

    /// Passes the partly filled raw buffer to the input filter, as the pipe does at the end of
    /// the response, and lets nginx move it on.
    ///
    /// # Safety
    ///
    /// `p` is the pipe of the live request `r`, which holds a reference.
    unsafe fn push(&mut self, p: &mut ngx_event_pipe_t, r: *mut ngx_http_request_t) {
        metrics::soft_push();
        // SAFETY: see above; look() checked the first raw buffer holds data.
        unsafe {
            let cl = p.free_raw_bufs;
            p.free_raw_bufs = (*cl).next;
            (*(*cl).buf).num = p.num;
            p.num += 1;
            let filter = p.input_filter;
            let failed = match filter {
                Some(f) => f(p, (*cl).buf) == NGX_ERROR as ngx_int_t,
                None => true,
            };
            // ngx_free_chain: the link back to the pool's free list.
            (*cl).next = (*p.pool).chain;
            (*p.pool).chain = cl;
            if failed {
                p.set_upstream_error(1);
            }

            let u = (*r).upstream;
            // On an error, the upstream handler ends the response.
            if failed {
                if let Some(handler) = (*u).read_event_handler {
                    handler(r, u);
                }
            }
            // The client handler: sends what the pipe holds.
            if (*u).cleanup.is_null() || (*(*r).connection).destroyed() != 0 {
                return;
            }
            if let Some(handler) = (*r).write_event_handler {
                handler(r);
            }
        }
    }

    /// Sends a flush through the output filters, so that TLS, gzip and postpone_output let go
    /// of what they hold.
    ///
    /// # Safety
    ///
    /// `r` is a live request, which holds a reference; the worker's FLUSH is set up.
    unsafe fn flush(r: *mut ngx_http_request_t) {
        // SAFETY: see above.
        unsafe {
            let u = (*r).upstream;
            if (*u).cleanup.is_null() || (*(*r).connection).destroyed() != 0 {
                return;
            }
            // Reset each time, should a filter ever link something after it.
            (*addr_of_mut!(FLUSH)).next = ptr::null_mut();
            if ngx_http_output_filter(r, addr_of_mut!(FLUSH)) == NGX_ERROR as ngx_int_t {
                if let Some(p) = (*u).pipe.as_mut() {
                    p.set_downstream_error(1);
                }
                if let Some(handler) = (*r).write_event_handler {
                    handler(r);
                }
            }
        }
    }
}

extern "C" fn tick(ev: *mut ngx_event_t) {
    // SAFETY: a read of nginx's cached time.
    let now = unsafe { ngx_current_msec };
    // The responses to look at, moved to a list of this call: looking at one can end others
    // (an HTTP/2 connection closing ends all its streams), whose pool cleanups then unlink
    // them from whichever list they are in.
    // SAFETY: all-zero, then initialised as an empty queue.
    let mut todo: ngx_queue_t = unsafe { zeroed() };
    // SAFETY: the event loop's thread; the queue holds links of live Soft responses.
    unsafe {
        let armed = addr_of_mut!(ARMED);
        while !ngx_queue_empty(armed) {
            let q = (*armed).next;
            track(q.byte_sub(offset_of!(Armed, link)).cast::<Armed>());
        }

        let head = addr_of_mut!(QUEUE);
        let todo = &mut todo as *mut ngx_queue_t;
        ngx_queue_init(todo);
        while !ngx_queue_empty(head) {
            let q = (*head).next;
            ngx_queue_remove(q);
            ngx_queue_insert_before(todo, q);
        }
        while !ngx_queue_empty(todo) {
            let q = (*todo).next;
            ngx_queue_remove(q);
            ngx_queue_insert_before(head, q);
            Soft::from_link(q).look(now);
        }
        if !ngx_queue_empty(head) || !ngx_queue_empty(armed) {
            ngx_add_timer(ev, TICK_MS);
        } else {
            // the tick runs only while responses are in flight (t/sse_auto_soft.t counts these)
            ngx_log_debug!(mask: DebugMask::Event, (*ev).log, "sse_auto: soft tick stopped");
        }
    }
}
