//! `$sse_auto`: what the module decided for the response — `switched` (a stream type it
//! switched to unbuffered), `unsized` (a stream-if-unsized type without length it switched),
//! `unbuffered` (a stream nginx already sent unbuffered) — or empty when it is not a stream.

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_uint_t,
    ngx_variable_value_t, NGX_HTTP_VAR_NOCACHEABLE,
};
use ngx::ngx_string;

use crate::stream::Ctx;

/// Registers `$sse_auto`; called from preconfiguration.
pub fn add(cf: &mut ngx_conf_t) -> Status {
    let mut name: ngx_str_t = ngx_string!("sse_auto");
    // SAFETY: cf is the configuration being parsed; nginx copies the name.
    let var = unsafe {
        ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t).as_mut()
    };
    let Some(var) = var else {
        return Status::NGX_ERROR;
    };
    var.get_handler = Some(get);
    var.data = 0;
    Status::NGX_OK
}

// Not cacheable: the value is known only once the response header has been filtered.
extern "C" fn get(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request and value slot to variable handlers.
    let (r, v) = unsafe { (&*r, &mut *v) };
    let ctx = Ctx::get(r);

    // Static strings; nginx only reads variable values.
    let label = ctx.map_or("", |ctx| ctx.label);
    let (len, data) = (label.len(), label.as_ptr().cast_mut());
    v.set_len(len as _);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    v.data = data;
    Status::NGX_OK.into()
}
