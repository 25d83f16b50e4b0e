//! `$sse_auto`: what the module decided for the response — `switched` (a stream type it
//! switched to unbuffered), `unsized` (a stream-if-unsized type without length it switched),
//! `unbuffered` (a stream nginx already sent unbuffered), `soft` — or empty when it is not a
//! stream. `$sse_auto_read_timeout`: a stream's upstream read timeout and the rule that chose
//! it (`3600s default`, `2s location`, `90s sse_auto_read_timeout`), empty for other responses.

use core::fmt::Write;

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_int_t, ngx_pnalloc, ngx_str_t,
    ngx_uint_t, ngx_variable_value_t, NGX_HTTP_VAR_NOCACHEABLE,
};
use ngx::ngx_string;

use crate::stream::Ctx;

const DECISION: usize = 0;
const READ_TIMEOUT: usize = 1;

/// Registers the variables; called from preconfiguration.
pub fn add(cf: &mut ngx_conf_t) -> Status {
    for (name, data) in [
        (ngx_string!("sse_auto"), DECISION),
        (ngx_string!("sse_auto_read_timeout"), READ_TIMEOUT),
    ] {
        let mut name: ngx_str_t = name;
        // SAFETY: cf is the configuration being parsed; nginx copies the name.
        let var = unsafe {
            ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t).as_mut()
        };
        let Some(var) = var else {
            return Status::NGX_ERROR;
        };
        var.get_handler = Some(get);
        var.data = data;
    }
    Status::NGX_OK
}

/// A fixed-size formatting buffer: "18446744073709551615ms sse_auto_read_timeout" fits.
struct Buf {
    bytes: [u8; 64],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

// Not cacheable: the value is known only once the response header has been filtered.
extern "C" fn get(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request and value slot to variable handlers.
    let (r, v) = unsafe { (&*r, &mut *v) };
    let ctx = Ctx::get(r);

    let (len, data) = if data == READ_TIMEOUT {
        let Some((ms, rule)) = ctx.and_then(|ctx| ctx.read_timeout) else {
            return empty(v);
        };
        let mut buf = Buf {
            bytes: [0; 64],
            len: 0,
        };
        let written = if ms % 1000 == 0 {
            write!(buf, "{}s {}", ms / 1000, rule.label())
        } else {
            write!(buf, "{}ms {}", ms, rule.label())
        };
        if written.is_err() {
            return Status::NGX_ERROR.into();
        }
        // SAFETY: an allocation from the request's pool, which outlives the value.
        let p = unsafe { ngx_pnalloc(r.pool, buf.len) }.cast::<u8>();
        if p.is_null() {
            return Status::NGX_ERROR.into();
        }
        // SAFETY: p has buf.len writable bytes; the two do not overlap.
        unsafe { p.copy_from_nonoverlapping(buf.bytes.as_ptr(), buf.len) };
        (buf.len, p)
    } else {
        // Static strings; nginx only reads variable values.
        let label = ctx.map_or("", |ctx| ctx.label);
        (label.len(), label.as_ptr().cast_mut())
    };
    v.set_len(len as _);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    v.data = data;
    Status::NGX_OK.into()
}

fn empty(v: &mut ngx_variable_value_t) -> ngx_int_t {
    v.set_len(0);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    v.data = c"".as_ptr().cast_mut().cast();
    Status::NGX_OK.into()
}
