//! A stream's upstream read timeout: what the request's effective timeout is, and how a
//! stream gets its own.
//!
//! In non-buffered mode nginx re-arms the upstream read timer after every read. Vanilla nginx
//! re-arms it from `u->conf->read_timeout`, the location's configuration shared by all its
//! responses, so a stream gets a copy of that configuration with its own timeout. OpenResty's
//! patched core (`upstream_timeout_fields`) gives every request its own `u->read_timeout`
//! (copied from the configuration when the upstream starts; a Lua balancer's
//! `set_timeouts()` writes it) and re-arms from that: there the request's field is the
//! effective timeout, and the one to set.

use core::cell::Cell;
use core::ptr;

#[cfg(not(ngx_upstream_timeout_fields))]
use core::mem::size_of;

use ngx::ffi::{
    ngx_add_timer, ngx_http_upstream_conf_t, ngx_http_upstream_t, ngx_msec_t, ngx_pool_t,
};
#[cfg(not(ngx_upstream_timeout_fields))]
use ngx::ffi::{ngx_cycle, ngx_palloc};

/// The read timeout the request's upstream runs with now.
pub fn effective_read_timeout(
    u: &ngx_http_upstream_t,
    ucf: &ngx_http_upstream_conf_t,
) -> ngx_msec_t {
    #[cfg(ngx_upstream_timeout_fields)]
    {
        let _ = ucf;
        u.read_timeout
    }
    #[cfg(not(ngx_upstream_timeout_fields))]
    {
        let _ = u;
        ucf.read_timeout
    }
}

/// Gives a stream the read timeout `timeout` for the rest of its response, the read timer
/// running now included; false when memory ran out.
///
/// # Safety
///
/// `u` is the upstream of a live request whose pool is `request_pool`; `u.conf` points to an
/// upstream configuration of the running cycle; `shared` belongs to the request's location.
pub unsafe fn set_read_timeout(
    u: &mut ngx_http_upstream_t,
    timeout: ngx_msec_t,
    shared: &StreamUpstreamConf,
    request_pool: *mut ngx_pool_t,
) -> bool {
    #[cfg(ngx_upstream_timeout_fields)]
    {
        let _ = (shared, request_pool);
        u.read_timeout = timeout;
        rearm_read_timer(u, timeout);
        true
    }
    #[cfg(not(ngx_upstream_timeout_fields))]
    {
        match shared.get(u.conf, timeout, request_pool) {
            Some(conf) => {
                u.conf = conf;
                rearm_read_timer(u, timeout);
                true
            }
            None => false,
        }
    }
}

/// Restarts a running upstream read timer with the stream's timeout. The timer nginx armed
/// while it waited for the response header runs with the location's timeout; nginx before 1.19
/// (1.18: Ubuntu 20.04 and 22.04, Debian 11) re-arms it in non-buffered mode only after the
/// first read of the body, so a stream quiet from its header on was cut at
/// `proxy_read_timeout` (found by the MCP test on nginx 1.18). Later nginx re-arms it at once
/// anyway, from the configuration the stream now has.
///
/// # Safety
///
/// `u` is the upstream of a live request.
unsafe fn rearm_read_timer(u: &ngx_http_upstream_t, timeout: ngx_msec_t) {
    // SAFETY: null, or the upstream connection with its read event.
    let Some(c) = (unsafe { u.peer.connection.as_ref() }) else {
        return;
    };
    // SAFETY: as above.
    if let Some(rev) = unsafe { c.read.as_mut() } {
        if rev.timer_set() != 0 {
            // SAFETY: a timer of a live event: ngx_add_timer moves it.
            unsafe { ngx_add_timer(rev, timeout) };
        }
    }
}

/// The upstream configuration a location's streams use on vanilla nginx: the location's own
/// with the stream read timeout. Made once per worker, on first use, from the cycle pool, so
/// streams share it instead of each carrying a copy. (Unused where the request carries its own
/// timeouts: OpenResty's upstream_timeout_fields.)
#[cfg_attr(ngx_upstream_timeout_fields, allow(dead_code))]
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

#[cfg(not(ngx_upstream_timeout_fields))]
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
        if self.of.get() == ucf && (*self.copy.get()).read_timeout == timeout {
            return Some(self.copy.get());
        }
        // Every response of a location normally has the same upstream configuration and
        // stream timeout; should one differ from the first, its streams get a copy each, in
        // the request pool.
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
