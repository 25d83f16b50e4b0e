#!/usr/bin/env bash
# An nginx binary of any release 1.18.0 ... 1.31.4, from the release-trees bundle (a git bundle
# with a tag release-<version> per release; NOTES §18), built --with-compat the way the release's
# modules are, for the tests that load a release's file into a binary of its version:
#
#   full      --with-compat --with-threads --with-http_ssl_module --with-http_v2_module
#             --with-http_realip_module (the release's vanilla flags)
#   nossl     --with-compat only: no TLS at all
#   nocache   --with-compat --with-http_ssl_module --without-http-cache
#   musl      full's flags, linked against musl (Alpine's C library; the nginx:alpine images)
#             by Debian's musl-gcc, with zlib, PCRE2 and OpenSSL compiled for musl
#             (scripts/build/musl-sysroot.sh; OpenSSL takes minutes, once)
#   musl-nossl  the same without TLS: --with-compat --with-threads --with-http_realip_module
#             (nginx before 1.21.5 takes PCRE, not PCRE2: both are there)
#
# Kept in target/nginx-releases/<version>-<variant>/ (the tree, objs/nginx); a second call
# prints the cached binary. Prints the binary's path; the log goes to stderr. With `module`, the
# tree is configured with this checkout as a dynamic module (nginx's own build) and the
# module's path is printed on a second line: a module of exactly that build, as `make
# module-for` would make for it.
#
# NGINX_RELEASE_ARCH=aarch64 on an x86_64 machine: a cross build (scripts/build/cross-aarch64.sh;
# configure's test programs run through qemu, as do the binary and the tests that start it),
# kept in target/nginx-releases/<version>-<variant>.aarch64/; musl-nossl too (musl-dev:arm64,
# scripts/build/musl-sysroot.sh).
#
# Usage: scripts/build/nginx-release.sh <version> [full|nossl|nocache|musl|musl-nossl] [module]
#   SSE_NGINX_BUNDLE=  the bundle (default ../shared/sources/nginx-release-trees.bundle), or a
#                      clone of nginx's repository (tags release-<version>)
set -euo pipefail
exec 3>&1 1>&2

repo=$(cd "$(dirname "$0")/../.." && pwd)
ver=${1:?usage: nginx-release.sh <version> [full|nossl|nocache]}
variant=${2:-full}
with_module=${3:-}
bundle=${SSE_NGINX_BUNDLE:-$repo/../shared/sources/nginx-release-trees.bundle}
work=$repo/target/nginx-releases
dir=$work/$ver-$variant
bin=$dir/objs/nginx

arch=${NGINX_RELEASE_ARCH:-$(uname -m)}
case $variant in
full) flags=(--with-compat --with-threads --with-http_ssl_module --with-http_v2_module
    --with-http_realip_module) ;;
nossl) flags=(--with-compat) ;;
nocache) flags=(--with-compat --with-http_ssl_module --without-http-cache) ;;
musl | musl-nossl)
    flags=(--with-compat --with-threads --with-http_realip_module)
    musl_cc=musl-gcc
    if [ "$variant" = musl ]; then
        flags+=(--with-http_ssl_module --with-http_v2_module)
        sysroot=$("$repo/scripts/build/musl-sysroot.sh" ssl)
    elif [ "$arch" = "$(uname -m)" ]; then
        sysroot=$("$repo/scripts/build/musl-sysroot.sh")
    else
        # aarch64: the cross compiler with musl's specs, which the sysroot script writes
        { read -r sysroot; read -r musl_cc; } < <(MUSL_ARCH=$arch "$repo/scripts/build/musl-sysroot.sh")
    fi
    flags+=(--with-ld-opt="-L$sysroot/lib -Wl,-E")
    musl_include=$sysroot/include ;;
*) echo "nginx-release: no variant $variant (full, nossl, nocache, musl, musl-nossl)"; exit 2 ;;
esac
if [ "$arch" != "$(uname -m)" ]; then
    case $variant in musl) echo "nginx-release: no musl variant with TLS for $arch here (musl-nossl)"; exit 2 ;; esac
    cross_env=$("$repo/scripts/build/cross-aarch64.sh")
    CROSS_CC=''
    eval "export $cross_env"
    [ "$arch" = aarch64 ] && [ -n "$CROSS_CC" ] || { echo "nginx-release: no cross build for $arch"; exit 2; }
    flags+=(--crossbuild=Linux::aarch64 --with-cc="${musl_cc:-$CROSS_CC}")
    dir=$dir.$arch bin=$dir/objs/nginx
else
    unset NGX_RUST_TARGET
    [ -z "${musl_cc:-}" ] || flags+=(--with-cc="$musl_cc")
fi
case $with_module in
'') ;;
module) dir=$dir-module bin=$dir/objs/nginx
    flags+=(--add-dynamic-module="$repo")
    export SSE_AUTO_CARGO_TARGET_DIR=${SSE_AUTO_CARGO_TARGET_DIR:-$work/cargo}
    # linked against glibc 2.17, like every module the project builds (make check-floor)
    if [ "${SSE_AUTO_GLIBC:-}" != host ] && [ -z "${SSE_AUTO_LINKER:-}" ]; then
        SSE_AUTO_LINKER=$("$repo/scripts/build/zig.sh")${NGX_RUST_TARGET:+-$arch} && export SSE_AUTO_LINKER
    fi
    [ -z "${NGX_RUST_TARGET:-}" ] || SSE_AUTO_CARGO_TARGET_DIR=$SSE_AUTO_CARGO_TARGET_DIR.$arch ;;
*) echo "nginx-release: $with_module: only 'module' may follow the variant"; exit 2 ;;
esac
# before 1.22 nginx calls what OpenSSL 3 deprecates; gcc 12 warns where old trees did not expect
flags+=(--with-cc-opt="-Wno-deprecated-declarations -Wno-error${musl_include:+ -I$musl_include}")

stamp="${flags[*]}${SSE_AUTO_LINKER:+ $SSE_AUTO_LINKER}"
if [ ! -x "$bin" ] || [ "$(cat "$dir/.flags" 2>/dev/null)" != "$stamp" ] \
    || { [ -n "$with_module" ] && [ ! -f "$dir/objs/ngx_http_sse_auto_module.so" ]; }; then
    # a fresh tree: configure writes into it
    rm -rf "$dir"
    SSE_NGINX_BUNDLE=$bundle "$repo/scripts/build/nginx-tag.sh" "$ver" "$dir"
    start=$SECONDS
    (
        cd "$dir"
        ./auto/configure "${flags[@]}" >configure.log 2>&1 || { tail -n 20 configure.log; exit 1; }
        make -j"${NGINX_RELEASE_JOBS:-2}" -f objs/Makefile >make.log 2>&1 || { tail -n 30 make.log; exit 1; }
    )
    printf '%s\n' "$stamp" >"$dir/.flags"
    echo "nginx-release: nginx $ver ($variant) built in $((SECONDS - start)) s"
fi
if [ -n "$with_module" ]; then
    # the module's sources may have changed since: nginx's make runs cargo, which decides
    make -C "$dir" -j"${NGINX_RELEASE_JOBS:-2}" -f objs/Makefile modules >"$dir/make.log" 2>&1 \
        || { tail -n 30 "$dir/make.log"; exit 1; }
fi
echo "$bin" >&3
[ -z "$with_module" ] || echo "$dir/objs/ngx_http_sse_auto_module.so" >&3
