#!/usr/bin/env bash
# Builds ngx_http_sse_auto_module.so for a given nginx binary and proves that it loads into it.
#
# Usage: scripts/build/module-for.sh <nginx binary> [source]     (make module-for NGINX=... NGINX_SRC=...)
#
#   <nginx binary>  the nginx that will load the module: /usr/sbin/nginx, OpenResty's
#                   /usr/local/openresty/nginx/sbin/nginx, ...
#   [source]        the source of exactly that nginx: an nginx-X.Y.Z.tar.gz,
#                   openresty-X.Y.Z.W.tar.gz or tengine-X.Y.Z.tar.gz, or an unpacked tree. Not needed for Debian's and
#                   Ubuntu's own nginx when nginx-dev is installed (its tree is used).
#
# What it does:
#   1. reads `nginx -V`: the version (nginx, OpenResty, or a fork's line: Tengine), the
#      configure arguments, --with-compat;
#   2. takes the source given, or Debian's tree (nginx-dev's /usr/share/nginx/src) for a
#      Debian-packaged binary, or says which tarball to download;
#   3. checks the source is of the binary's version and kind (nginx, OpenResty, Tengine);
#   4. configures a private copy (under target/module-for/) with the binary's own arguments and
#      this repository as a dynamic module, and builds only the module (make modules). The
#      binary's other dynamic modules (--with-X=dynamic, --add-dynamic-module) are left out,
#      and so are third-party static modules (--add-module) when the binary has --with-compat:
#      they do not change the structures a dynamic module sees. Without --with-compat the
#      arguments must be reproduced as they are, or the build refuses;
#   5. runs the binary's `nginx -t` on a temporary configuration that loads the module (its
#      own prefix, error log and temp paths in a temporary directory; nothing of the
#      system's configuration is read or changed);
#   6. prints the absolute path of the .so as its last line (stdout); all else goes to stderr.
#
# Needs: a C compiler and make, cargo (Rust 1.81+), libclang (bindgen), and the development
# headers of the libraries the binary was configured with (PCRE2, zlib, OpenSSL, ...).
# MODULE_FOR_DIR= another build directory; MODULE_FOR_JOBS= make's jobs (default 2).
set -euo pipefail

exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/../.." && pwd)

die() {
    echo "module-for: $*"
    exit 1
}

nginx=${1:-}
src_arg=${2:-}
[ -n "$nginx" ] || die "usage: $0 <nginx binary> [nginx or OpenResty source: .tar.gz or directory]"
if [ "${nginx#*/}" = "$nginx" ]; then
    nginx=$(command -v "$nginx") || die "no $1 in PATH"
fi
[ -x "$nginx" ] || die "$nginx is not an executable"
nginx=$(cd "$(dirname "$nginx")" && pwd)/$(basename "$nginx")

# 1. nginx -V

V=$("$nginx" -V 2>&1) || die "$nginx -V failed: $V"
verline=$(printf '%s\n' "$V" | sed -n 's/^nginx version: //p' | head -n 1)
case $verline in
nginx/[0-9]*) kind=nginx; version=${verline#nginx/} ;;
openresty/[0-9]*) kind=openresty; version=${verline#openresty/} ;;
*) die "$nginx -V: no 'nginx version: nginx/X.Y.Z' or 'openresty/X.Y.Z.W' line" ;;
esac
version=${version%% *}
# a fork on nginx's core says its own version first: "Tengine version: Tengine/3.1.0",
# "Angie version: Angie/1.12.1"
fork=$(printf '%s\n' "$V" | sed -n 's/^\(Tengine\|Angie\) version: \([A-Za-z]*\/[0-9.]*\).*/\2/p' | head -n 1)
case $fork in
Tengine/*) kind=tengine ;;
Angie/*) kind=angie ;;
esac
args=$(printf '%s\n' "$V" | sed -n 's/^configure arguments: //p' | head -n 1)

# the arguments as nginx's configure saw them: it prints each one, a value with a blank in
# it as --opt='value'; split them as the shell would, without running anything
parsed=()
word='' inword=0 quote=''
for ((i = 0; i < ${#args}; i++)); do
    c=${args:i:1}
    if [ -n "$quote" ]; then
        if [ "$c" = "$quote" ]; then quote=''; else word+=$c; fi
    elif [ "$c" = "'" ] || [ "$c" = '"' ]; then
        quote=$c inword=1
    elif [ "$c" = '\' ] && [ $((i + 1)) -lt ${#args} ]; then
        i=$((i + 1)); word+=${args:i:1}; inword=1
    elif [ "$c" = ' ' ] || [ "$c" = $'\t' ]; then
        [ $inword -eq 1 ] && parsed+=("$word")
        word='' inword=0
    else
        word+=$c inword=1
    fi
done
[ -z "$quote" ] || die "cannot read the configure arguments of $nginx -V (unbalanced quote)"
[ $inword -eq 1 ] && parsed+=("$word")

compat=0
for a in "${parsed[@]}"; do
    [ "$a" = --with-compat ] && compat=1
    [ "$a" = --without-http ] && die "$nginx was built --without-http: nothing to load an HTTP module into"
done

echo "binary:  $nginx: ${fork:+$fork on }$verline, $([ $compat -eq 1 ] && echo with || echo WITHOUT) --with-compat"

# the flags for the module build: the binary's own, less its other dynamic modules
flags=() dropped=() system_libs=()
for a in "${parsed[@]}"; do
    case $a in
    --add-dynamic-module=* | --with-*=dynamic)
        dropped+=("$a") ;;
    --with-pcre=* | --with-zlib=* | --with-openssl=* | --with-libatomic=*)
        # a library's source tree the binary was linked with; when it is not here, the
        # system's library is used (its headers, for the few declarations the module sees)
        dir=${a#*=}
        if [ -d "$dir" ]; then
            flags+=("$a")
        else
            lib=${a%%=*}
            system_libs+=("${lib#--with-}")
            [ "$lib" = --with-pcre ] && flags+=(--with-pcre)
            [ "$lib" = --with-libatomic ] && flags+=(--with-libatomic)
        fi ;;
    --with-pcre-opt=* | --with-zlib-opt=* | --with-openssl-opt=*)
        lib=${a%%-opt=*}
        keep=1
        for l in "${parsed[@]}"; do
            case $l in "$lib"=*) [ -d "${l#*=}" ] || keep=0 ;; esac
        done
        [ $keep -eq 1 ] && flags+=("$a") ;;
    --add-module=*)
        if [ $compat -eq 1 ]; then
            dropped+=("$a")
        else
            dir=${a#--add-module=}
            [ -d "$dir" ] || die "$nginx was built without --with-compat and with $a, which is" \
                "not here: its build cannot be reproduced, and without --with-compat a module" \
                "must be built exactly as the binary was. Rebuild nginx with --with-compat" \
                "(as distributions do), or make $dir available at that path."
            flags+=("$a")
        fi ;;
    *)
        flags+=("$a") ;;
    esac
done
[ ${#dropped[@]} -eq 0 ] || echo "left out (other modules, not part of this build): ${dropped[*]}"
[ ${#system_libs[@]} -eq 0 ] || echo "the binary was linked with source trees of ${system_libs[*]} that" \
    "are not here: the system's are used (install their -dev packages)"

# 2. the source

if [ $kind = openresty ]; then
    url="https://openresty.org/download/openresty-$version.tar.gz"
elif [ $kind = tengine ]; then
    url="https://tengine.taobao.org/download/tengine-${fork#Tengine/}.tar.gz"
elif [ $kind = angie ]; then
    url="https://download.angie.software/files/angie-${fork#Angie/}.tar.gz"
else
    url="https://nginx.org/download/nginx-$version.tar.gz"
fi

debian_tree() {
    # the binary belongs to a Debian package built from the nginx source package, and
    # nginx-dev's tree is of the same version
    command -v dpkg-query >/dev/null || return 1
    local owner pkgver
    owner=$(dpkg-query -S "$(readlink -f "$nginx")" 2>/dev/null | head -n 1 | cut -d: -f1) \
        || return 1
    [ -n "$owner" ] || return 1
    [ "$(dpkg-query -W -f='${source:Package}' "$owner" 2>/dev/null)" = nginx ] || return 1
    pkgver=$(dpkg-query -W -f='${Version}' "$owner")
    echo "Debian package $owner $pkgver"
    if [ ! -f /usr/share/nginx/src/src/core/nginx.h ] \
        || [ "$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null)" != "$pkgver" ]; then
        die "$nginx is Debian's nginx $pkgver: install its tree, apt-get install nginx-dev=$pkgver," \
            "and run this again (or give the source of that package as the second argument)"
    fi
    src=/usr/share/nginx/src
}

work=${MODULE_FOR_DIR:-$repo/target/module-for}
mkdir -p "$work"
work=$(cd "$work" && pwd)

src=
if [ -n "$src_arg" ]; then
    [ -e "$src_arg" ] || die "no source at $src_arg"
    if [ -f "$src_arg" ]; then
        # unpacked once, next to the builds; a tarball holds one top directory
        tarball=$(cd "$(dirname "$src_arg")" && pwd)/$(basename "$src_arg")
        top=$( (tar -tzf "$tarball" 2>/dev/null || true) | head -n 1 | cut -d/ -f1)
        [ -n "$top" ] || die "$src_arg: not a .tar.gz of a source tree"
        src=$work/src/$top
        if [ ! -e "$src/.unpacked" ]; then
            rm -rf "$src"
            mkdir -p "$work/src"
            tar -xzf "$tarball" -C "$work/src"
            touch "$src/.unpacked"
        fi
    else
        src=$(cd "$src_arg" && pwd)
    fi
elif debian_tree; then
    :
else
    die "no source for $verline. Download exactly this version, $url," \
        "and give it as the second argument (make module-for NGINX=$nginx NGINX_SRC=<the .tar.gz>)"
fi

# an OpenResty bundle: its patched nginx tree is bundle/nginx-X.Y.Z
tree=$src
if [ -d "$src/bundle" ]; then
    tree=$(ls -d "$src"/bundle/nginx-[0-9]* 2>/dev/null | head -n 1)
    [ -n "$tree" ] || die "$src: an OpenResty bundle without bundle/nginx-*"
fi
[ -f "$tree/src/core/nginx.h" ] || die "$src is not an nginx or OpenResty source tree"

# 3. same kind, same version

h=$tree/src/core/nginx.h
src_nginx=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$h")
ver_def=$(sed -n 's/^#define NGINX_VER  *\(.*\)$/\1/p' "$h" | head -n 1)
case $ver_def in
*openresty*)
    # #define NGINX_VER "openresty/" NGINX_VERSION ".2"
    suffix=$(printf '%s' "$ver_def" | sed -n 's/.*NGINX_VERSION *"\([^"]*\)".*/\1/p')
    src_ver=openresty/$src_nginx$suffix ;;
*) src_ver=nginx/$src_nginx ;;
esac
# the fork's own version, from its headers: Tengine's nginx.h, Angie's angie.h
src_fork=
if grep -q '^#define TENGINE_VERSION' "$h"; then
    src_fork=Tengine/$(sed -n 's/^#define TENGINE_VERSION *"\(.*\)"/\1/p' "$h")
elif [ -f "$tree/src/core/angie.h" ]; then
    src_fork=Angie/$(sed -n 's/^#define ANGIE_VERSION *"\(.*\)"/\1/p' "$tree/src/core/angie.h")
fi
[ "$src_ver" = "$verline" ] && [ "$src_fork" = "$fork" ] \
    || die "version mismatch: the source $src is ${src_fork:+$src_fork on }$src_ver, the binary" \
    "$nginx is ${fork:+$fork on }$verline. A module loads only into the nginx of exactly its" \
    "source's version and kind (vanilla nginx, OpenResty, Tengine); download $url."
echo "source:  $src (${src_fork:+$src_fork, }$src_ver)"

# 4. configure a private copy with the binary's arguments, build the module only

# one cargo target directory for every build made here: the crates are compiled once
export SSE_AUTO_CARGO_TARGET_DIR=${SSE_AUTO_CARGO_TARGET_DIR:-$work/cargo}
# the .so loads on glibc 2.17 and newer, wherever it is built (config.make, scripts/build/zig.sh)
if [ -z "${SSE_AUTO_LINKER+set}" ]; then
    SSE_AUTO_LINKER=$("$repo/scripts/build/zig.sh") || die "no linker for the glibc 2.17 floor (above)"
fi
export SSE_AUTO_LINKER
# Angie: the module with ngx and nginx-sys patched for Angie (scripts/build/angie-crates.sh), built in
# a target directory of its own (the patched crates are other crates to cargo)
moddir=$repo
if [ $kind = angie ]; then
    moddir=$("$repo/scripts/build/angie-crates.sh") || die "could not prepare the crates for Angie (above)"
    SSE_AUTO_CARGO_TARGET_DIR=$work/cargo-angie
fi
stamp=$(printf '%s\n' "$src" "${flags[@]}" --add-dynamic-module="$moddir" "$SSE_AUTO_CARGO_TARGET_DIR" \
    "linker=$SSE_AUTO_LINKER")
key=$(printf '%s' "$stamp" | cksum | cut -d' ' -f1)
build=$work/$(printf '%s' "${fork:-$verline}" | tr / -)-$key
if [ ! -f "$build/src/core/nginx.h" ]; then
    rm -rf "$build"
    mkdir -p "$build"
    cp -a "$tree/." "$build/"
fi

cd "$build"
configure=./configure
[ -x "$configure" ] || configure=./auto/configure
if [ ! -f objs/Makefile ] || [ ! -f objs/module-for.flags ] \
    || [ "$(cat objs/module-for.flags)" != "$stamp" ] \
    || [ "$moddir/config" -nt objs/Makefile ] || [ "$moddir/config.make" -nt objs/Makefile ]; then
    echo "configure: ${flags[*]} --add-dynamic-module=$moddir"
    "$configure" "${flags[@]}" --add-dynamic-module="$moddir" >configure.log 2>&1 \
        || { tail -n 30 configure.log; die "configure failed (all of it: $build/configure.log)"; }
    printf '%s\n' "$stamp" >objs/module-for.flags
fi
echo "building the module in $build"
make -j"${MODULE_FOR_JOBS:-2}" -f objs/Makefile modules >make.log 2>&1 \
    || { tail -n 40 make.log; die "build failed (all of it: $build/make.log)"; }
so=$build/objs/ngx_http_sse_auto_module.so
[ -f "$so" ] || die "the build made no $so"

# 5. nginx -t with the module loaded, everything in a temporary directory

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
{
    echo "load_module $so;"
    # workers are not started by nginx -t, but as root the user must exist; the binary's
    # compiled-in one (--user=nginx) may not
    [ "$(id -u)" -ne 0 ] || echo "user $(id -un) $(id -gn);"
    echo "pid $tmp/nginx.pid;"
    echo "error_log $tmp/error.log;"
    echo "events { }"
    echo "http {"
    echo "    client_body_temp_path $tmp/client_body_temp;"
    for m in proxy fastcgi uwsgi scgi; do
        case " ${parsed[*]} " in *" --without-http_${m}_module "* | *" --without-http "*) ;;
        *) echo "    ${m}_temp_path $tmp/${m}_temp;" ;;
        esac
    done
    echo "    access_log off;"
    echo "    sse_auto on;"
    echo "}"
} >"$tmp/nginx.conf"

if ! out=$("$nginx" -t -p "$tmp/" -e "$tmp/error.log" -c "$tmp/nginx.conf" 2>&1) \
    || ! printf '%s\n' "$out" | grep -q 'test is successful'; then
    printf '%s\n' "$out"
    die "$so does not load into $nginx (nginx -t above)"
fi
printf '%s\n' "$out" | sed 's/^/nginx -t: /'
echo "loads into $nginx: add 'load_module $so;' (or a copy of it) at the top of its nginx.conf"

echo "$so" >&3
