#!/usr/bin/env bash
# Prebuilt modules for the nginx builds users run, into one folder:
#
#   ngx_http_sse_auto_module-<ver>-<flavour>-<nginx version>-<arch>-linux-gnu.so   one per target
#                              and architecture (x86_64, aarch64)
#   SHA256SUMS                 sha256sum -c checks them
#   manifest.json              per file: flavour, nginx version, `nginx -v` line, the module
#                              signature nginx compares at load_module, glibc floor, sha256,
#                              the C libraries it serves (glibc and musl: one file for both)
#   manifest.txt               the same, tab-separated, for shell scripts (the installer)
#   sse-auto-install           the installer (packaging/sse-auto-install)
#
# Each .so is built by nginx's own build (--add-dynamic-module) against a --with-compat tree of
# exactly that version, configured for its architecture (aarch64: cross, with configure's test
# programs run by qemu, so the sizes it probes are aarch64's; scripts/build/cross-aarch64.sh),
# linked against glibc 2.17 (scripts/build/zig.sh), stripped, with no build
# path in it: two runs give the same bytes. The versions users run most are proven to load
# (nginx -t) here, into a --with-compat nginx binary of their version built from the same tree
# (LOAD_HERE and the OpenResty targets), or into the distribution's own nginx (the Debian
# targets: this host's when it is that release, else t/release/ does it in a root of that
# release); every vanilla file loads and streams in a binary of its version in
# make test-release-all (scripts/test/test-release-all.sh).
#
# Usage: scripts/release/release.sh [target ...]     (default: all; `scripts/release/release.sh --list`)
#   SSE_SOURCES=   the sources (default ../shared/sources; scripts/release/fetch-sources.sh
#                  fetches them from their origins); a target whose source is missing is
#                  skipped with a line saying so
#   SSE_NGINX_BUNDLE=  nginx's releases by tag (default $SSE_SOURCES/nginx.git, what
#                  fetch-sources.sh makes, else $SSE_SOURCES/nginx-release-trees.bundle)
#   RELEASE_OUT=   the folder (default target/prebuilt/sse-auto-<ver>)
#   RELEASE_WORK=  build trees (default target/release-build)
#   RELEASE_ARCHS= the architectures (default "x86_64 aarch64")
# The last line on stdout is the folder's absolute path; the log goes to stderr.
set -euo pipefail
exec 3>&1 1>&2

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
sources=${SSE_SOURCES:-$repo/../shared/sources}
nginx_bundle=${SSE_NGINX_BUNDLE:-$sources/nginx.git}
[ -n "${SSE_NGINX_BUNDLE:-}" ] || [ -d "$nginx_bundle" ] || nginx_bundle=$sources/nginx-release-trees.bundle
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
work=${RELEASE_WORK:-$repo/target/release-build}
out=${RELEASE_OUT:-$repo/target/prebuilt/sse-auto-$version}
jobs=${RELEASE_JOBS:-2}
archs=${RELEASE_ARCHS:-x86_64 aarch64}

# target | flavour | nginx version | source | who runs it
TARGETS="
nginx-1.18.0|nginx|1.18.0|bundle:release-1.18.0|Ubuntu 20.04 and 22.04, Debian 11 (stock nginx)
nginx-1.22.1|nginx|1.22.1|debian:bookworm|Debian 12 (stock nginx)
nginx-1.24.0|nginx|1.24.0|bundle:release-1.24.0|Ubuntu 24.04 (stock nginx)
nginx-1.26.3|nginx|1.26.3|debian:trixie|Debian 13 (stock nginx)
nginx-1.28.3|nginx|1.28.3|vendored|nginx.org packages and Docker images, 1.28 line
nginx-1.30.4|nginx|1.30.4|bundle:release-1.30.4|nginx.org packages and Docker images, stable
nginx-1.31.4|nginx|1.31.4|bundle:release-1.31.4|nginx.org packages and Docker images, mainline
openresty-1.27.1.2|openresty|1.27.1.2|openresty:openresty-1.27.1.2.tar.gz|1Panel, Nginx Proxy Manager (until 2026), OpenResty's packages
openresty-1.29.2.1|openresty|1.29.2.1|openresty:openresty-1.29.2.1.tar.gz|OpenResty's packages and images, 1.29.2.1
openresty-1.29.2.2|openresty|1.29.2.2|openresty:openresty-1.29.2.2.tar.gz|OpenResty's packages and images, 1.29.2.2
openresty-1.29.2.3|openresty|1.29.2.3|openresty:openresty-1.29.2.3.tar.gz|OpenResty's packages and images, 1.29.2.3
openresty-1.29.2.4|openresty|1.29.2.4|openresty:openresty-1.29.2.4.tar.gz|OpenResty's packages and images, 1.29.2.4
openresty-1.29.2.5|openresty|1.29.2.5|openresty:openresty-1.29.2.5.tar.gz|OpenResty's packages and images, 1.29.2.5; 1Panel
openresty-1.31.1.1|openresty|1.31.1.1|openresty:openresty-1.31.1.1.tar.gz|Nginx Proxy Manager, 1Panel, docker-openresty, OpenResty's packages: current
"
# every other nginx release since 1.18.0, from nginx's repository by tag (the release-trees
# bundle here, SSE_NGINX_BUNDLE=; scripts/fetch-sources.sh fetches it): nginx.org's packages
# and images move through point releases, and image tags stay pinned for years. 1.22.1 and
# 1.26.3 are the Debian targets' files: Debian's 1.26.3 tree has vanilla's structures, its
# 1.22.1 one bit more in ngx_connection_t (a backport: pipeline), after the two the module reads
# the versions whose binary is built with the module, for the load test (release.t)
LOAD_HERE="1.18.0 1.24.0 1.30.4 1.31.4"
NGINX_RELEASES="1.18.0 1.19.0 1.19.1 1.19.2 1.19.3 1.19.4 1.19.5 1.19.6 1.19.7 1.19.8 1.19.9
1.19.10 1.20.0 1.20.1 1.20.2 1.21.0 1.21.1 1.21.2 1.21.3 1.21.4 1.21.5 1.21.6 1.22.0 1.22.1 1.23.0
1.23.1 1.23.2 1.23.3 1.23.4 1.24.0 1.25.0 1.25.1 1.25.2 1.25.3 1.25.4 1.25.5 1.26.0 1.26.1 1.26.2
1.26.3 1.27.0 1.27.1 1.27.2 1.27.3 1.27.4 1.27.5 1.28.0 1.28.1 1.28.2 1.28.3 1.29.0 1.29.1 1.29.2
1.29.3 1.29.4 1.29.5 1.29.6 1.29.7 1.29.8 1.30.0 1.30.1 1.30.2 1.30.3 1.30.4 1.31.0 1.31.1 1.31.2
1.31.3 1.31.4"
for v in $NGINX_RELEASES; do
    case $TARGETS in *"|nginx|$v|"*) continue ;; esac
    case $v in
    1.20.1) who="RHEL, Rocky and Alma Linux 9 (stock nginx); nginx.org packages, 1.20 line" ;;
    *) who="nginx.org packages and images, ${v%.*} line" ;;
    esac
    TARGETS+="nginx-$v|nginx|$v|bundle:release-$v|$who"$'\n'
done

if [ "${1:-}" = --list ]; then
    printf '%s\n' "$TARGETS" | sed '/^$/d' | cut -d'|' -f1
    exit 0
fi

want=("$@")
[ ${#want[@]} -gt 0 ] || mapfile -t want < <(printf '%s\n' "$TARGETS" | sed '/^$/d' | cut -d'|' -f1)

# the glibc 2.17 link for every .so (config.make reads SSE_AUTO_LINKER)
linker=$(./scripts/build/zig.sh)
[ -n "$linker" ] || { echo "release: SSE_AUTO_GLIBC=host makes no release"; exit 1; }
for a in $archs; do
    case $a in
    x86_64 | aarch64) ;;
    *) echo "release: RELEASE_ARCHS: no architecture $a (x86_64, aarch64)"; exit 2 ;;
    esac
done
cross_env=''
case " $archs " in
*" aarch64 "*) [ "$(uname -m)" = aarch64 ] || cross_env=$(./scripts/build/cross-aarch64.sh) ;;
esac

# one cargo target directory per architecture for all trees (the crates are compiled once); no
# path of this machine in the module (panic locations): the bytes do not depend on where it is built
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export RUSTFLAGS="--remap-path-prefix=$work/src/sse-auto=/sse_auto \
--remap-path-prefix=$repo=/sse_auto --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$work=/build"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

mkdir -p "$work" "$out"
work=$(cd "$work" && pwd)
out=$(cd "$out" && pwd)

use_arch() { # arch: sets ARCH, triple, suffix (of the build folders), objcopy, CROSS (configure's
    # options) and the environment nginx's build and cargo read
    ARCH=$1 triple=$1-linux-gnu CROSS=() objcopy=objcopy
    unset NGX_CARGO RUSTC NGX_RUST_TARGET
    if [ "$1" = "$(uname -m)" ]; then
        suffix='' SSE_AUTO_LINKER=$linker
        [ "$1" = x86_64 ] || suffix=.$1
    else
        # a cross build: nginx's configure told the machine (--crossbuild) and the compiler,
        # cargo the Rust target; the Rust compiler with that target's standard library
        suffix=.$1 SSE_AUTO_LINKER=$linker-$1
        local CROSS_CC=''
        eval "export $cross_env"
        CROSS=(--crossbuild=Linux::"$1" --with-cc="$CROSS_CC")
        objcopy=$1-linux-gnu-objcopy
    fi
    export SSE_AUTO_LINKER SSE_AUTO_CARGO_TARGET_DIR=$work/cargo${suffix#.x86_64}
}

# the module's sources: the commit, not the working tree (what is released is what is
# committed; uncommitted changes are left out, and said so)
module=$repo
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    commit=$(git -C "$repo" rev-parse HEAD)
    [ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] \
        || echo "release: uncommitted changes are not in the release (building $commit)"
    module=$work/src/sse-auto
    if [ "$(cat "$module/.commit" 2>/dev/null)" != "$commit" ]; then
        rm -rf "$module" && mkdir -p "$module"
        git -C "$repo" archive --format=tar "$commit" | tar -xf - -C "$module"
        echo "$commit" >"$module/.commit"
    fi
fi
rm -f "$out"/*.so "$out/SHA256SUMS" "$out/manifest.json" "$out/manifest.txt" "$out/sse-auto-install"

# the common flags of the vanilla builds: nginx.org's packages and the distributions all use
# --with-compat, which fixes the structures and the signature whatever else is enabled
vanilla_flags=(--with-compat --with-threads --with-http_ssl_module --with-http_v2_module
    --with-http_realip_module)

apt_private() { # release: apt options of a private state with that release's index
    local dist=$1 uri dir=$work/apt-$1
    uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v security | head -n 1)
    [ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\) [a-z]* .*/\1/p' /etc/apt/sources.list \
        2>/dev/null | grep -v security | head -n 1)
    mkdir -p "$dir/lists/partial"
    echo "deb $uri $dist main" >"$dir/sources.list"
    APT_OPTS=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Architecture=amd64)
    mkdir -p "$dir/cache/archives/partial"
    [ -f "$dir/.updated" ] || { apt-get "${APT_OPTS[@]}" update -qq && touch "$dir/.updated"; }
}

# prepare a tree: sets TREE (configured copy), FLAGS, SOURCE (what it was made from), BIN
# (the binary to load into, or empty), or returns 1 with SKIP set
prepare() {
    local id=$1 flavour=$2 ver=$3 src=$4 dir=$work/$1$suffix file bundle nginx_dir
    SKIP='' BIN='' FLAGS=()
    case $src in
    vendored)
        file=$(cargo metadata --format-version 1 2>/dev/null \
            | grep -o '"manifest_path":"[^"]*nginx-src-[^"]*/Cargo.toml"' | head -n 1 \
            | sed 's/"manifest_path":"\(.*\)\/Cargo.toml"/\1/')/nginx
        [ -f "$file/src/core/nginx.h" ] || { SKIP="no nginx-src crate source"; return 1; }
        grep -q "NGINX_VERSION *\"$ver\"" "$file/src/core/nginx.h" \
            || { SKIP="the nginx-src crate is not nginx $ver"; return 1; }
        if [ ! -f "$dir/nginx-$ver/src/core/nginx.h" ]; then
            rm -rf "$dir" && mkdir -p "$dir" && cp -r "$file" "$dir/nginx-$ver"
        fi
        TREE=$dir/nginx-$ver SOURCE="nginx-src crate (nginx $ver)"
        FLAGS=("${vanilla_flags[@]}" "${CROSS[@]}")
        BIN=$TREE/objs/nginx ;;
    bundle:*)
        # a tag of nginx's repository; its tree is the release's (configure is auto/configure).
        # The binary too for the versions users run most (the load test here); the others are
        # loaded into binaries of their version by make test-release-all
        local tag=${src#bundle:}
        SSE_NGINX_BUNDLE=$nginx_bundle ./scripts/build/nginx-tag.sh "$ver" "$dir/nginx-$ver" \
            || { SKIP="no tag $tag in $nginx_bundle"; return 1; }
        grep -q "NGINX_VERSION *\"$ver\"" "$dir/nginx-$ver/src/core/nginx.h" \
            || { SKIP="tag $tag is not nginx $ver"; return 1; }
        TREE=$dir/nginx-$ver
        SOURCE="nginx $tag (tree $(git -C target/nginx-releases/git rev-parse "$tag^{tree}"))"
        FLAGS=("${vanilla_flags[@]}")
        # before 1.22 nginx calls what OpenSSL 3 deprecates
        case $ver in 1.1[89].* | 1.2[01].*) FLAGS+=(--with-cc-opt=-Wno-deprecated-declarations) ;; esac
        FLAGS+=("${CROSS[@]}")
        case " $LOAD_HERE " in *" $ver "*) BIN=$TREE/objs/nginx ;; esac ;;
    debian:*)
        # the distribution's own tree (nginx-dev: its patches applied) and its configure
        # flags (conf_flags): what dh_nginx builds Debian's module packages against
        local dist=${src#debian:} deb pkgver
        local here_dist
        here_dist=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
        if [ ! -f "$dir/tree/src/core/nginx.h" ] && [ "$here_dist" = "$dist" ] \
            && [ -f /usr/share/nginx/src/src/core/nginx.h ] \
            && [ "$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null)" = \
                 "$(dpkg-query -W -f='${Version}' nginx 2>/dev/null)" ]; then
            # this host is that release, with the nginx-dev of its own nginx: that tree
            rm -rf "$dir" && mkdir -p "$dir"
            cp -a /usr/share/nginx/src "$dir/tree"
            dpkg-query -W -f='${Version}' nginx-dev >"$dir/tree/.debian-version"
        fi
        if [ ! -f "$dir/tree/src/core/nginx.h" ]; then
            apt_private "$dist" || { SKIP="no $dist package index"; return 1; }
            rm -rf "$dir" && mkdir -p "$dir/deb"
            (cd "$dir/deb" && apt-get "${APT_OPTS[@]}" download -qq nginx-dev >/dev/null 2>&1) \
                || { SKIP="nginx-dev of $dist could not be downloaded"; return 1; }
            deb=$(ls "$dir"/deb/nginx-dev_*_all.deb | head -n 1)
            dpkg-deb -x "$deb" "$dir/x"
            mv "$dir/x/usr/share/nginx/src" "$dir/tree"
            basename "$deb" | sed 's/^nginx-dev_\([^_]*\)_.*/\1/; s/%3a/:/' >"$dir/tree/.debian-version"
            rm -rf "$dir/x"
        fi
        grep -q "NGINX_VERSION *\"$ver\"" "$dir/tree/src/core/nginx.h" \
            || { SKIP="$dist's nginx-dev is not nginx $ver"; return 1; }
        pkgver=$(cat "$dir/tree/.debian-version")
        TREE=$dir/tree SOURCE="Debian $dist nginx-dev $pkgver"
        # shellcheck disable=SC1091
        mapfile -t FLAGS < <(. "$TREE/conf_flags" && printf '%s\n' "${NGX_CONF_FLAGS[@]}")
        FLAGS+=("${CROSS[@]}")
        # the binary of that release is in its root (t/release-root): another architecture's
        # is loaded there (scripts/test/test-release.sh)
        [ "$ARCH" = "$(uname -m)" ] || return 0
        if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = "$dist" ] \
            && [ "$(dpkg-query -W -f='${Version}' nginx 2>/dev/null)" = "$pkgver" ]; then
            BIN=/usr/sbin/nginx
        fi ;;
    openresty:*)
        file=$sources/${src#openresty:}
        [ -f "$file" ] || { SKIP="no $file"; return 1; }
        bundle=$dir/openresty-$ver
        [ -x "$bundle/configure" ] || { rm -rf "$dir" && mkdir -p "$dir" && tar -xzf "$file" -C "$dir"; }
        SOURCE=$(basename "$file")
        mapfile -t FLAGS < <(grep -v -e '^#' -e '^$' scripts/build/openresty.flags)
        # a cross build: OpenResty's configure gives --with-cc to LuaJIT (whose build tools,
        # built by that compiler, run through qemu) and the rest to nginx's
        FLAGS+=(--with-compat --prefix="$dir/prefix" "${CROSS[@]}")
        # OpenResty's configure patches and configures bundle/nginx-*; its make builds the
        # binary and the module (scripts/build/openresty.sh)
        nginx_dir=$(ls -d "$bundle"/bundle/nginx-[0-9]*)
        TREE=$(ls -d "$bundle"/build 2>/dev/null || echo "$bundle/build")/$(basename "$nginx_dir")
        BIN=$dir/prefix/nginx/sbin/nginx ;;
    esac
}

build() { # id flavour: builds TREE with FLAGS, leaves objs/ngx_http_sse_auto_module.so
    local id=$1 flavour=$2 stamp bundle
    if [ "$flavour" = openresty ]; then
        bundle=$(dirname "$(dirname "$TREE")")
        OPENRESTY_JOBS=$jobs "$module/scripts/build/openresty.sh" "$bundle" "${FLAGS[@]}" >/dev/null
        return
    fi
    stamp=$(printf '%s\n' "${FLAGS[@]}" "module=$module" "linker=$SSE_AUTO_LINKER" "rustflags=$RUSTFLAGS" \
        "rust-target=${NGX_RUST_TARGET:-}")
    (
        cd "$TREE"
        if [ ! -f objs/Makefile ] || [ "$(cat objs/release.flags 2>/dev/null)" != "$stamp" ] \
            || [ "$module/config" -nt objs/Makefile ] || [ "$module/config.make" -nt objs/Makefile ]; then
            configure=./configure
            [ -x "$configure" ] || configure=./auto/configure   # the nginx-src crate's tree
            "$configure" "${FLAGS[@]}" --add-dynamic-module="$module" >configure.log 2>&1 \
                || { tail -n 30 configure.log; exit 1; }
            printf '%s\n' "$stamp" >objs/release.flags
        fi
        # the binary too where it is the load test's (Debian's trees: the module only)
        if [ -n "$BIN" ] && [ "$BIN" = "$TREE/objs/nginx" ]; then
            make -j"$jobs" >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
        else
            make -j"$jobs" -f objs/Makefile modules >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
        fi
    )
}

load_test() { # binary so: nginx -t with the module loaded, in a temporary prefix
    local bin=$1 so=$2 tmp rc=0
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    {
        echo "load_module $so;"
        [ "$(id -u)" -ne 0 ] || echo "user $(id -un) $(id -gn);"
        echo "pid $tmp/nginx.pid;"
        echo "error_log $tmp/error.log;"
        echo "events { }"
        echo "http { client_body_temp_path $tmp/b; proxy_temp_path $tmp/p; fastcgi_temp_path $tmp/f;"
        echo "  uwsgi_temp_path $tmp/u; scgi_temp_path $tmp/s; access_log off; sse_auto on; }"
    } >"$tmp/nginx.conf"
    mkdir -p "$tmp/logs"
    "$bin" -t -p "$tmp/" -c "$tmp/nginx.conf" >"$tmp/out" 2>&1 || rc=1
    grep -q 'test is successful' "$tmp/out" || rc=1
    [ $rc -eq 0 ] || sed 's/^/    /' "$tmp/out"
    rm -rf "$tmp"
    return $rc
}

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

entries=() lines=() skipped=() built_archs=()
for a in $archs; do
use_arch "$a"
for id in "${want[@]}"; do
    row=$(printf '%s\n' "$TARGETS" | awk -F'|' -v id="$id" '$1 == id')
    [ -n "$row" ] || { echo "release: unknown target $id (scripts/release/release.sh --list)"; exit 2; }
    IFS='|' read -r _ flavour ver src who <<<"$row"
    if ! prepare "$id" "$flavour" "$ver" "$src"; then
        echo "release: SKIPPED $id ($ARCH): $SKIP"
        skipped+=("$id ($ARCH): $SKIP")
        continue
    fi
    start=$SECONDS
    echo "release: $id ($ARCH) from $SOURCE"
    build "$id" "$flavour" || { echo "release: $id: build failed"; exit 1; }
    # the Rust view of the tree's structures (nginx-sys' bindings), kept beside the build: two
    # trees whose bindings differ only in their version strings have the same structures
    bindings=$(ls -t "$SSE_AUTO_CARGO_TARGET_DIR"/${NGX_RUST_TARGET:+$NGX_RUST_TARGET/}release/build/nginx-sys-*/out/bindings.rs \
        2>/dev/null | head -n 1)
    [ -z "$bindings" ] || cp "$bindings" "$work/$id$suffix.bindings.rs"
    so=$TREE/objs/ngx_http_sse_auto_module.so
    [ -f "$so" ] || { echo "release: $id: no $so"; exit 1; }
    name=ngx_http_sse_auto_module-$version-$flavour-$ver-$triple.so
    # debug info carries the build's paths: nothing of it ships
    "$objcopy" --strip-debug --remove-section=.comment "$so" "$out/$name"
    chmod 644 "$out/$name"
    ./scripts/build/glibc-floor.sh "$out/$name" >/dev/null \
        || { ./scripts/build/glibc-floor.sh "$out/$name"; exit 1; }
    newest=$(readelf --dyn-syms -W "$out/$name" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    # musl too (Alpine): the module is no_std, so it may name no library but those musl's loader
    # takes as itself (libc, libdl, ...); glibc's own loader or libgcc_s would not load there
    alien=$(readelf -d "$out/$name" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' \
        | grep -v -E '^lib(c|dl|m|pthread|rt|util|xnet)\.so(\.[0-9]+)*$' | tr '\n' ' ' || true)
    [ -z "$alien" ] || { echo "release: $id: $name needs ${alien% }, which musl has not"; exit 1; }
    # the signature nginx compares: "<ptr size>,<sig_atomic_t size>,<time_t size>,<bits>"
    sig=$(strings -n 20 "$out/$name" | grep -E -x '[0-9]+,[0-9]+,[0-9]+,[01]+' | head -n 1)
    [ -n "$sig" ] || { echo "release: $id: no module signature in $name"; exit 1; }
    sum=$(sha256sum "$out/$name" | cut -d' ' -f1)
    if [ "$flavour" = openresty ]; then vline="nginx version: openresty/$ver"; else vline="nginx version: nginx/$ver"; fi
    loaded=no
    if [ -n "$BIN" ]; then
        [ -x "$BIN" ] || { echo "release: $id: no binary $BIN"; exit 1; }
        load_test "$BIN" "$out/$name" || { echo "release: $id: $name does not load into $BIN"; exit 1; }
        loaded=$BIN
        echo "release: $id: loads into $BIN ($("$BIN" -v 2>&1 | tail -n 1))"
    fi
    echo "release: $id ($ARCH): $name, $(stat -c %s "$out/$name") bytes, newest glibc symbol $newest, $((SECONDS - start)) s"
    entries+=("$(printf '    {"file": %s, "target": %s, "arch": %s, "flavour": %s, "nginx_version": %s, "version_line": %s, "signature": %s, "glibc_floor": "2.17", "newest_glibc_symbol": %s, "libc": ["gnu", "musl"], "sha256": %s, "source": %s, "for": %s}' \
        "$(json_str "$name")" "$(json_str "$id")" "$(json_str "$triple")" "$(json_str "$flavour")" "$(json_str "$ver")" \
        "$(json_str "$vline")" "$(json_str "$sig")" "$(json_str "$newest")" "$(json_str "$sum")" \
        "$(json_str "$SOURCE")" "$(json_str "$who")")")
    lines+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$flavour" "$ver" "$name" "$sig" "$sum" "$vline" "$triple" gnu,musl)")
    case " ${built_archs[*]} " in *" $triple "*) ;; *) built_archs+=("$triple") ;; esac
done
done

[ ${#entries[@]} -gt 0 ] || { echo "release: nothing built"; exit 1; }
# the installer travels with the modules (README: the one command)
install -m 755 "$module/packaging/sse-auto-install" "$out/sse-auto-install"
(cd "$out" && sha256sum -- *.so sse-auto-install >SHA256SUMS)
{
    echo "{"
    echo "  \"module\": \"ngx_http_sse_auto_module\", \"version\": \"$version\","
    printf '  "architectures": [%s],\n' "$(printf '"%s", ' "${built_archs[@]}" | sed 's/, $//')"
    echo "  \"files\": ["
    for ((i = 0; i < ${#entries[@]}; i++)); do
        [ $i -lt $((${#entries[@]} - 1)) ] && echo "${entries[i]}," || echo "${entries[i]}"
    done
    echo "  ]"
    echo "}"
} >"$out/manifest.json"
{
    echo "# sse_auto $version prebuilt modules: flavour, nginx version, file, signature, sha256, nginx -v line, architecture, C libraries"
    printf '%s\n' "${lines[@]}"
} >"$out/manifest.txt"
for s in "${skipped[@]}"; do echo "release: skipped $s"; done
echo "release: ${#entries[@]} modules in $out"
echo "$out" >&3
