//! The TLS send buffer of a held HTTP/1.x stream.
//!
//! nginx gives a TLS connection its send buffer (`ssl_buffer_size`, 16k by default) on the
//! first write and frees it only when the connection goes idle between keepalive requests. A
//! stream is never idle, so each held stream would keep 16k for events of a few hundred bytes,
//! every one of which is flushed at once. Once the buffer is empty again, it is given back the
//! way nginx does on keepalive (`ngx_ssl_free_buffer`); the next write allocates it again at
//! the connection's size, so records are what they were, large events' included. HTTP/2 and
//! HTTP/3 connections carry many requests: left alone.

use ngx::ffi::{ngx_conf_t, ngx_http_request_t};

/// Gives the connection's TLS send buffer back if the request is an HTTP/1.x stream over TLS
/// and the buffer holds nothing unsent.
///
/// # Safety
///
/// `r` is a live request, called from its output filter chain (nothing else writes to the
/// connection meanwhile).
#[cfg(ngx_feature = "ssl")]
pub unsafe fn release_send_buffer(r: &ngx_http_request_t) {
    use ngx::ffi::{NGX_HTTP_VERSION_20, NGX_SSL_BUFFERED};

    if r.http_version >= NGX_HTTP_VERSION_20 as usize {
        return;
    }
    // a binary without SSL has no TLS connection either (`optional`)
    let Some(free_buffer) = crate::optional::ssl_free_buffer() else {
        return;
    };
    let c = r.connection;
    // SAFETY: a live request's connection; its ssl is null or the connection's TLS state.
    let Some(ssl) = (unsafe { (*c).ssl.as_ref() }) else {
        return;
    };
    // SAFETY: null until the first write, then nginx's descriptor of the buffer.
    let Some(buf) = (unsafe { ssl.buf.as_ref() }) else {
        return;
    };
    // SAFETY: as above.
    let pending = unsafe { (*c).buffered() } & NGX_SSL_BUFFERED != 0;
    if buf.start.is_null() || buf.pos != buf.last || pending {
        return;
    }
    // SAFETY: the buffer is empty and no write is under way; nginx allocates a new one when
    // it next writes (buf->start == NULL), as after its own call on keepalive.
    unsafe { free_buffer(c) };
}

/// Without TLS in the nginx build there is no buffer to give back.
#[cfg(not(ngx_feature = "ssl"))]
pub unsafe fn release_send_buffer(_r: &ngx_http_request_t) {}

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
