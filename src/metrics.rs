//! The stream metrics' shared memory zone, this process's slot in it, and the updates the
//! filters make. What is counted, and how the counters behave across processes, is
//! `sse_auto_core::metrics`; `status` shows them.
//!
//! The zone is added by every configuration load, with the same name, size and tag, so nginx
//! keeps it (and the counters) across a reload; a restart starts it again. Its size follows
//! from the counters' layout: nothing for the user to configure.

use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::{self, addr_of_mut};

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_int_t, ngx_pid, ngx_process, ngx_process_slot, ngx_shared_memory_add,
    ngx_shm_zone_t, ngx_slab_calloc, ngx_slab_pool_t, ngx_str_t, NGX_LOG_NOTICE, NGX_MAX_PROCESSES,
    NGX_PROCESS_SINGLE, NGX_PROCESS_WORKER,
};
use ngx::{ngx_log_error, ngx_string};

use sse_auto_core::metrics::Shared;
pub use sse_auto_core::metrics::{EndReason, Finish, Kind};

/// The counters, with a slot for every process nginx can have.
pub type Counters = Shared<{ NGX_MAX_PROCESSES as usize }>;

/// Pages for the counters, and for the slab allocator's own bookkeeping.
const ZONE_SIZE: usize = (size_of::<Counters>() / 4096 + 8) * 4096;

/// The zone of the configuration this process runs (set at each configuration load; a worker
/// keeps the one of the configuration it was started with).
static mut ZONE: *mut ngx_shm_zone_t = ptr::null_mut();

/// This worker's counters and slot, from init_process on; null in the master and in `nginx -t`.
static mut COUNTERS: *const Counters = ptr::null();
static mut SLOT: usize = usize::MAX;

/// Adds the zone to the configuration being read; called from postconfiguration.
pub fn configure(cf: &mut ngx_conf_t) -> bool {
    let mut name: ngx_str_t = ngx_string!("sse_auto_metrics");
    // SAFETY: the configuration being read; nginx copies nothing but keeps the name, a static.
    // The module itself is the tag: the same for every load of the same module.
    let zone = unsafe {
        ngx_shared_memory_add(
            cf,
            &mut name,
            ZONE_SIZE,
            addr_of_mut!(crate::ngx_http_sse_auto_module).cast(),
        )
    };
    // SAFETY: null, or the zone nginx made for this cycle.
    let Some(z) = (unsafe { zone.as_mut() }) else {
        return false;
    };
    z.init = Some(init_zone);
    // SAFETY: the configuration is read single-threaded.
    unsafe { ZONE = zone };
    true
}

/// The zone's init: keeps the counters of the previous configuration, or makes new ones.
unsafe extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, data: *mut c_void) -> ngx_int_t {
    // SAFETY: nginx passes its zone, mapped; `data` is null or the previous cycle's data of
    // the same zone (same memory: nginx reuses a zone only with the same size and tag).
    let zone = unsafe { &mut *zone };
    if !data.is_null() {
        zone.data = data;
        return Status::NGX_OK.into();
    }
    let pool = zone.shm.addr.cast::<ngx_slab_pool_t>();
    // SAFETY: a fresh zone starts with nginx's slab pool; zeroed memory of the right size.
    let counters = unsafe { ngx_slab_calloc(pool, size_of::<Counters>()) }.cast::<Counters>();
    // SAFETY: null, or zeroed memory for the counters (all-zero is their unset state).
    let Some(c) = (unsafe { counters.as_ref() }) else {
        return Status::NGX_ERROR.into();
    };
    // SAFETY: time(2) with no output argument.
    let now = u64::try_from(unsafe { libc::time(core::ptr::null_mut()) }).unwrap_or(0);
    c.init(now);
    zone.data = counters.cast();
    Status::NGX_OK.into()
}

/// `init_process`: a worker takes its slot. What a process that had the slot before left open
/// is lost (nginx reuses a slot once its process is gone; after a crash, for its replacement).
///
/// # Safety
///
/// Called by nginx once per process, before its event loop, with the process's cycle log.
pub unsafe fn init_process(log: *mut ngx::ffi::ngx_log_t) {
    // SAFETY: nginx's process globals, set before init_process; the zone of this process's
    // configuration, initialised by the master before it forked.
    unsafe {
        if ngx_process != NGX_PROCESS_WORKER as usize && ngx_process != NGX_PROCESS_SINGLE as usize
        {
            return;
        }
        let Some(zone) = ZONE.as_ref() else {
            return;
        };
        let Some(c) = zone.data.cast::<Counters>().as_ref().filter(|c| c.valid()) else {
            return;
        };
        let slot = usize::try_from(ngx_process_slot).unwrap_or(usize::MAX);
        COUNTERS = c;
        SLOT = slot;
        let lost = c.claim(slot, i64::from(ngx_pid));
        if lost > 0 {
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "sse_auto: {} streams of a worker process that died were counted as lost",
                lost
            );
        }
    }
}

/// `exit_process`: the worker gives its slot back. Streams still open are lost (nginx exits
/// without ending them when `worker_shutdown_timeout` is over).
pub fn exit_process() {
    if let Some(c) = counters() {
        // SAFETY: written only by init_process.
        let (slot, pid) = unsafe { (SLOT, ngx_pid) };
        c.release(slot, i64::from(pid));
    }
}

/// This worker's counters.
pub fn counters() -> Option<&'static Counters> {
    // SAFETY: null, or the zone's counters, mapped for the life of the process.
    unsafe { COUNTERS.as_ref() }
}

fn slot() -> usize {
    // SAFETY: written only by init_process, before requests.
    unsafe { SLOT }
}

/// A response of `kind` was decided; it is open until `ended` (streams) or `soft_done`.
pub fn opened(kind: Kind) {
    if let Some(c) = counters() {
        c.opened(slot(), kind);
    }
}

/// A response of `kind` was decided but will not be followed.
pub fn decided(kind: Kind) {
    if let Some(c) = counters() {
        c.decided(kind);
    }
}

/// A soft-streamed response's upstream is done.
pub fn soft_done() {
    if let Some(c) = counters() {
        c.soft_done(slot());
    }
}

/// A stream ended.
pub fn ended(kind: Kind, reason: EndReason, duration_ms: u64, bytes: u64) {
    if let Some(c) = counters() {
        c.ended(slot(), kind, reason, duration_ms, bytes);
    }
}

/// A heartbeat was written, or found the client gone.
pub fn heartbeat(ok: bool) {
    if let Some(c) = counters() {
        c.heartbeat(ok);
    }
}

/// A soft-streamed response's held data was pushed.
pub fn soft_push() {
    if let Some(c) = counters() {
        c.soft_push();
    }
}

/// What the code nginx passes to `u->finalize_request` says.
pub fn finish_of(rc: ngx_int_t) -> Finish {
    use ngx::ffi::{
        NGX_DONE, NGX_ERROR, NGX_HTTP_BAD_GATEWAY, NGX_HTTP_GATEWAY_TIME_OUT,
        NGX_HTTP_REQUEST_TIME_OUT,
    };
    /// nginx's own status for a client that closed the connection.
    const CLIENT_CLOSED_REQUEST: ngx_int_t = 499;
    match rc {
        0 => Finish::Complete,
        CLIENT_CLOSED_REQUEST => Finish::ClientClosed,
        rc if rc == NGX_HTTP_REQUEST_TIME_OUT as ngx_int_t => Finish::ClientTimedOut,
        rc if rc == NGX_HTTP_GATEWAY_TIME_OUT as ngx_int_t => Finish::UpstreamTimedOut,
        rc if rc == NGX_HTTP_BAD_GATEWAY as ngx_int_t => Finish::UpstreamFailed,
        rc if rc == NGX_ERROR as ngx_int_t => Finish::Error,
        rc if rc == NGX_DONE as ngx_int_t => Finish::Aborted,
        _ => Finish::Other,
    }
}
