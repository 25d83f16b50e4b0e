#!/bin/bash
# Runs the whole t/ suite against every nginx the module supports here:
#
#   vendored     nginx 1.28.3 from the nginx-src crate, module built by cargo (the cdylib)
#   nginx-build  the same source, module built by nginx's own build (--add-dynamic-module)
#   nginx-1.24   nginx 1.24.0 (Ubuntu 24.04's version), nginx's own build, from
#                ../shared/sources/nginx-1.24.0.tar.gz (SSE_SOURCES= another directory)
#   nginx-1.30   nginx 1.30.4, the stable line (nginx.org packages, the official Docker image),
#                the same way, with --with-http_v3_module
#   nginx-1.31   nginx 1.31.4, the mainline, the same way, with --with-http_v3_module
#   debian       Debian bookworm's packaged /usr/sbin/nginx 1.22.1, module built against the
#                nginx-dev tree of that very package
#   trixie       nginx 1.26.3 from Debian trixie's source package, nginx's own build
#
# Usage: scripts/matrix.sh [name ...]   (default: all). Needs root for apt on a fresh machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=$repo/target/matrix
mkdir -p "$work"

want=${*:-vendored nginx-build nginx-1.24 nginx-1.30 nginx-1.31 debian trixie}
results=()
failed=0

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# prove with the given binary and module; extra environment as further arguments
run_suite() {
    local name=$1 nginx=$2 module=$3
    shift 3
    echo "== $name: $("$nginx" -v 2>&1 | sed 's/.*: //'), $module"
    if env "$@" TEST_NGINX_BINARY="$nginx" TEST_NGINX_GLOBALS="load_module $module;" \
        prove -I t/lib t/; then
        results+=("$name: PASS")
    else
        results+=("$name: FAIL")
        failed=1
    fi
}

for name in $want; do
    case $name in
    vendored)
        eval "$(./scripts/paths.sh)"
        run_suite vendored "$nginx" "$module"
        ;;

    nginx-build)
        eval "$(./scripts/nginx-build.sh)"
        run_suite nginx-build "$nginx" "$module"
        ;;

    nginx-1.24 | nginx-1.30 | nginx-1.31)
        # release tarballs, read-only: unpacked under target/matrix/<name>/
        case $name in
        nginx-1.24) version=1.24.0 flags= ;;
        nginx-1.30) version=1.30.4 flags=--with-http_v3_module ;;
        nginx-1.31) version=1.31.4 flags=--with-http_v3_module ;;
        esac
        tarball=${SSE_SOURCES:-$repo/../shared/sources}/nginx-$version.tar.gz
        src=$work/$name/nginx-$version
        if [ ! -f "$src/src/core/nginx.h" ]; then
            [ -f "$tarball" ] || { echo "$name: no $tarball" >&2; exit 1; }
            rm -rf "${work:?}/$name"
            mkdir -p "$work/$name"
            tar -xzf "$tarball" -C "$work/$name"
        fi
        start=$SECONDS
        # shellcheck disable=SC2086
        eval "$(./scripts/nginx-build.sh "$src" $flags)"
        echo "$name: built in $((SECONDS - start)) s"
        run_suite "$name" "$nginx" "$module"
        ;;

    debian)
        # the stock binary loads its own dynamic modules: install them, as nginx-full would
        apt_install nginx nginx-dev libnginx-mod-http-geoip libnginx-mod-http-image-filter \
            libnginx-mod-http-perl libnginx-mod-http-xslt-filter libnginx-mod-mail \
            libnginx-mod-stream libnginx-mod-stream-geoip
        tree=$work/debian-src
        if [ ! -f "$tree/objs/Makefile" ]; then
            rm -rf "$tree"
            cp -r /usr/share/nginx/src "$tree"
            (cd "$tree" && . ./conf_flags && ./configure "${NGX_CONF_FLAGS[@]}" >configure.log)
        fi
        NGINX_BUILD_DIR=$tree/objs CARGO_TARGET_DIR=$work/debian-target \
            cargo build --release --no-default-features --features export-modules -q
        run_suite debian /usr/sbin/nginx \
            "$work/debian-target/release/libngx_http_sse_auto_module.so" \
            TEST_NGINX_MODULES=/usr/lib/nginx/modules
        ;;

    trixie)
        src=$(ls -d "$work"/trixie/nginx-1.26.* 2>/dev/null | head -n 1 || true)
        if [ -z "$src" ]; then
            apt_install dpkg-dev
            # trixie's source index, in a private apt state: the system's sources stay as
            # they are. The mirror is the one this machine already uses for bookworm.
            uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
                      2>/dev/null | head -n 1)
            [ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\) bookworm .*/\1/p' \
                                   /etc/apt/sources.list | head -n 1)
            mkdir -p "$work/trixie/lists/partial"
            echo "deb-src $uri trixie main" >"$work/trixie/sources.list"
            apt_opts=(-o Dir::Etc::SourceList="$work/trixie/sources.list"
                      -o Dir::Etc::SourceParts=/dev/null
                      -o Dir::State::Lists="$work/trixie/lists")
            apt-get "${apt_opts[@]}" update -qq
            if ! (cd "$work/trixie" && apt-get "${apt_opts[@]}" source -qq nginx \
                      >source.log 2>&1); then
                # The mirror can list a Debian revision whose packaging files it no longer
                # serves (seen: 1.26.3-3+deb13u10, .dsc 404). The upstream tarball, checked
                # against the index by apt, is all nginx's build needs.
                orig=$(ls "$work"/trixie/nginx_1.26.*.orig.tar.gz 2>/dev/null | head -n 1 || true)
                if [ -z "$orig" ]; then
                    tail -n 5 "$work/trixie/source.log" >&2
                    echo "trixie: apt-get source nginx failed" >&2
                    exit 1
                fi
                echo "trixie: Debian's packaging files are not served; building $(basename "$orig")" >&2
                tar -xzf "$orig" -C "$work/trixie"
            fi
            src=$(ls -d "$work"/trixie/nginx-1.26.* | head -n 1)
        fi
        eval "$(./scripts/nginx-build.sh "$src")"
        run_suite trixie "$nginx" "$module"
        ;;

    *)
        echo "unknown matrix entry: $name" >&2
        exit 2
        ;;
    esac
done

echo
printf '%s\n' "${results[@]}"
[ $failed -eq 0 ] && echo "matrix: all passed" || echo "matrix: FAILED"
exit $failed
