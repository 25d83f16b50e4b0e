//! `sse_auto_status`: a location's content handler that shows the stream metrics of the
//! whole nginx instance, as Prometheus' text format or as JSON.

use core::ffi::{c_char, c_void};
use core::ptr;

use ngx::core::{Status, NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_chain_t, ngx_command_t, ngx_conf_t, ngx_create_temp_buf, ngx_http_discard_request_body,
    ngx_http_output_filter, ngx_http_request_t, ngx_http_send_header, ngx_int_t, ngx_str_t,
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_HTTP_OK,
    NGX_HTTP_SERVICE_UNAVAILABLE, NGX_LOG_EMERG,
};
use ngx::http::{list_iterator, HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::ngx_conf_log_error;

use sse_auto_core::metrics::{json, negotiate, prometheus, Format, Identity};

use crate::{compat, metrics};

/// `sse_auto_status;` in a location: its requests are answered with the metrics.
pub(crate) extern "C" fn set_status(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls a directive handler with the configuration being parsed.
    let cf = unsafe { &mut *cf };
    let Some(clcf) = NgxHttpCoreModule::location_conf_mut(cf) else {
        return NGX_CONF_ERROR;
    };
    match clcf.handler {
        Some(h) if ptr::eq(h as *const (), handler as *const ()) => {
            c"is duplicate".as_ptr().cast_mut()
        }
        Some(_) => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"sse_auto_status\" cannot be combined with another content handler \
                 (proxy_pass, fastcgi_pass, root files...) in one location"
            );
            NGX_CONF_ERROR
        }
        None => {
            clcf.handler = Some(handler);
            NGX_CONF_OK
        }
    }
}

/// Whether process `pid` still runs: a worker of this nginx (the same user) answers signal
/// 0, or refuses it (EPERM) when it has switched users.
fn alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let answered = unsafe { libc::kill(pid, 0) } == 0;
    // SAFETY: errno of this thread, as kill left it.
    answered || unsafe { *libc::__errno_location() } == libc::EPERM
}

fn identity() -> Identity<'static> {
    let build = compat::build();
    Identity {
        version: env!("CARGO_PKG_VERSION"),
        nginx_version: build.version,
        flavour: build.core.flavour(),
        server: build.ver,
    }
}

extern "C" fn handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid request to content handlers.
    if unsafe { (*r).method } & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    // SAFETY: a valid request.
    let rc = unsafe { ngx_http_discard_request_body(r) };
    if rc != Status::NGX_OK.into() {
        return rc;
    }
    // SAFETY: as above; the only reference to the request until its header is sent.
    let req = unsafe { &mut *r };

    let Some(counters) = metrics::counters() else {
        // Only in a process that counts nothing (not a worker): nothing to show.
        return NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t;
    };
    // Processes that died without a replacement (an old worker after a reload): their streams
    // are lost, now rather than when their slot is taken again.
    counters.reap(alive);
    let snapshot = counters.snapshot();

    // SAFETY: the request's header list, alive with it.
    let accept = unsafe { list_iterator(&req.headers_in.headers) }
        .find(|(key, _)| key.as_bytes().eq_ignore_ascii_case(b"Accept"))
        .map(|(_, value)| value.as_bytes());
    let format = negotiate(req.args.as_bytes(), accept);
    let body = match format {
        Format::Prometheus => prometheus(&snapshot, &identity()),
        Format::Json => json(&snapshot, &identity()),
    };

    let content_type = format.content_type();
    req.headers_out.status = NGX_HTTP_OK as usize;
    req.headers_out.content_type = ngx_str_t {
        len: content_type.len(),
        data: content_type.as_ptr().cast_mut(),
    };
    req.headers_out.content_type_len = content_type.len();
    req.headers_out.content_type_lowcase = ptr::null_mut();
    req.headers_out.content_length_n = body.len() as _;

    let (head, pool, main) = (
        req.method == NGX_HTTP_HEAD as usize,
        req.pool,
        ptr::eq(r, req.main),
    );
    // `req` is not used past this point: the header filters change the request through `r`
    // (header_only among others), so what they set is read through `r` again.
    // SAFETY: a valid request whose response header is filled in.
    let rc = unsafe { ngx_http_send_header(r) };
    // SAFETY: the request is alive; nothing else refers to it during this read.
    let header_only = head || unsafe { (*r).header_only() } != 0;
    if rc == Status::NGX_ERROR.into() || rc > Status::NGX_OK.into() || header_only {
        return rc;
    }

    // SAFETY: an allocation from the request pool, which outlives the response.
    let Some(b) = (unsafe { ngx_create_temp_buf(pool, body.len()).as_mut() }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // SAFETY: the buffer has body.len() writable bytes from b.pos; they do not overlap.
    unsafe {
        b.pos.copy_from_nonoverlapping(body.as_ptr(), body.len());
        b.last = b.pos.add(body.len());
    }
    b.set_last_buf(u32::from(main));
    b.set_last_in_chain(1);
    let mut out = ngx_chain_t {
        buf: b,
        next: ptr::null_mut(),
    };
    // SAFETY: the request and a chain that lives through the call (nginx copies the links
    // it keeps).
    unsafe { ngx_http_output_filter(r, &mut out) }
}
