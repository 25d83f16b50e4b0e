#!/bin/sh
# Builds ngx_http_sse_auto_module.so for OpenResty, against the nginx tree of an unpacked
# OpenResty source bundle (openresty-X.Y.Z.W.tar.gz from OpenResty's download page).
#
# Usage: scripts/build/openresty.sh <openresty-X.Y.Z.W dir> [configure flags]
#
# Without flags it configures with OpenResty's packaging flags (scripts/build/openresty.flags), the
# ones OpenResty's own deb and rpm packages (and images built from them) use. Flags given
# replace that list; --with-compat is always added.
#
# OpenResty patches nginx's core: its struct ngx_http_upstream_s has extra fields ahead of the
# ones sse_auto uses, so a module built against vanilla nginx of the same version would load
# (nginx checks only the version and a signature) and then read the wrong fields; sse_auto
# refuses to load there (`nginx -t` fails). Build against the bundle of the exact OpenResty
# version you run (`openresty -V` prints it, with its configure arguments: pass those that
# change structures, e.g. --with-compat, --with-debug, --with-threads, --with-http_v2_module).
#
# A --prefix=DIR flag makes it also install OpenResty into DIR (binary DIR/nginx/sbin/nginx,
# the module in DIR/nginx/modules/, Lua libraries in DIR/lualib), as the matrix does.
# OPENRESTY_DESTDIR=ROOT installs under ROOT instead (make install DESTDIR=ROOT): an image's
# root, its paths (--prefix, --sbin-path, --modules-path, ...) as the image has them.
#
# OPENRESTY_LIBC=musl: OpenResty linked against musl, as its alpine images are: Debian's
# musl-gcc, zlib, PCRE2 and OpenSSL from scripts/build/musl-sysroot.sh, with the Linux headers it
# keeps apart (ngx_stream_lua includes one; LuaJIT is built by the
# same compiler, with its own unwinding: Debian's static libgcc_eh calls glibc's
# _dl_find_object); the module in that tree is linked by musl-gcc.
#
# Configuring is skipped when the tree was configured with the same flags before; make runs
# every time (cargo decides whether the module needs rebuilding). Prints nginx=<binary> and
# module=<.so> last, like `make paths`.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)

bundle=${1:?usage: $0 <openresty source dir> [configure flags]}
shift
bundle=$(cd "$bundle" && pwd)

[ -x "$bundle/configure" ] && [ -d "$bundle/bundle" ] \
    || { echo "$bundle is not an unpacked OpenResty source bundle" >&2; exit 1; }

nginx_dir=$(ls -d "$bundle"/bundle/nginx-[0-9]* 2>/dev/null | head -n 1)
[ -n "$nginx_dir" ] || { echo "no bundle/nginx-* in $bundle" >&2; exit 1; }
echo "OpenResty $(basename "$bundle"), $(basename "$nginx_dir")" >&2

if [ $# -eq 0 ]; then
    while IFS= read -r flag; do
        case $flag in '' | '#'*) continue ;; esac
        set -- "$@" "$flag"
    done <"$repo/scripts/build/openresty.flags"
fi

if [ "${OPENRESTY_LIBC:-gnu}" = musl ]; then
    sysroot=$("$repo/scripts/build/musl-sysroot.sh" ssl) || exit 1
    ccopt=
    for flag in "$@"; do
        shift
        case $flag in
        --with-cc-opt=*) flag="$flag -I$sysroot/include -idirafter $sysroot/kernel-include" ccopt=1 ;;
        --with-luajit-xcflags=*) flag="$flag -DLUAJIT_NO_UNWIND" ;;
        esac
        set -- "$@" "$flag"
    done
    [ -n "$ccopt" ] || set -- "$@" --with-cc-opt="-I$sysroot/include -idirafter $sysroot/kernel-include"
    set -- "$@" --with-cc=musl-gcc --with-ld-opt="-L$sysroot/lib -Wl,-E"
    SSE_AUTO_LINKER=${SSE_AUTO_LINKER-}
fi

prefix=
for flag in "$@"; do
    case $flag in --prefix=*) prefix=${flag#--prefix=} ;; esac
done

# at most two jobs: the build machines here have two cores, shared
jobs=${OPENRESTY_JOBS:-2}

# OpenResty's configure prepares the patched nginx tree under build/ and runs nginx's own
# configure there with --add-dynamic-module: the module is built by nginx's build (config,
# config.make), against that tree.
# the .so loads on glibc 2.17 and newer (config.make, scripts/build/zig.sh)
if [ -z "${SSE_AUTO_LINKER+set}" ]; then
    SSE_AUTO_LINKER=$("$repo/scripts/build/zig.sh") || exit 1
fi
export SSE_AUTO_LINKER

cd "$bundle"
stamp=$(printf '%s\n' --with-compat "$@" --add-dynamic-module="$repo" "linker=$SSE_AUTO_LINKER")
if [ ! -f build/nginx-*/objs/Makefile ] || [ ! -f configure.sse_auto.flags ] \
    || [ "$(cat configure.sse_auto.flags)" != "$stamp" ] \
    || [ "$repo/config" -nt configure.sse_auto.flags ] \
    || [ "$repo/config.make" -nt configure.sse_auto.flags ]; then
    rm -f configure.sse_auto.flags
    ./configure -j"$jobs" --with-compat "$@" --add-dynamic-module="$repo" \
        >configure.sse_auto.log 2>&1 \
        || { tail -n 30 configure.sse_auto.log >&2; exit 1; }
    printf '%s\n' "$stamp" >configure.sse_auto.flags
fi
make -j"$jobs" >make.sse_auto.log 2>&1 || { tail -n 40 make.sse_auto.log >&2; exit 1; }

if [ -n "${OPENRESTY_DESTDIR:-}" ]; then
    make install DESTDIR="$OPENRESTY_DESTDIR" >install.sse_auto.log 2>&1 \
        || { tail -n 20 install.sse_auto.log >&2; exit 1; }
    sbin=$prefix/nginx/sbin/nginx modpath=$prefix/nginx/modules
    for flag in "$@"; do
        case $flag in
        --sbin-path=*) sbin=${flag#--sbin-path=} ;;
        --modules-path=*) modpath=${flag#--modules-path=} ;;
        esac
    done
    nginx=$OPENRESTY_DESTDIR$sbin
    so=$OPENRESTY_DESTDIR$modpath/ngx_http_sse_auto_module.so
elif [ -n "$prefix" ]; then
    make install >install.sse_auto.log 2>&1 || { tail -n 20 install.sse_auto.log >&2; exit 1; }
    nginx=$prefix/nginx/sbin/nginx
    so=$prefix/nginx/modules/ngx_http_sse_auto_module.so
else
    nginx=$(ls "$bundle"/build/nginx-*/objs/nginx)
    so=$(ls "$bundle"/build/nginx-*/objs/ngx_http_sse_auto_module.so)
fi
echo "install: cp $so <openresty prefix>/nginx/modules/ and add to the top of nginx.conf:" >&2
echo "    load_module modules/ngx_http_sse_auto_module.so;" >&2
echo "nginx=$nginx"
echo "module=$so"
