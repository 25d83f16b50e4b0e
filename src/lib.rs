//! sse_auto: nginx streams upstream Server-Sent Events, NDJSON and unsized text streams as
//! they arrive, without per-location configuration.
//!
//! `config` holds the directives, `filter` the header filter that gathers each response's
//! facts and treats streams, `upstream` a stream's read timeout, `stream` the per-stream state
//! (event boundaries, heartbeats) and its body filter, `drain` the end of streams on
//! shutdown, `soft` soft streaming of buffered responses without a length, `variable` the
//! `$sse_auto` variable, `optional` the nginx functions only some builds have, `runtime` the
//! heap and the panic handler (the module is `no_std`, so that it loads into musl-linked nginx
//! too). What is a stream is decided in the `sse-auto-core` crate, free of nginx.

// (`cargo clippy --all-targets` also checks the crate as a test, which has std)
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use core::ptr::{addr_of, addr_of_mut};

use ngx::core::Status;
use ngx::ffi::{ngx_conf_t, ngx_http_module_t, ngx_int_t, ngx_module_t, NGX_HTTP_MODULE};
use ngx::http::{HttpModule, HttpModuleLocationConf};

pub mod compat;
pub mod config;
pub mod drain;
pub mod filter;
pub mod metrics;
pub mod optional;
#[cfg(not(test))]
mod runtime;
pub mod soft;
pub mod status;
pub mod stream;
pub mod tls;
pub mod upstream;
pub mod variable;

/// The module, as seen by the `ngx` crate's configuration helpers.
pub struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the module structure is only written by nginx while it loads modules, before
        // any of our code that reads it runs.
        unsafe { &*addr_of!(ngx_http_sse_auto_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes the configuration being parsed.
        let Some(cf) = (unsafe { cf.as_mut() }) else {
            return Status::NGX_ERROR.into();
        };
        // Before anything reads nginx's structures: a build for the other kind of nginx core
        // (OpenResty's or vanilla) cannot work here.
        if !compat::preconfigure(cf) {
            return Status::NGX_ERROR.into();
        }
        stream::preconfigure();
        variable::add(cf).into()
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes the configuration it has just read.
        let Some(cf) = (unsafe { cf.as_mut() }) else {
            return Status::NGX_ERROR.into();
        };
        if !metrics::configure(cf) {
            return Status::NGX_ERROR.into();
        }
        optional::resolve(cf);
        filter::init();
        if tls::has_tls_listener(cf) {
            stream::want_body_filter();
        }
        stream::init();
        Status::NGX_OK.into()
    }
}

// SAFETY: the location configuration of this module is a `config::LocConf`, created by
// `create_loc_conf` below.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = config::LocConf;
}

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(Module::preconfiguration),
    postconfiguration: Some(Module::postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(Module::merge_loc_conf),
};

// A cargo-built cdylib carries its own module list; nginx's build (`--add-dynamic-module`)
// generates it in C instead and builds the crate without this feature.
//
// The list is written out rather than made with `ngx_modules!` for the sake of
// `ngx_module_order`: that macro exports an empty one, which makes nginx append the module at
// the end of the module list, so its filters would run before every other filter. nginx's own
// build gives a dynamic filter module the order below, which places it right before
// ngx_http_copy_filter_module. Exporting the same order gives the same filter position, and
// so the same behaviour, whichever build made the .so.
#[cfg(feature = "export-modules")]
mod exports {
    use core::ffi::c_char;
    use core::ptr::{addr_of, null};

    use ngx::ffi::ngx_module_t;

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_modules: [*const ngx_module_t; 2] =
        [addr_of!(super::ngx_http_sse_auto_module), null()];

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_module_names: [*const c_char; 2] =
        [c"ngx_http_sse_auto_module".as_ptr(), null()];

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_module_order: [*const c_char; 3] = [
        c"ngx_http_sse_auto_module".as_ptr(),
        c"ngx_http_copy_filter_module".as_ptr(),
        null(),
    ];
}

/// `init_process`: the worker's metrics slot, drain watcher and soft-streaming tick.
unsafe extern "C" fn init_process(cycle: *mut ngx::ffi::ngx_cycle_t) -> ngx_int_t {
    // SAFETY: nginx calls it once per worker process, before its event loop.
    unsafe {
        metrics::init_process((*cycle).log);
        drain::init_process(cycle);
        soft::init_process(cycle);
    }
    Status::NGX_OK.into()
}

/// `exit_process`: the worker leaves its metrics slot.
unsafe extern "C" fn exit_process(_cycle: *mut ngx::ffi::ngx_cycle_t) {
    metrics::exit_process();
}

#[used]
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_sse_auto_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(MODULE_CTX) as _,
    commands: addr_of_mut!(config::COMMANDS) as _,
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};
