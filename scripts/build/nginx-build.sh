#!/bin/sh
# Builds nginx with sse_auto through nginx's own build system, the way distributions and
# OpenResty build modules: ./configure --with-compat --add-dynamic-module=<this repo>.
#
# Usage: scripts/build/nginx-build.sh [nginx source dir [extra configure flags]]
#        (default: the vendored nginx source; e.g. --with-http_v3_module as an extra flag)
# Prints nginx=<binary> and module=<.so>, like `make paths`. The build is kept under
# target/nginx-build/<kind>-<version> (NGINX_BUILD_NAME= another name): it is configured
# again only when the flags (or the module's config) changed, and make rebuilds only what
# changed.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)

src=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$src" ]; then
    # the nginx source bundled with the nginx-src crate the vendored build uses
    manifest=$(cd "$repo" && cargo metadata --format-version 1 2>/dev/null \
        | grep -o '"manifest_path":"[^"]*nginx-src-[^"]*/Cargo.toml"' | head -n 1 \
        | sed 's/"manifest_path":"\(.*\)\/Cargo.toml"/\1/')
    src=$manifest/nginx
fi
[ -f "$src/src/core/nginx.h" ] || { echo "no nginx source at $src" >&2; exit 1; }

version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$src/src/core/nginx.h")
# one folder per kind and version (Tengine 3.1.0 is nginx 1.24.0 inside), or NGINX_BUILD_NAME
h=$src/src/core/nginx.h
if grep -q '^#define TENGINE_VERSION' "$h"; then
    name=tengine-$(sed -n 's/^#define TENGINE_VERSION *"\(.*\)"/\1/p' "$h")
elif [ -f "$src/src/core/angie.h" ]; then
    name=angie-$(sed -n 's/^#define ANGIE_VERSION *"\(.*\)"/\1/p' "$src/src/core/angie.h")
elif grep -q '^#define NGINX_VER .*openresty' "$h"; then
    name=openresty-nginx-$version
else
    name=nginx-$version
fi
build=$repo/target/nginx-build/${NGINX_BUILD_NAME:-$name}
mkdir -p "$repo/target/nginx-build"

# a private copy: configure writes into the tree (objs/, Makefile)
if [ ! -f "$build/src/core/nginx.h" ]; then
    rm -rf "$build"
    cp -r "$src" "$build"
fi

cd "$build"
configure=./configure
[ -x "$configure" ] || configure=./auto/configure

# every .so the project builds loads on glibc 2.17 and newer (config.make, scripts/build/zig.sh)
if [ -z "${SSE_AUTO_LINKER+set}" ]; then
    SSE_AUTO_LINKER=$("$repo/scripts/build/zig.sh") || exit 1
fi
export SSE_AUTO_LINKER

# Angie: the module with ngx and nginx-sys patched for Angie (scripts/build/angie-crates.sh)
moddir=$repo
if [ -f src/core/angie.h ]; then
    moddir=$("$repo/scripts/build/angie-crates.sh") || exit 1
fi

set -- --with-compat --with-debug --with-threads \
    --with-http_ssl_module --with-http_v2_module --with-http_realip_module "$@" \
    --add-dynamic-module="$moddir"
stamp=$(printf '%s\n' "$@" "linker=$SSE_AUTO_LINKER")

if [ ! -f objs/Makefile ] || [ ! -f objs/sse_auto.flags ] \
    || [ "$(cat objs/sse_auto.flags)" != "$stamp" ] \
    || [ "$moddir/config" -nt objs/Makefile ] || [ "$moddir/config.make" -nt objs/Makefile ]; then
    $configure "$@" >configure.log 2>&1 || { tail -n 30 configure.log >&2; exit 1; }
    printf '%s\n' "$stamp" >objs/sse_auto.flags
fi

# at most two jobs: the build machines have two cores, shared
make -j"${NGINX_BUILD_JOBS:-2}" >make.log 2>&1 || { tail -n 40 make.log >&2; exit 1; }

bin=$build/objs/nginx
[ -x "$bin" ] || bin=$build/objs/angie   # Angie's binary is named so
echo "nginx=$bin"
echo "module=$build/objs/ngx_http_sse_auto_module.so"
