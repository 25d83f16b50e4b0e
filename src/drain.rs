//! Drain on reload and shutdown: once a worker is shutting down, each switched event stream
//! with `sse_auto_drain` is ended at its next event boundary after the delay, so EventSource
//! clients reconnect to the new workers and the old worker can exit.
//!
//! A worker keeps the streams with a drain delay in a queue. One cancelable timer per worker
//! (it never keeps a worker alive) watches `ngx_exiting` while that queue is not empty.

use core::mem::zeroed;
use core::ptr::{self, addr_of_mut};

use ngx::ffi::{
    ngx_add_timer, ngx_current_msec, ngx_cycle_t, ngx_del_timer, ngx_delete_posted_event,
    ngx_event_t, ngx_exiting, ngx_msec_t, ngx_queue_empty, ngx_queue_init, ngx_queue_insert_before,
    ngx_queue_remove, ngx_queue_t,
};

/// A stream's place in the worker's queue of drainable streams, embedded in the stream.
#[repr(C)]
pub struct Entry {
    link: ngx_queue_t,
    /// Called for each stream once the worker is exiting, with the time since it began to.
    due: Option<unsafe fn(*mut Entry, ngx_msec_t)>,
}

impl Entry {
    /// An entry in no queue.
    pub const fn new() -> Self {
        Self {
            link: ngx_queue_t {
                prev: ptr::null_mut(),
                next: ptr::null_mut(),
            },
            due: None,
        }
    }
}

impl Default for Entry {
    fn default() -> Self {
        Self::new()
    }
}

/// How often the watcher looks at `ngx_exiting`, and how often it looks at the streams once
/// the worker is exiting.
const WATCH_MS: ngx_msec_t = 500;
const EXITING_MS: ngx_msec_t = 100;

// Worker processes are single-threaded: these are only touched from the event loop.
static mut STREAMS: ngx_queue_t = ngx_queue_t {
    prev: ptr::null_mut(),
    next: ptr::null_mut(),
};
// SAFETY: all-zero is the initial state of an nginx event.
static mut WATCHER: ngx_event_t = unsafe { zeroed() };
static mut EXITING: bool = false;
static mut EXITING_SINCE: ngx_msec_t = 0;

/// The watcher's period: short once the worker is exiting.
fn watch_period() -> ngx_msec_t {
    // SAFETY: a plain read on the event loop's thread.
    if unsafe { EXITING } {
        EXITING_MS
    } else {
        WATCH_MS
    }
}

/// `init_process`: prepares the worker's queue and watcher.
///
/// # Safety
///
/// Called by nginx once per worker process, before its event loop, with the worker's cycle.
pub unsafe fn init_process(cycle: *mut ngx_cycle_t) {
    // SAFETY: see above, and the statics.
    unsafe {
        ngx_queue_init(addr_of_mut!(STREAMS));
        let w = &mut *addr_of_mut!(WATCHER);
        w.handler = Some(watch);
        w.log = (*cycle).log;
        // Never null: nginx's debug log reads the "connection" behind any timer's data.
        w.data = cycle.cast();
        w.set_cancelable(1);
    }
}

/// Adds a stream to the worker's queue; `due` is called with `entry` once the worker is
/// exiting. The entry must stay where it is until `unregister`.
pub fn register(entry: &mut Entry, due: unsafe fn(*mut Entry, ngx_msec_t)) {
    entry.due = Some(due);
    let link = &mut entry.link;
    // SAFETY: the event loop's thread; STREAMS was initialised in init_process (a module
    // loaded by `nginx -t` serves no requests).
    unsafe {
        let head = addr_of_mut!(STREAMS);
        if (*head).next.is_null() {
            ngx_queue_init(head);
        }
        ngx_queue_insert_before(head, link);
        let w = &mut *addr_of_mut!(WATCHER);
        if w.timer_set() == 0 {
            ngx_add_timer(w, watch_period());
        }
    }
}

/// Removes a stream from the queue, if it is in it.
pub fn unregister(entry: &mut Entry) {
    if entry.due.take().is_some() {
        // SAFETY: the link is in STREAMS (see register).
        unsafe { ngx_queue_remove(&mut entry.link) };
    }
}

extern "C" fn watch(ev: *mut ngx_event_t) {
    // SAFETY: the event loop's thread; see the statics above.
    unsafe {
        if ngx_exiting != 0 && !EXITING {
            EXITING = true;
            EXITING_SINCE = ngx_current_msec;
        }

        let head = addr_of_mut!(STREAMS);

        if EXITING {
            let elapsed = ngx_current_msec.wrapping_sub(EXITING_SINCE);
            let mut q = (*head).next;
            while q != head {
                // Taken first: draining a stream may remove it from the queue.
                let next = (*q).next;
                // The link is an Entry's first field (repr(C)).
                let entry = q.cast::<Entry>();
                if let Some(due) = (*entry).due {
                    due(entry, elapsed);
                }
                q = next;
            }
        }

        if !ngx_queue_empty(head) {
            ngx_add_timer(ev, watch_period());
        }
    }
}

/// Deletes a stream's drain event from the timer tree and the posted queue.
pub fn cancel(ev: &mut ngx_event_t) {
    // SAFETY: the event belongs to a live stream; the helpers check their own flags.
    unsafe {
        if ev.timer_set() != 0 {
            ngx_del_timer(ev);
        }
        if ev.posted() != 0 {
            ngx_delete_posted_event(ev);
        }
    }
}
