/*
 * Linked into the musl build of the module only (scripts/build/musl-module.sh).
 *
 * Rust's standard library names an unwinder; on musl it is taken from gcc's static libgcc_eh,
 * which Debian builds against glibc and which therefore asks the loader for an address's
 * unwind tables with glibc's _dl_find_object(). musl has no such call, and its loader binds
 * every symbol when the module is loaded, so the module would not load. The module never
 * unwinds (panic = "abort"): "no tables here" is the true answer for it.
 */

struct dl_find_object;

__attribute__((visibility("hidden")))
int
_dl_find_object(void *pc, struct dl_find_object *result)
{
    (void) pc;
    (void) result;
    return -1;
}
