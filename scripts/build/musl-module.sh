#!/usr/bin/env bash
# A musl-linked nginx of a release (the C library of Alpine and the nginx:alpine images) and
# the module for it, both by nginx's own build, from nginx's tag (the release-trees bundle,
# SSE_NGINX_BUNDLE=):
#
# - nginx: `--with-cc=musl-gcc --with-compat`, without the modules that need PCRE and zlib and
#   without SSL (Debian has no musl builds of them), `-Wl,-E` as every nginx links;
# - the module: Rust's standard library compiled for x86_64-unknown-linux-musl from Debian's
#   own source of it (rust-web-src, for the rustc-web compiler of the same version; cargo
#   -Zbuild-std, allowed on a stable compiler by RUSTC_BOOTSTRAP=1), nginx's headers read with
#   musl's (bindgen), the .so linked by musl-gcc with gcc's static unwinder and
#   scripts/build/musl-stub.c. It names only libc.so, which musl's loader is.
#
# Kept in target/musl/<version>-module/. Prints the binary's path, then the module's.
#
# Usage: scripts/build/musl-module.sh <version>     (root on a fresh machine: apt)
set -euo pipefail
exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/../.." && pwd)
ver=${1:?usage: musl-module.sh <version>}
bundle=${SSE_NGINX_BUNDLE:-$repo/../shared/sources/nginx-release-trees.bundle}
work=$repo/target/musl
dir=$work/$ver-module
[ "$(uname -m)" = x86_64 ] || { echo "musl-module: x86_64 only for now"; exit 2; }

missing=()
for p in musl-tools rustc-web cargo-web rust-web-src libclang-dev; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "musl-module: missing ${missing[*]} (Debian packages; run as root)"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
# rustc-web and its standard library's source must be the same version
rustc_ver=$(/usr/bin/rustc -V | cut -d' ' -f2)
[ -d "/usr/src/rustc-$rustc_ver/library/std" ] \
    || { echo "musl-module: no source of Rust $rustc_ver's standard library (rust-web-src)"; exit 1; }

mkdir -p "$work"
# the linker of the module: musl-gcc, gcc's static unwinder, the stub
musl-gcc -fPIC -O2 -c "$repo/scripts/build/musl-stub.c" -o "$work/musl-stub.o"
# (the module's config names libgcc_s, which musl systems need not have: the static one instead)
cat >"$work/musl-link" <<EOS
#!/bin/sh
for a; do shift; [ "\$a" = -lgcc_s ] && a=-l:libgcc_eh.a; set -- "\$@" "\$a"; done
exec musl-gcc "\$@" -l:libgcc_eh.a "$work/musl-stub.o"
EOS
chmod +x "$work/musl-link"

SSE_NGINX_BUNDLE=$bundle "$repo/scripts/build/nginx-tag.sh" "$ver" "$dir"

# bindgen: musl's headers, not this machine's glibc ones
resource=$(clang -print-resource-dir 2>/dev/null || ls -d /usr/lib/llvm-*/lib/clang/* | tail -n 1)
export NGX_RUST_TARGET=x86_64-unknown-linux-musl NGX_CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static"
export BINDGEN_EXTRA_CLANG_ARGS_x86_64_unknown_linux_musl="-nostdinc -isystem $resource/include -isystem /usr/include/x86_64-linux-musl"
export SSE_AUTO_LINKER=$work/musl-link SSE_AUTO_CARGO_TARGET_DIR=$work/cargo
start=$SECONDS
(
    cd "$dir"
    if [ ! -f objs/Makefile ]; then
        ./auto/configure --with-cc=musl-gcc --with-cc-opt=-Wno-error --with-ld-opt=-Wl,-E \
            --with-compat --without-http_rewrite_module --without-http_gzip_module \
            --add-dynamic-module="$repo" >configure.log 2>&1 || { tail -n 20 configure.log; exit 1; }
    fi
    make -j"${MUSL_JOBS:-2}" -f objs/Makefile >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
)
echo "musl-module: nginx $ver and the module for musl in $((SECONDS - start)) s"
echo "$dir/objs/nginx" >&3
echo "$dir/objs/ngx_http_sse_auto_module.so" >&3
