//! Refuses to run in an nginx core of another kind than the one the module was built
//! against (vanilla nginx, OpenResty's patched core or Tengine's), with one `[emerg]` line at
//! the `http {}` block, so that `nginx -t` fails and says what to do. The decision itself is in
//! `rules` (tested without nginx); this part tells the kinds apart.
//!
//! The build's kind is a cfg from the tree's headers (`ngx_openresty`, `ngx_tengine`, see
//! build.rs). The running core's kind is read from the process: each fork's core defines
//! globals vanilla nginx lacks (`MARKERS`). nginx links its binary with `-Wl,-E` wherever the
//! linker has it, which exports its symbols to dynamic modules (that is how modules resolve
//! `ngx_cycle` and the rest), so `dlsym` sees them. Where even a symbol every nginx defines is
//! not visible, the kind is unknown and nothing is refused.

use core::ffi::CStr;

use ngx::ffi::ngx_conf_t;
use ngx::ngx_conf_log_error;

mod rules;

pub use rules::{check, Build, Core};

/// What this module was built against.
pub fn build() -> Build<'static> {
    let version = ngx::ffi::NGINX_VERSION.to_str().unwrap_or("?");
    if cfg!(ngx_tengine) {
        Build {
            core: Core::Tengine,
            version,
            ver: option_env!("SSE_AUTO_TENGINE_VER").unwrap_or("Tengine"),
        }
    } else {
        Build {
            core: if cfg!(ngx_openresty) {
                Core::OpenResty
            } else {
                Core::Vanilla
            },
            version,
            ver: ngx::ffi::NGINX_VER.to_str().unwrap_or("?"),
        }
    }
}

/// Globals only that fork's core defines (none of them is in vanilla nginx or the other fork).
const MARKERS: [(Core, &[&CStr]); 2] = [
    // ngx_process_cycle.c: the privileged agent, the exit handler chain
    (
        Core::OpenResty,
        &[c"ngx_is_privileged_agent", c"ngx_proc_exit_top_handler"],
    ),
    // ngx_http.c: the request body input filter chain; ngx_list.c: list deletion
    (
        Core::Tengine,
        &[c"ngx_http_top_input_body_filter", c"ngx_list_delete"],
    ),
];

fn visible(symbol: &CStr) -> bool {
    !crate::optional::address(symbol).is_null()
}

/// The kind of the nginx core this process runs, if it can be told.
pub fn running() -> Option<Core> {
    for (core, symbols) in MARKERS {
        if symbols.iter().any(|s| visible(s)) {
            return Some(core);
        }
    }
    visible(c"ngx_cycle").then_some(Core::Vanilla)
}

/// Logs the refusal at the directive being parsed and returns false when the module cannot
/// work in this process.
pub fn preconfigure(cf: &mut ngx_conf_t) -> bool {
    match check(&build(), running()) {
        Ok(()) => true,
        Err(message) => {
            ngx_conf_log_error!(
                ngx::ffi::NGX_LOG_EMERG,
                cf as *mut ngx_conf_t,
                "{}",
                message
            );
            false
        }
    }
}
