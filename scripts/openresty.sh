#!/bin/sh
# Builds ngx_http_sse_auto_module.so for OpenResty, against the nginx tree of an unpacked
# OpenResty source bundle (openresty-X.Y.Z.W.tar.gz from OpenResty's download page).
#
# Usage: scripts/openresty.sh <openresty-X.Y.Z.W dir> [extra configure flags]
#
# OpenResty patches nginx's core: its struct ngx_http_upstream_s has extra fields ahead of the
# ones sse_auto uses, so a module built against vanilla nginx of the same version loads (nginx
# checks only the version and a signature) and then reads and writes the wrong fields. Build
# against the bundle of the exact OpenResty version you run (`openresty -V` prints it, with
# its configure arguments: pass those that change structures, e.g. --with-compat, --with-debug,
# --with-threads, --with-http_v2_module, as extra flags).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)

bundle=${1:?usage: $0 <openresty source dir> [configure flags]}
shift
bundle=$(cd "$bundle" && pwd)

[ -x "$bundle/configure" ] && [ -d "$bundle/bundle" ] \
    || { echo "$bundle is not an unpacked OpenResty source bundle" >&2; exit 1; }

nginx_dir=$(ls -d "$bundle"/bundle/nginx-[0-9]* 2>/dev/null | head -n 1)
[ -n "$nginx_dir" ] || { echo "no bundle/nginx-* in $bundle" >&2; exit 1; }
echo "OpenResty $(basename "$bundle"), $(basename "$nginx_dir")"

# OpenResty's configure prepares the patched nginx tree under build/ and runs nginx's own
# configure there with --add-dynamic-module: the module is built by nginx's build (config,
# config.make), against that tree.
cd "$bundle"
./configure --with-compat "$@" --add-dynamic-module="$repo" >configure.sse_auto.log 2>&1 \
    || { tail -n 30 configure.sse_auto.log >&2; exit 1; }
make -j"$(nproc 2>/dev/null || echo 2)" >make.sse_auto.log 2>&1 \
    || { tail -n 40 make.sse_auto.log >&2; exit 1; }

so=$(ls "$bundle"/build/nginx-*/objs/ngx_http_sse_auto_module.so)
echo "module=$so"
echo "install: cp $so <openresty prefix>/nginx/modules/ and add to the top of nginx.conf:"
echo "    load_module modules/ngx_http_sse_auto_module.so;"
