//! nginx functions that only some builds of a version have, found when the configuration is
//! read rather than when the module is loaded.
//!
//! A `--with-compat` module loads into every `--with-compat` binary of its version, whatever
//! optional parts that binary was configured with: the structures are the same. Functions are
//! not: a binary built without SSL has no `ngx_ssl_free_buffer`, one built
//! `--without-http-cache` no `ngx_http_file_cache_valid`, and a direct call to either would make
//! `dlopen()` refuse the module there ("undefined symbol"). They are looked up by name instead;
//! where one is missing, what it serves does not exist in that binary either (no connection has
//! TLS, no response is stored in a cache), so nothing the module does for such a binary is lost.
//!
//! nginx links its binary with `-Wl,-E` (every platform whose linker has it), which exports its
//! functions to modules; that is how a module finds any of them, and how `dlsym` sees them.

use core::ffi::{c_char, c_void, CStr};
use core::ptr;
#[cfg(any(ngx_feature = "ssl", ngx_feature = "http_cache"))]
use core::sync::atomic::{AtomicPtr, Ordering};

use ngx::ffi::ngx_conf_t;

/// The address of a global of the process (nginx's binary or a library it loaded), or null.
pub fn address(symbol: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT only looks the NUL-terminated name up in the global scope
    // of the process.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, symbol.as_ptr() as *const c_char) }
}

#[cfg(ngx_feature = "ssl")]
static SSL_FREE_BUFFER: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
#[cfg(ngx_feature = "http_cache")]
static FILE_CACHE_VALID: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Looks the optional functions up in the running binary; called from postconfiguration (the
/// master reads the configuration, workers inherit what it found).
pub fn resolve(cf: &ngx_conf_t) {
    let found = |name: &CStr| {
        let p = address(name);
        if p.is_null() {
            ngx::ngx_conf_log_error!(
                ngx::ffi::NGX_LOG_DEBUG,
                ptr::from_ref(cf).cast_mut(),
                "sse_auto: this nginx has no {}: {}",
                name.to_str().unwrap_or("?"),
                match name.to_bytes() {
                    b"ngx_ssl_free_buffer" => "built without SSL, no TLS send buffer to release",
                    _ => "built without the HTTP cache, no response is stored",
                }
            );
        }
        p
    };
    #[cfg(ngx_feature = "ssl")]
    SSL_FREE_BUFFER.store(found(c"ngx_ssl_free_buffer"), Ordering::Relaxed);
    #[cfg(ngx_feature = "http_cache")]
    FILE_CACHE_VALID.store(found(c"ngx_http_file_cache_valid"), Ordering::Relaxed);
    // a tree with neither has nothing to look up
    #[cfg(not(any(ngx_feature = "ssl", ngx_feature = "http_cache")))]
    let _ = found;
}

/// `ngx_ssl_free_buffer`, where the binary has SSL.
#[cfg(ngx_feature = "ssl")]
pub fn ssl_free_buffer() -> Option<unsafe extern "C" fn(*mut ngx::ffi::ngx_connection_t)> {
    let p = SSL_FREE_BUFFER.load(Ordering::Relaxed);
    // SAFETY: non-null only as the address dlsym gave for nginx's `ngx_ssl_free_buffer`, whose
    // C signature is `void (ngx_connection_t *)` in every version.
    (!p.is_null()).then(|| unsafe {
        core::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut ngx::ffi::ngx_connection_t)>(
            p,
        )
    })
}

/// `ngx_http_file_cache_valid`, where the binary has the HTTP cache.
#[cfg(ngx_feature = "http_cache")]
#[allow(clippy::type_complexity)]
pub fn file_cache_valid() -> Option<
    unsafe extern "C" fn(*mut ngx::ffi::ngx_array_t, ngx::ffi::ngx_uint_t) -> ngx::ffi::time_t,
> {
    let p = FILE_CACHE_VALID.load(Ordering::Relaxed);
    // SAFETY: non-null only as the address dlsym gave for nginx's `ngx_http_file_cache_valid`,
    // whose C signature is `time_t (ngx_array_t *, ngx_uint_t)` in every version.
    (!p.is_null()).then(|| unsafe {
        core::mem::transmute::<
            *mut c_void,
            unsafe extern "C" fn(
                *mut ngx::ffi::ngx_array_t,
                ngx::ffi::ngx_uint_t,
            ) -> ngx::ffi::time_t,
        >(p)
    })
}
