//! Directives and the location configuration they fill.

use core::ffi::{c_char, c_void};
use core::mem::offset_of;
use core::ptr;

use alloc::string::String;
use alloc::sync::Arc;

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_command_t, ngx_conf_set_flag_slot, ngx_conf_set_msec_slot, ngx_conf_t, ngx_flag_t,
    ngx_msec_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_FLAG, NGX_CONF_NOARGS,
    NGX_CONF_TAKE1, NGX_CONF_UNSET, NGX_HTTP_LIF_CONF, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG,
};
use ngx::http::{Merge, MergeConfigError};
use ngx::{ngx_conf_log_error, ngx_string};

use sse_auto_core::media_type::{
    config_types, type_list, Matcher, StreamTypes, DEFAULT_STREAM_TYPES, DEFAULT_UNSIZED_TYPES,
    EVENT_STREAM,
};
use sse_auto_core::timeout;

use crate::upstream::StreamUpstreamConf;

/// Per-location configuration.
#[derive(Debug)]
#[repr(C)]
pub struct LocConf {
    /// `sse_auto on|off`.
    pub enable: ngx_flag_t,
    /// `sse_auto_downstream_hint on|off`.
    pub downstream_hint: ngx_flag_t,
    /// `sse_auto_heartbeat`; 0 is off.
    pub heartbeat: ngx_msec_t,
    /// `sse_auto_drain`; 0 is off.
    pub drain: ngx_msec_t,
    /// `sse_auto_read_timeout`; unset means the default rule (see `stream_read_timeout`).
    pub read_timeout: ngx_msec_t,
    /// `sse_auto_soft on|off`.
    pub soft: ngx_flag_t,
    /// `sse_auto_soft_idle`: how long the upstream is quiet before held data is sent.
    pub soft_idle: ngx_msec_t,
    /// `sse_auto_soft_hold`: the longest data waits while the upstream keeps trickling.
    pub soft_hold: ngx_msec_t,
    /// `sse_auto_types`: lowercase media types, `text/event-stream` first. `None` until set or
    /// merged.
    pub stream_types: Option<Arc<Matcher>>,
    /// `sse_auto_unsized_types`: lowercase media types, and whether `none` (no Content-Type)
    /// is one. `None` until set or merged; `off` is no types.
    pub unsized_types: Option<(Arc<Matcher>, bool)>,
    /// Both lists, as the header filter tests them; made by the merge.
    pub types: Option<StreamTypes>,
    /// The upstream configuration given to this location's streams; not inherited.
    pub stream_upstream: StreamUpstreamConf,
}

/// `NGX_CONF_UNSET_MSEC`, a macro bindgen does not see.
pub const UNSET_MSEC: ngx_msec_t = ngx_msec_t::MAX;

/// Default `sse_auto_soft_idle` and `sse_auto_soft_hold`.
pub const DEFAULT_SOFT_IDLE_MS: ngx_msec_t = 50;
pub const DEFAULT_SOFT_HOLD_MS: ngx_msec_t = 500;

impl Default for LocConf {
    fn default() -> Self {
        Self {
            enable: NGX_CONF_UNSET as ngx_flag_t,
            downstream_hint: NGX_CONF_UNSET as ngx_flag_t,
            heartbeat: UNSET_MSEC,
            drain: UNSET_MSEC,
            read_timeout: UNSET_MSEC,
            soft: NGX_CONF_UNSET as ngx_flag_t,
            soft_idle: UNSET_MSEC,
            soft_hold: UNSET_MSEC,
            stream_types: None,
            unsized_types: None,
            types: None,
            stream_upstream: StreamUpstreamConf::default(),
        }
    }
}

fn merge_flag(conf: &mut ngx_flag_t, prev: ngx_flag_t, default: bool) {
    if *conf == NGX_CONF_UNSET as ngx_flag_t {
        *conf = if prev == NGX_CONF_UNSET as ngx_flag_t {
            default as ngx_flag_t
        } else {
            prev
        };
    }
}

fn merge_msec(conf: &mut ngx_msec_t, prev: ngx_msec_t, default: ngx_msec_t) {
    if *conf == UNSET_MSEC {
        *conf = if prev == UNSET_MSEC { default } else { prev };
    }
}

impl Merge for LocConf {
    fn merge(&mut self, prev: &Self) -> Result<(), MergeConfigError> {
        merge_flag(&mut self.enable, prev.enable, true);
        merge_flag(&mut self.downstream_hint, prev.downstream_hint, true);
        merge_msec(&mut self.heartbeat, prev.heartbeat, 0);
        merge_msec(&mut self.drain, prev.drain, 0);
        merge_flag(&mut self.soft, prev.soft, true);
        merge_msec(&mut self.soft_idle, prev.soft_idle, DEFAULT_SOFT_IDLE_MS);
        merge_msec(&mut self.soft_hold, prev.soft_hold, DEFAULT_SOFT_HOLD_MS);
        if self.heartbeat > 0 || self.drain > 0 {
            crate::stream::want_body_filter();
        }
        // Stays unset when no level sets it: the default depends on each response's upstream.
        if self.read_timeout == UNSET_MSEC {
            self.read_timeout = prev.read_timeout;
        }
        // A level that sets a list replaces the inherited one, as gzip_types does.
        let stream = self.stream_types.get_or_insert_with(|| {
            prev.stream_types
                .clone()
                .unwrap_or_else(|| Arc::new(Matcher::new(type_list(DEFAULT_STREAM_TYPES))))
        });
        let (unsized_types, untyped) = self.unsized_types.get_or_insert_with(|| {
            prev.unsized_types.clone().unwrap_or_else(|| {
                (
                    Arc::new(Matcher::new(type_list(DEFAULT_UNSIZED_TYPES))),
                    true,
                )
            })
        });
        self.types = Some(StreamTypes {
            stream: stream.clone(),
            unsized_types: unsized_types.clone(),
            unsized_untyped: *untyped,
        });
        Ok(())
    }
}

impl LocConf {
    /// The upstream read timeout for a stream whose request's effective upstream read
    /// timeout is `upstream`, and the rule that chose it.
    pub fn stream_read_timeout(
        &self,
        upstream: ngx_msec_t,
        by: timeout::StreamBy,
    ) -> (ngx_msec_t, timeout::TimeoutRule) {
        let configured = (self.read_timeout != UNSET_MSEC).then_some(self.read_timeout as u64);
        let (ms, rule) = timeout::stream_read_timeout(configured, upstream as u64, by);
        (ms as ngx_msec_t, rule)
    }
}

const ANY_HTTP_CONF: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

pub static mut COMMANDS: [ngx_command_t; 12] = [
    ngx_command_t {
        name: ngx_string!("sse_auto"),
        type_: (ANY_HTTP_CONF | NGX_HTTP_LIF_CONF | NGX_CONF_FLAG) as ngx_uint_t,
        set: Some(ngx_conf_set_flag_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, enable),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_types"),
        type_: (ANY_HTTP_CONF | NGX_CONF_1MORE) as ngx_uint_t,
        set: Some(set_types),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_unsized_types"),
        type_: (ANY_HTTP_CONF | NGX_CONF_1MORE) as ngx_uint_t,
        set: Some(set_unsized_types),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_downstream_hint"),
        type_: (ANY_HTTP_CONF | NGX_HTTP_LIF_CONF | NGX_CONF_FLAG) as ngx_uint_t,
        set: Some(ngx_conf_set_flag_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, downstream_hint),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_read_timeout"),
        type_: (ANY_HTTP_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(ngx_conf_set_msec_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, read_timeout),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_heartbeat"),
        type_: (ANY_HTTP_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_msec_or_off),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, heartbeat),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_drain"),
        type_: (ANY_HTTP_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_msec_or_off),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, drain),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_soft"),
        type_: (ANY_HTTP_CONF | NGX_HTTP_LIF_CONF | NGX_CONF_FLAG) as ngx_uint_t,
        set: Some(ngx_conf_set_flag_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, soft),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_soft_idle"),
        type_: (ANY_HTTP_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(ngx_conf_set_msec_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, soft_idle),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_soft_hold"),
        type_: (ANY_HTTP_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(ngx_conf_set_msec_slot),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: offset_of!(LocConf, soft_hold),
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("sse_auto_status"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(crate::status::set_status),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

/// The directive's arguments after its name.
///
/// # Safety
///
/// `cf` is the configuration being parsed, inside a directive handler.
unsafe fn arguments<'a>(cf: &ngx_conf_t) -> &'a [ngx_str_t] {
    // SAFETY: `cf.args` is the array of the directive's arguments (ngx_str_t), name first;
    // nginx keeps it while the handler runs.
    unsafe {
        let a = &*cf.args;
        let all = core::slice::from_raw_parts(a.elts as *const ngx_str_t, a.nelts);
        all.get(1..).unwrap_or_default()
    }
}

/// A type-list directive's matcher, or the `nginx -t` error for its first invalid type.
fn matcher<'a>(
    cf: &mut ngx_conf_t,
    directive: &str,
    always: Option<&[u8]>,
    args: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Arc<Matcher>, *mut c_char> {
    config_types(always, args)
        .map(|types| Arc::new(Matcher::new(types)))
        .map_err(|bad| {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "invalid media type \"{}\" in \"{}\" directive, \
                 it must be \"type/subtype\" without parameters or wildcards",
                String::from_utf8_lossy(bad),
                directive
            );
            NGX_CONF_ERROR
        })
}

/// `sse_auto_types <mime-type> ...;` — the media types that are always streams. The list
/// replaces the default one; `text/event-stream` is always included.
extern "C" fn set_types(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls a directive handler with the configuration being parsed and this
    // module's location configuration for the current block, both valid for the call.
    let (cf, lcf) = unsafe { (&mut *cf, &mut *(conf as *mut LocConf)) };

    if lcf.stream_types.is_some() {
        return c"is duplicate".as_ptr().cast_mut();
    }

    // SAFETY: a directive handler's configuration.
    let args = unsafe { arguments(cf) };
    let types = args.iter().map(|a| a.as_bytes());
    match matcher(cf, "sse_auto_types", Some(EVENT_STREAM), types) {
        Ok(m) => {
            lcf.stream_types = Some(m);
            NGX_CONF_OK
        }
        Err(e) => e,
    }
}

/// `sse_auto_unsized_types <mime-type> | none ...;` or `sse_auto_unsized_types off;` — the
/// media types that are streams when sent without a length; `none` stands for a response
/// without `Content-Type`. The list replaces the default one.
extern "C" fn set_unsized_types(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in set_types.
    let (cf, lcf) = unsafe { (&mut *cf, &mut *(conf as *mut LocConf)) };

    if lcf.unsized_types.is_some() {
        return c"is duplicate".as_ptr().cast_mut();
    }

    // SAFETY: a directive handler's configuration.
    let args = unsafe { arguments(cf) };
    if args.iter().any(|a| a.as_bytes() == b"off") {
        if args.len() > 1 {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"off\" cannot be combined with media types in \"sse_auto_unsized_types\" \
                 directive"
            );
            return NGX_CONF_ERROR;
        }
        lcf.unsized_types = Some((Arc::new(Matcher::default()), false));
        return NGX_CONF_OK;
    }

    let untyped = args.iter().any(|a| a.as_bytes() == b"none");
    let types = args.iter().map(|a| a.as_bytes()).filter(|&a| a != b"none");
    match matcher(cf, "sse_auto_unsized_types", None, types) {
        Ok(m) => {
            lcf.unsized_types = Some((m, untyped));
            NGX_CONF_OK
        }
        Err(e) => e,
    }
}

/// A time, or `off` (stored as 0): `ngx_conf_set_msec_slot` with an off switch.
extern "C" fn set_msec_or_off(
    cf: *mut ngx_conf_t,
    cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls a directive handler with valid arguments; cf.args holds the
    // directive's name and its one value (NGX_CONF_TAKE1).
    let (value, field) = unsafe {
        let args = &*(*cf).args;
        let value = &*(args.elts as *const ngx_str_t).add(1);
        let field = conf.cast::<u8>().add((*cmd).offset).cast::<ngx_msec_t>();
        (value, field)
    };

    if value.as_bytes() != b"off" {
        // SAFETY: the same arguments, passed on to the stock setter.
        return unsafe { ngx_conf_set_msec_slot(cf, cmd, conf) };
    }

    // SAFETY: field is this directive's ngx_msec_t in the location configuration.
    unsafe {
        if *field != UNSET_MSEC {
            return c"is duplicate".as_ptr().cast_mut();
        }
        *field = 0;
    }
    NGX_CONF_OK
}
