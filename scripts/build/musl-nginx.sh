#!/bin/sh
# A musl-linked nginx (the C library of Alpine and the nginx:alpine images), for the tests of
# what the installer does there: nginx 1.30.4 from ../shared/sources, compiled by Debian's
# musl-gcc, --with-compat, without the modules that need PCRE and zlib (no musl builds of
# them here). Kept in target/musl/. Prints the binary's path.
#
# Usage: scripts/build/musl-nginx.sh      (SSE_SOURCES= another folder of tarballs)
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
sources=${SSE_SOURCES:-$repo/../shared/sources}
ver=1.30.4
dir=$repo/target/musl
bin=$dir/nginx-$ver/objs/nginx

if [ ! -x "$bin" ]; then
    command -v musl-gcc >/dev/null 2>&1 || {
        [ "$(id -u)" -eq 0 ] || { echo "musl-nginx: musl-gcc missing (Debian: musl-tools)" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends musl-tools >/dev/null
    }
    [ -f "$sources/nginx-$ver.tar.gz" ] || { echo "musl-nginx: no $sources/nginx-$ver.tar.gz" >&2; exit 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$sources/nginx-$ver.tar.gz" -C "$dir"
    (
        cd "$dir/nginx-$ver"
        ./configure --with-cc=musl-gcc --with-cc-opt=-Wno-error --with-ld-opt=-Wl,-E --with-compat \
            --without-http_rewrite_module --without-http_gzip_module >configure.log 2>&1 \
            || { tail -n 20 configure.log >&2; exit 1; }
        make -j2 >make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
    )
fi
echo "$bin"
