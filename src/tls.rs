//! The TLS send buffer of a held HTTP/1.x stream.
//!
//! nginx gives a TLS connection its send buffer (`ssl_buffer_size`, 16k by default) on the
//! first write and frees it only when the connection goes idle between keepalive requests. A
//! stream is never idle, so each held stream would keep 16k for events of a few hundred bytes,
//! every one of which is flushed at once. Once the buffer is empty again, it is given back the
//! way nginx does on keepalive (`ngx_ssl_free_buffer`) — at once after the write of a stream
//! that was quiet, or by a timer once a busy stream has been quiet for a second
//! (`sse_auto_core::tls_buffer`); the next write allocates it again at the connection's size,
//! so records are what they were, large events' included. HTTP/2 and HTTP/3 connections carry
//! many requests: left alone.

use core::cell::Cell;
use core::ptr;

use ngx::ffi::{ngx_conf_t, ngx_del_timer, ngx_event_t, ngx_http_request_t, ngx_msec_t};

/// A stream's side of its TLS send buffer: when it last wrote, and the timer that gives the
/// buffer back once it has been quiet (allocated from the request pool the first time a busy
/// stream needs it).
pub struct Idle {
    last: Cell<Option<ngx_msec_t>>,
    timer: Cell<*mut ngx_event_t>,
}

impl Default for Idle {
    fn default() -> Self {
        Self::new()
    }
}

impl Idle {
    /// Never written; no timer (a const fn: the context of soft streaming's finished
    /// responses is a static).
    pub const fn new() -> Self {
        Self {
            last: Cell::new(None),
            timer: Cell::new(ptr::null_mut()),
        }
    }

    /// Deletes the timer, if set; from the request pool's cleanup, before the request goes.
    pub fn stop(&self) {
        // SAFETY: null or the event made by arm(), in the request pool still being destroyed.
        if let Some(ev) = unsafe { self.timer.get().as_mut() } {
            if ev.timer_set() != 0 {
                // SAFETY: the timer is in the tree (timer_set).
                unsafe { ngx_del_timer(ev) };
            }
        }
    }
}

/// After a write of an HTTP/1.x stream over TLS: gives the connection's send buffer back if it
/// holds nothing unsent and the stream was quiet before, or arms the timer that does once a
/// busy stream goes quiet.
///
/// # Safety
///
/// `r` is a live request and `idle` its context's, called from its output filter chain
/// (nothing else writes to the connection meanwhile).
#[cfg(ngx_feature = "ssl")]
pub unsafe fn after_write(r: &ngx_http_request_t, idle: &Idle) {
    use ngx::ffi::{ngx_current_msec, NGX_HTTP_VERSION_20};
    use sse_auto_core::tls_buffer::{self, Release};

    if r.http_version >= NGX_HTTP_VERSION_20 as usize {
        return;
    }
    // SAFETY: a live request's connection; its ssl is null or the connection's TLS state.
    if unsafe { (*r.connection).ssl.is_null() } {
        return;
    }
    // SAFETY: read-only access to nginx's cached time.
    let now = unsafe { ngx_current_msec };
    let since = idle
        .last
        .replace(Some(now))
        .map(|t| now.wrapping_sub(t) as u64);
    // SAFETY: as above.
    if !unsafe { empty(r) } {
        // a later write (nginx flushes through the filters) decides
        return;
    }
    match tls_buffer::after_write(since) {
        // SAFETY: empty: no write is under way.
        Release::Now => unsafe { ngx::ffi::ngx_ssl_free_buffer(r.connection) },
        // SAFETY: as for this function.
        Release::WhenIdle => unsafe { arm(r, idle) },
    }
}

/// Without TLS in the nginx build there is no buffer to give back.
#[cfg(not(ngx_feature = "ssl"))]
pub unsafe fn after_write(_r: &ngx_http_request_t, _idle: &Idle) {}

/// Whether the request's TLS connection has a send buffer that holds nothing unsent.
///
/// # Safety
///
/// `r` is a live request whose connection has TLS.
#[cfg(ngx_feature = "ssl")]
unsafe fn empty(r: &ngx_http_request_t) -> bool {
    use ngx::ffi::NGX_SSL_BUFFERED;

    let c = r.connection;
    // SAFETY: the connection's TLS state; its buf is null until the first write, then nginx's
    // descriptor of the buffer.
    let Some(buf) = (unsafe { (*(*c).ssl).buf.as_ref() }) else {
        return false;
    };
    // SAFETY: as above.
    let pending = unsafe { (*c).buffered() } & NGX_SSL_BUFFERED != 0;
    !buf.start.is_null() && buf.pos == buf.last && !pending
}

/// (Re)arms the stream's idle timer; nginx moves a pending timer only when it would move by
/// more than its lazy delay (300 ms), so a busy stream pays for it a few times a second.
///
/// # Safety
///
/// As for `after_write`.
#[cfg(ngx_feature = "ssl")]
unsafe fn arm(r: &ngx_http_request_t, idle: &Idle) {
    use core::mem::size_of;
    use ngx::ffi::{ngx_add_timer, ngx_pcalloc};
    use sse_auto_core::tls_buffer::IDLE_MS;

    let mut ev = idle.timer.get();
    if ev.is_null() {
        // SAFETY: the request pool outlives the timer: its cleanup (Idle::stop) deletes it.
        ev = unsafe { ngx_pcalloc(r.pool, size_of::<ngx_event_t>()) }.cast::<ngx_event_t>();
        // SAFETY: null, or a zeroed event: all-zero is the initial state nginx itself uses.
        let Some(e) = (unsafe { ev.as_mut() }) else {
            return;
        };
        e.handler = Some(idle_handler);
        e.data = ptr::from_ref(r).cast_mut().cast();
        // SAFETY: a request always has a connection.
        e.log = unsafe { (*r.connection).log };
        // not a reason to keep a shutting-down worker: the request is
        e.set_cancelable(1);
        idle.timer.set(ev);
    }
    // SAFETY: the stream's event, set up above.
    unsafe { ngx_add_timer(ev, IDLE_MS as ngx_msec_t) };
}

/// The stream has been quiet for about a second: its buffer goes back if it is empty.
#[cfg(ngx_feature = "ssl")]
extern "C" fn idle_handler(ev: *mut ngx_event_t) {
    // SAFETY: data is the request, alive while its timer is pending (the pool cleanup deletes
    // the timer), and its connection has TLS (only such streams arm it).
    unsafe {
        let r = &*(*ev).data.cast::<ngx_http_request_t>();
        if empty(r) {
            ngx::ffi::ngx_ssl_free_buffer(r.connection);
        }
    }
}

/// Whether the `http {}` configuration listens with TLS anywhere: only then can a stream have a
/// TLS send buffer to give back, and the body filter is needed for it.
#[cfg(ngx_feature = "http_ssl")]
pub fn has_tls_listener(cf: &ngx_conf_t) -> bool {
    use core::slice;
    use ngx::ffi::{ngx_http_conf_addr_t, ngx_http_conf_port_t};
    use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

    let Some(cmcf) = NgxHttpCoreModule::main_conf(cf) else {
        // cannot tell: the filter then, as for a TLS configuration
        return true;
    };
    // SAFETY: null, or nginx's array of the configuration's listening ports.
    let Some(ports) = (unsafe { cmcf.ports.as_ref() }) else {
        return false;
    };
    if ports.nelts == 0 {
        return false;
    }
    // SAFETY: nelts elements of ngx_http_conf_port_t.
    let ports =
        unsafe { slice::from_raw_parts(ports.elts as *const ngx_http_conf_port_t, ports.nelts) };
    ports.iter().any(|port| {
        if port.addrs.nelts == 0 {
            return false;
        }
        // SAFETY: nelts elements of ngx_http_conf_addr_t, each with its listen options.
        let addrs = unsafe {
            slice::from_raw_parts(
                port.addrs.elts as *const ngx_http_conf_addr_t,
                port.addrs.nelts,
            )
        };
        addrs.iter().any(|addr| addr.opt.ssl() != 0)
    })
}

/// Without TLS in the nginx build nothing listens with it.
#[cfg(not(ngx_feature = "http_ssl"))]
pub fn has_tls_listener(_cf: &ngx_conf_t) -> bool {
    false
}
