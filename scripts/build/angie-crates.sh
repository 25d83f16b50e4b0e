#!/usr/bin/env bash
# Angie support, until ngx/nginx-sys have it: prepares a copy of this module whose ngx and
# nginx-sys are those of Cargo.lock with two small changes for Angie, and prints its path (give
# it to nginx's build as --add-dynamic-module=). scripts/build/nginx-build.sh and
# scripts/build/module-for.sh call this for an Angie tree.
#
# Why: Angie's struct ngx_module_s has `angie_sign` where nginx has `spare1`, and Angie's loader
# wants `angie_version` in `version` (nginx-sys's ngx_module_t::default() sets spare1 and
# nginx_version: it does not compile against Angie's headers); Angie's ngx_log_error_core()
# takes the source file name as a third argument (ngx's log functions pass nginx's four).
#
# Nothing of either crate is kept in this repository: cargo fetches them as usual (Cargo.lock's
# versions, checksums verified), they are copied under target/angie/ and edited there by the
# replacements below, each of which must apply exactly once or this fails, naming it. The
# module's sources are copied there too (the tracked files of the working tree, or all of it
# outside git), so that cargo can record the patched crates in that copy's Cargo.lock and not in
# this one.
#
# Usage: scripts/build/angie-crates.sh        (ANGIE_CRATES_DIR= another folder than target/angie)
set -euo pipefail
exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${ANGIE_CRATES_DIR:-$repo/target/angie}
mkdir -p "$out"
out=$(cd "$out" && pwd)

lock_version() { # crate -> its version in Cargo.lock
    awk -v n="$1" '$1 == "name" && $3 == "\"" n "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
        "$repo/Cargo.lock"
}
sys_v=$(lock_version nginx-sys)
ngx_v=$(lock_version ngx)
[ -n "$sys_v" ] && [ -n "$ngx_v" ] || { echo "angie-crates: no ngx / nginx-sys in Cargo.lock"; exit 1; }

# the registry's sources of exactly those versions (cargo fetch unpacks them)
(cd "$repo" && cargo fetch --locked -q)
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
find_crate() {
    local d
    d=$(ls -d "$registry"/*/"$1-$2" 2>/dev/null | head -n 1)
    [ -n "$d" ] || { echo "angie-crates: $1 $2 is not in $registry after cargo fetch"; exit 1; }
    echo "$d"
}
sys_src=$(find_crate nginx-sys "$sys_v")
ngx_src=$(find_crate ngx "$ngx_v")

# file, old, new: replaces the one occurrence of old, or fails
edit() {
    python3 - "$@" <<'EOF'
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"angie-crates: {path}: expected one occurrence of:\n{old}\n(found {text.count(old)}): "
             "the crate changed, update scripts/build/angie-crates.sh")
open(path, "w").write(text.replace(old, new))
EOF
}

stamp="nginx-sys $sys_v ngx $ngx_v $(sha256sum "$0" | cut -d' ' -f1)"
if [ "$(cat "$out/crates.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$out/nginx-sys" "$out/ngx"
    cp -r "$sys_src" "$out/nginx-sys"
    cp -r "$ngx_src" "$out/ngx"
    chmod -R u+w "$out/nginx-sys" "$out/ngx"

    # nginx-sys: a cfg for Angie's headers ...
    edit "$out/nginx-sys/build/main.rs" \
'    println!("cargo::rustc-cfg=ngx_os=\"{ngx_os}\"");
' \
'    println!("cargo::rustc-cfg=ngx_os=\"{ngx_os}\"");

    // Angie (sse_auto: scripts/build/angie-crates.sh): struct ngx_module_s has angie_sign where
    // nginx has spare1, the loader compares version with angie_version, and
    // ngx_log_error_core() takes the source file name
    let angie = includes.iter().any(|d| d.as_ref().join("angie.h").is_file());
    println!("cargo::metadata=angie={angie}");
    println!("cargo::rustc-check-cfg=cfg(ngx_angie)");
    if angie {
        println!("cargo::rustc-cfg=ngx_angie");
    }
'
    # ... Angie's mark, which bindgen cannot evaluate (an expression of character constants) ...
    printf '%s\n' '' \
        '// Angie (sse_auto: scripts/build/angie-crates.sh): the module mark its loader checks' \
        '#ifdef ngx_angie_sign' \
        'const ngx_uint_t NGX_RS_ANGIE_SIGN = ngx_angie_sign;' \
        '#endif' >>"$out/nginx-sys/build/wrapper.h"
    # ... and the module header Angie's loader accepts
    edit "$out/nginx-sys/src/lib.rs" \
'            spare1: 0,
            version: nginx_version as ngx_uint_t,' \
'            #[cfg(not(ngx_angie))]
            spare1: 0,
            #[cfg(not(ngx_angie))]
            version: nginx_version as ngx_uint_t,
            #[cfg(ngx_angie)]
            angie_sign: NGX_RS_ANGIE_SIGN,
            #[cfg(ngx_angie)]
            version: angie_version as ngx_uint_t,'

    # ngx: Angie's cfg from nginx-sys's metadata, and the file name argument of its logger
    edit "$out/ngx/build.rs" \
'fn main() {' \
'fn main() {
    // Angie (sse_auto: scripts/build/angie-crates.sh)
    println!("cargo::rustc-check-cfg=cfg(ngx_angie)");
    println!("cargo::rerun-if-env-changed=DEP_NGINX_ANGIE");
    if std::env::var("DEP_NGINX_ANGIE").as_deref() == Ok("true") {
        println!("cargo::rustc-cfg=ngx_angie");
    }
'
    edit "$out/ngx/src/log.rs" \
'        ffi::ngx_log_error_core(level, log, err, c"%*s".as_ptr(), buf.len(), buf.as_ptr());' \
'        #[cfg(not(ngx_angie))]
        ffi::ngx_log_error_core(level, log, err, c"%*s".as_ptr(), buf.len(), buf.as_ptr());
        #[cfg(ngx_angie)]
        ffi::ngx_log_error_core(level, log, c"".as_ptr(), err, c"%*s".as_ptr(), buf.len(), buf.as_ptr());'
    edit "$out/ngx/src/log.rs" \
'        ffi::ngx_log_error_core(
            ffi::NGX_LOG_DEBUG as _,
            log,
            err,' \
'        ffi::ngx_log_error_core(
            ffi::NGX_LOG_DEBUG as _,
            log,
            #[cfg(ngx_angie)]
            c"".as_ptr(),
            err,'
    printf '%s\n' "$stamp" >"$out/crates.stamp"
fi

# the module's sources, with the patched crates
src=$out/sse-auto
rm -rf "$src.new"
mkdir -p "$src.new"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c '[ -e "$1" ] && cp --parents -p "$1" "$2"' _ {} "$src.new")
else
    (cd "$repo" && tar --exclude=./target -cf - .) | tar -xf - -C "$src.new"
fi
cat >>"$src.new/Cargo.toml" <<EOF

# Angie (scripts/build/angie-crates.sh): ngx and nginx-sys with Angie's module header and logger
[patch.crates-io]
nginx-sys = { path = "$out/nginx-sys" }
ngx = { path = "$out/ngx" }
EOF
# unchanged files keep their times, so cargo rebuilds only what changed
if [ -d "$src" ]; then
    (cd "$src.new" && find . -type f) | while read -r f; do
        cmp -s "$src.new/$f" "$src/$f" || continue
        touch -r "$src/$f" "$src.new/$f"
    done
fi
rm -rf "$src"
mv "$src.new" "$src"
echo "$src" >&3
