#!/bin/bash
# Runs the whole t/ suite against every nginx the module supports here:
#
#   vendored     nginx 1.28.3 from the nginx-src crate, module built by cargo (the cdylib)
#   nginx-build  the same source, module built by nginx's own build (--add-dynamic-module)
#   nginx-1.18   nginx 1.18.0 (Ubuntu 20.04/22.04's and Debian 11's version), nginx's own build,
#                from ../shared/sources/nginx-1.18.0.tar.gz
#   nginx-1.24   nginx 1.24.0 (Ubuntu 24.04's version), nginx's own build, from
#                ../shared/sources/nginx-1.24.0.tar.gz (SSE_SOURCES= another directory)
#   nginx-1.30   nginx 1.30.4, the stable line (nginx.org packages, the official Docker image),
#                the same way, with --with-http_v3_module
#   nginx-1.31   nginx 1.31.4, the mainline, the same way, with --with-http_v3_module
#   nginx-1.30-aarch64  nginx 1.30.4 and the module built for aarch64 (cross, as the release
#                does: scripts/build/cross-aarch64.sh), run here through qemu
#   debian       Debian bookworm's packaged /usr/sbin/nginx 1.22.1, module built against the
#                nginx-dev tree of that very package
#   trixie       nginx 1.26.3 from Debian trixie's source package, nginx's own build
#   openresty-1.27  OpenResty 1.27.1.2 (1Panel, Nginx Proxy Manager), from
#                ../shared/sources/openresty-1.27.1.2.tar.gz, configured with OpenResty's
#                packaging flags (scripts/build/openresty.flags), module by nginx's own build
#   openresty-1.29  the same with openresty-1.29.2.5.tar.gz
#   openresty-1.31  the same with openresty-1.31.1.1.tar.gz (Nginx Proxy Manager, 1Panel and
#                docker-openresty now)
#   openresty-X.Y.Z.W  the same with openresty-X.Y.Z.W.tar.gz of ../shared/sources (every
#                release there: 1.29.2.1 ... 1.29.2.4 too)
#   openresty    the same with any OpenResty source bundle: OPENRESTY_BUNDLE=<.tar.gz or dir>
#   tengine-3.1  Tengine 3.1.0 (nginx 1.24.0 core; BT/aaPanel), from
#                ../shared/sources/tengine-3.1.0.tar.gz, module by nginx's own build
#   angie-1.12   Angie 1.12.1 (nginx 1.31.2 core), from ../shared/sources/angie-1.12.1.tar.gz,
#                the same way, with ngx/nginx-sys patched for Angie (scripts/build/angie-crates.sh)
#
# Usage: scripts/test/matrix.sh [name ...]   (default: vendored nginx-build debian trixie). Needs
# root for apt on a fresh machine. Builds are kept under target/matrix: a second run only
# rebuilds what changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
work=$repo/target/matrix
mkdir -p "$work"
# read-only source bundles (OpenResty), as in ../shared/sources
sources=${SSE_SOURCES:-$repo/../shared/sources}

want=${*:-vendored nginx-build nginx-1.24 nginx-1.30 nginx-1.31 debian trixie}
results=()
failed=0

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null \
        | grep -Eq "^install ok installed ($(dpkg --print-architecture)|all)\$" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# prove with the given binary and module; extra environment as further arguments;
# suite_extra: more test directories
run_suite() {
    local name=$1 nginx=$2 module=$3
    shift 3
    local start=$SECONDS
    echo "== $name: $("$nginx" -v 2>&1 | sed 's/.*: //'), $module"
    if env "$@" TEST_NGINX_BINARY="$nginx" TEST_NGINX_GLOBALS="load_module $module;" \
        prove -I t/lib t/ ${suite_extra:-}; then
        results+=("$name: PASS ($((SECONDS - start)) s)")
    else
        results+=("$name: FAIL ($((SECONDS - start)) s)")
        failed=1
    fi
}

# A fork's nginx (OpenResty, Tengine) relinked with its core markers (the globals only that
# core defines, src/compat.rs) hidden from the dynamic symbol table: to the module, a core
# without the fork's patches, for t/sse_auto_compat.t (a fork-built module must refuse it).
# Relinking takes a second.
MARKERS="ngx_is_privileged_agent ngx_proc_exit_top_handler ngx_http_top_input_body_filter ngx_list_delete"
unmarked_nginx() {
    local tree=$1 out=$2 n cmd m
    printf '{\n  global: *;\n  local: %s;\n};\n' "$(echo $MARKERS | sed 's/ /; /g')" >"$out.map"
    # the link rule of objs/Makefile, with the version script and another output
    n=$(grep -n '$(LINK) -o objs/nginx ' "$tree/objs/Makefile" | cut -d: -f1)
    [ -n "$n" ] || { echo "no link rule for objs/nginx in $tree/objs/Makefile" >&2; return 1; }
    cmd=$(awk -v n="$n" 'NR >= n { if (sub(/\\$/, "")) line = line $0; else { print line $0; exit } }' \
          "$tree/objs/Makefile" | tr -d '\t')
    cmd=${cmd/'$(LINK) -o objs/nginx '/"cc -Wl,--version-script=$out.map -o $out "}
    (cd "$tree" && sh -c "$cmd")
    for m in $MARKERS; do
        if nm -D "$out" | grep " $m\$" >/dev/null; then
            echo "$out: $m still exported" >&2
            return 1
        fi
    done
}

# a release tarball of ../shared/sources (read-only), unpacked once under target/matrix/<entry>/;
# sets src to the tree
unpack() { # entry tarball top-folder
    local name=$1 tarball=$2
    src=$work/$name/$3
    [ -f "$src/src/core/nginx.h" ] && return 0
    [ -f "$tarball" ] || { echo "$name: no $tarball" >&2; exit 1; }
    rm -rf "${work:?}/$name"
    mkdir -p "$work/$name"
    tar -xzf "$tarball" -C "$work/$name"
}

for name in $want; do
    case $name in
    vendored)
        eval "$(./scripts/build/paths.sh)"
        run_suite vendored "$nginx" "$module"
        ;;

    nginx-build)
        eval "$(./scripts/build/nginx-build.sh)"
        run_suite nginx-build "$nginx" "$module"
        ;;

    nginx-1.18 | nginx-1.24 | nginx-1.30 | nginx-1.31)
        # release tarballs, read-only: unpacked under target/matrix/<name>/
        case $name in
        # OpenSSL 3 deprecates what 1.18 calls; 1.18 knows PCRE1 only
        nginx-1.18) version=1.18.0 flags=--with-cc-opt=-Wno-deprecated-declarations
                    apt_install libpcre3-dev ;;
        nginx-1.24) version=1.24.0 flags= ;;
        nginx-1.30) version=1.30.4 flags=--with-http_v3_module ;;
        nginx-1.31) version=1.31.4 flags=--with-http_v3_module ;;
        esac
        unpack "$name" "$sources/nginx-$version.tar.gz" "nginx-$version"
        start=$SECONDS
        # shellcheck disable=SC2086
        eval "$(./scripts/build/nginx-build.sh "$src" $flags)"
        echo "$name: built in $((SECONDS - start)) s"
        run_suite "$name" "$nginx" "$module"
        ;;

    nginx-1.[0-9][0-9].[0-9]*)
        # any release from nginx's tags (the release-trees bundle, SSE_NGINX_BUNDLE=): the
        # minor lines' entries of make test-matrix-lines
        version=${name#nginx-}
        src=$work/$name/nginx-$version
        SSE_NGINX_BUNDLE=${SSE_NGINX_BUNDLE:-$sources/nginx-release-trees.bundle} \
            ./scripts/build/nginx-tag.sh "$version" "$src"
        flags=()
        case $version in
        # OpenSSL 3 deprecates what these call; PCRE2 came in 1.21.5
        1.1[89].* | 1.20.* | 1.21.[0-4]) flags=(--with-cc-opt=-Wno-deprecated-declarations)
            apt_install libpcre3-dev ;;
        1.21.* | 1.2[2-4].*) ;;
        # HTTP/3 since 1.25.0
        *) flags=(--with-http_v3_module) ;;
        esac
        start=$SECONDS
        eval "$(./scripts/build/nginx-build.sh "$src" "${flags[@]}")"
        echo "$name: built in $((SECONDS - start)) s"
        run_suite "$name" "$nginx" "$module"
        ;;

    musl-1.[0-9][0-9].[0-9]*)
        # a musl-linked nginx of that release (Alpine's C library; the release's flags, with
        # zlib, PCRE2 and OpenSSL built for musl) and the module as the release builds it: on
        # glibc, by nginx's own build, linked against glibc 2.17 (one file serves both)
        version=${name#musl-}
        bin=$(./scripts/build/nginx-release.sh "$version" musl) \
            && so=$(./scripts/build/nginx-release.sh "$version" full module | sed -n 2p) \
            || { results+=("$name: FAIL (no build)"); failed=1; continue; }
        run_suite "$name" "$bin" "$so"
        ;;

    nginx-1.30-aarch64)
        # the suite against an aarch64 nginx and module: configure runs its test programs
        # through qemu (the sizes it probes are aarch64's), every nginx the tests start too
        eval "$(./scripts/build/cross-aarch64.sh)"
        export NGX_CARGO RUSTC NGX_RUST_TARGET
        unpack "$name" "$sources/nginx-1.30.4.tar.gz" nginx-1.30.4
        start=$SECONDS
        cross=()
        [ -z "$CROSS_CC" ] || cross=(--crossbuild=Linux::aarch64 --with-cc="$CROSS_CC")
        eval "$(SSE_AUTO_LINKER=$(./scripts/build/zig.sh)-aarch64 NGINX_BUILD_NAME=nginx-1.30.4-aarch64 \
            SSE_AUTO_CARGO_TARGET_DIR=$work/$name/cargo ./scripts/build/nginx-build.sh "$src" \
            "${cross[@]}" --with-http_v3_module)"
        unset NGX_CARGO RUSTC NGX_RUST_TARGET
        echo "$name: built in $((SECONDS - start)) s ($(readelf -h "$nginx" | sed -n 's/^ *Machine: *//p'))"
        run_suite "$name" "$nginx" "$module"
        ;;

    angie-1.12)
        # Angie 1.12.1 (nginx 1.31.2 core), nginx's own build with nginx-build.sh's flags; the
        # module's ngx and nginx-sys patched for Angie (scripts/build/angie-crates.sh)
        unpack "$name" "$sources/angie-1.12.1.tar.gz" angie-1.12.1
        start=$SECONDS
        paths=$(./scripts/build/nginx-build.sh "$src")
        eval "$paths"
        echo "$name: built in $((SECONDS - start)) s"
        suite_extra=t/selftest/ run_suite "$name" "$nginx" "$module"
        ;;

    tengine-3.1)
        # Tengine 3.1.0 (nginx 1.24.0 core; BT/aaPanel offer it), nginx's own build with
        # nginx-build.sh's flags (BT's own flags for Tengine are not published)
        unpack "$name" "$sources/tengine-3.1.0.tar.gz" tengine-3.1.0
        start=$SECONDS
        paths=$(./scripts/build/nginx-build.sh "$src")
        eval "$paths"
        echo "$name: built in $((SECONDS - start)) s"
        unmarked_nginx "$(dirname "$(dirname "$nginx")")" "$work/$name/nginx-unmarked"
        suite_extra=t/selftest/ run_suite "$name" "$nginx" "$module" \
            TEST_SSE_UNMARKED_NGINX="$work/$name/nginx-unmarked"
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
            ./scripts/build/cargo-module.sh --no-default-features --features export-modules -q
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
        eval "$(./scripts/build/nginx-build.sh "$src")"
        run_suite trixie "$nginx" "$module"
        ;;

    openresty-1.27 | openresty-1.29 | openresty-1.31 | openresty-[0-9]*.[0-9]*.[0-9]*.[0-9]* | openresty)
        case $name in
        openresty-1.27) bundle=$sources/openresty-1.27.1.2.tar.gz ;;
        openresty-1.29) bundle=$sources/openresty-1.29.2.5.tar.gz ;;
        openresty-1.31) bundle=$sources/openresty-1.31.1.1.tar.gz ;;
        openresty-[0-9]*) bundle=$sources/$name.tar.gz ;;
        *) bundle=${OPENRESTY_BUNDLE:?openresty: set OPENRESTY_BUNDLE=<openresty-X.Y.Z.W.tar.gz or dir>} ;;
        esac
        dir=$work/$name
        if [ -d "$bundle" ]; then
            src=$(cd "$bundle" && pwd)
        else
            [ -f "$bundle" ] || { echo "$name: no OpenResty bundle at $bundle" >&2; exit 1; }
            # openresty-X.Y.Z.W.tar.gz unpacks into openresty-X.Y.Z.W/
            src=$dir/$(basename "$bundle" .tar.gz)
            if [ ! -x "$src/configure" ]; then
                rm -rf "$dir"
                mkdir -p "$dir"
                tar -xzf "$bundle" -C "$dir"
                [ -x "$src/configure" ] || { echo "$name: $bundle has no $(basename "$src")/" >&2; exit 1; }
            fi
        fi
        # OpenResty's packaging flags, installed into a private prefix (its Lua libraries
        # included, which lua-nginx-module needs at startup)
        mapfile -t flags < <(grep -v -e '^#' -e '^$' scripts/build/openresty.flags)
        start=$SECONDS
        # (an assignment, so that a failed build stops here under set -e)
        paths=$(./scripts/build/openresty.sh "$src" "${flags[@]}" --prefix="$dir/prefix")
        eval "$paths"
        echo "$name: built in $((SECONDS - start)) s"
        unmarked_nginx "$(ls -d "$src"/build/nginx-[0-9]*)" "$dir/nginx-unmarked"
        # and the bundled Test::Nginx itself, which reads OpenResty's version line
        suite_extra=t/selftest/ run_suite "$name" "$nginx" "$module" \
            TEST_SSE_UNMARKED_NGINX="$dir/nginx-unmarked"
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
