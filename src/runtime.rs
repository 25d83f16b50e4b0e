//! What Rust's standard library would otherwise supply: the heap and the panic handler.
//!
//! The module is `no_std` so that it needs nothing at run time but the C library functions that
//! glibc and musl both have (`malloc`, `memcpy`, `dlsym`, ...): the same file then loads into a
//! glibc-linked nginx and into a musl-linked one (Alpine, the `nginx:alpine` images). A module
//! linked with Rust's `std` names glibc's own loader and unwinder, which musl has not.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::fmt::Write;
use core::panic::PanicInfo;
use core::ptr::{copy_nonoverlapping, null_mut};

/// The alignment `malloc` guarantees on the 64-bit targets the module is built for.
const MALLOC_ALIGN: usize = 16;

/// The C library's heap, used as Rust's `std` uses it on Unix. The module allocates on it only
/// at configuration time and for the status page; requests use nginx's pools.
struct Malloc;

// SAFETY: the functions below follow `GlobalAlloc`'s contract by way of the C library's: memory
// from `malloc`/`posix_memalign` is aligned as asked (see `fits_malloc`), and is freed by `free`.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fits_malloc(layout.align(), layout.size()) {
            // SAFETY: malloc with a non-zero size (GlobalAlloc is never asked for zero bytes).
            unsafe { libc::malloc(layout.size()).cast() }
        } else {
            aligned(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if fits_malloc(layout.align(), layout.size()) {
            // SAFETY: calloc of one element of the layout's size.
            unsafe { libc::calloc(1, layout.size()).cast() }
        } else {
            let p = aligned(layout);
            if !p.is_null() {
                // SAFETY: p points to layout.size() bytes just allocated.
                unsafe { p.write_bytes(0, layout.size()) };
            }
            p
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: ptr came from malloc, calloc, realloc or posix_memalign (see alloc).
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if fits_malloc(layout.align(), new_size) {
            // SAFETY: ptr is a live allocation of this allocator; realloc keeps malloc's
            // alignment, which is enough for this layout.
            return unsafe { libc::realloc(ptr.cast(), new_size).cast() };
        }
        // SAFETY: the caller guarantees the new layout is valid (GlobalAlloc::realloc).
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let p = aligned(new);
        if !p.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) bytes long; they differ.
            unsafe {
                copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                libc::free(ptr.cast());
            }
        }
        p
    }
}

/// Whether plain `malloc` gives the alignment: it aligns to `MALLOC_ALIGN`, and a block smaller
/// than an alignment may be aligned to less.
fn fits_malloc(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

fn aligned(layout: Layout) -> *mut u8 {
    let mut p: *mut c_void = null_mut();
    let align = layout.align().max(size_of::<usize>());
    // SAFETY: posix_memalign with a power-of-two alignment that is a multiple of the pointer
    // size, as it requires; it writes p only on success.
    if unsafe { libc::posix_memalign(&mut p, align, layout.size()) } != 0 {
        return null_mut();
    }
    p.cast()
}

#[global_allocator]
static HEAP: Malloc = Malloc;

/// A panic is a bug: nothing here unwinds (the crate is built with `panic = "abort"`), so say
/// where on the worker's standard error, which nginx sends to its error log, and abort as `std`
/// would. nginx's master process starts a new worker.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut line = Line::default();
    let _ = writeln!(line, "sse_auto: panic: {info}");
    // SAFETY: write(2) of the bytes formatted into the buffer; abort never returns.
    unsafe {
        libc::write(2, line.buf.as_ptr().cast(), line.len);
        libc::abort()
    }
}

/// A fixed buffer for the panic message: formatting must not allocate while panicking.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

// Rust's prebuilt `core` and `alloc` are compiled for unwinding, so their code names the
// unwinder's `_Unwind_Resume` and `rust_eh_personality` even though nothing here unwinds
// (panic = "abort"). `std` would bring both with glibc's libgcc_s, which musl systems may not
// have. Defined here, hidden: the link is complete, and the module exports neither, so a library
// loaded after it (nginx loads modules RTLD_GLOBAL) still finds the real unwinder. Never called.
macro_rules! no_unwind_stubs {
    ($trap:literal) => {
        core::arch::global_asm!(
            ".pushsection .text.sse_auto_no_unwind,\"ax\",@progbits",
            ".globl _Unwind_Resume",
            ".hidden _Unwind_Resume",
            ".globl rust_eh_personality",
            ".hidden rust_eh_personality",
            "_Unwind_Resume:",
            "rust_eh_personality:",
            $trap,
            ".popsection",
        );
    };
}

#[cfg(target_arch = "x86_64")]
no_unwind_stubs!("ud2");
#[cfg(target_arch = "aarch64")]
no_unwind_stubs!("udf #0");

// On aarch64 the Rust standard library Debian builds (the one this project cross-compiles with)
// carries compiler-rt's C helpers (128-bit division, ...) compiled with the stack protector. They
// read glibc's canary `__stack_chk_guard`, which glibc defines in its loader
// (ld-linux-aarch64.so.1): linking to it would make the module name that loader, which musl has
// not. The module's own canary instead, hidden, for those few helpers; a failed check aborts.
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .data.rel.ro.sse_auto_stack_guard,\"aw\",@progbits",
    ".globl __stack_chk_guard",
    ".hidden __stack_chk_guard",
    ".balign 8",
    "__stack_chk_guard:",
    ".quad 0x5ea5e0a7c0ffee00",
    ".popsection",
    ".pushsection .text.sse_auto_stack_chk_fail,\"ax\",@progbits",
    ".globl __stack_chk_fail",
    ".hidden __stack_chk_fail",
    "__stack_chk_fail:",
    "b abort",
    ".popsection",
);
