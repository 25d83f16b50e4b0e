#!/usr/bin/env bash
# The module in musl-linked nginx and OpenResty (Alpine's C library; the nginx:alpine and
# OpenResty alpine images), each time the file the release makes (built on glibc, linked against
# glibc 2.17), with t/release/minimal.t: it needs no library musl lacks, nginx -t, a live
# stream and the sse_auto off control.
#
# - nginx: each MUSL_VERSIONS release, nginx-release.sh musl-nossl (no TLS), and the module as
#   nginx-release.sh <version> full module builds it;
# - OpenResty: each MUSL_OPENRESTY bundle (../shared/sources, SSE_SOURCES=) built with
#   OpenResty's packaging flags by musl-gcc (openresty.sh, OPENRESTY_LIBC=musl; installed under
#   target/musl/openresty-<version>-root for its Lua libraries), and the release's own file of
#   that version (scripts/release/release.sh openresty-<version>).
#
# Usage: scripts/test/test-musl.sh      MUSL_VERSIONS="1.30.4 1.28.3" MUSL_OPENRESTY="1.31.1.1"
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
sources=${SSE_SOURCES:-$repo/../shared/sources}
failed=()

prove_one() { # name binary module
    if TEST_NGINX_BINARY=$2 TEST_SSE_RELEASE_SO=$3 prove -I t/lib t/release/minimal.t; then
        echo "test-musl: $1: passed"
    else
        failed+=("$1")
    fi
}

for v in ${MUSL_VERSIONS-1.30.4 1.28.3}; do
    so=$(./scripts/build/nginx-release.sh "$v" full module | sed -n 2p) \
        && bin=$(./scripts/build/nginx-release.sh "$v" musl-nossl) \
        || { failed+=("nginx $v (build)"); continue; }
    prove_one "nginx $v" "$bin" "$so"
done

for v in ${MUSL_OPENRESTY-1.31.1.1}; do
    tree=$repo/target/musl/openresty-$v
    if [ ! -x "$tree/configure" ]; then
        [ -f "$sources/openresty-$v.tar.gz" ] || { failed+=("OpenResty $v (no $sources/openresty-$v.tar.gz)"); continue; }
        rm -rf "$tree" && mkdir -p "$tree"
        tar -xzf "$sources/openresty-$v.tar.gz" -C "$tree" --strip-components=1
    fi
    mapfile -t flags < <(grep -v -e '^#' -e '^$' scripts/build/openresty.flags)
    start=$SECONDS
    paths=$(OPENRESTY_LIBC=musl ./scripts/build/openresty.sh "$tree" "${flags[@]}" \
        --prefix="$tree-root") || { failed+=("OpenResty $v (build)"); continue; }
    echo "test-musl: OpenResty $v for musl built in $((SECONDS - start)) s"
    out=$(RELEASE_ARCHS=$(uname -m) RELEASE_OUT="$repo/target/prebuilt/musl-openresty" \
        ./scripts/release/release.sh "openresty-$v") || { failed+=("OpenResty $v (release file)"); continue; }
    prove_one "OpenResty $v" "$(printf '%s\n' "$paths" | sed -n 's/^nginx=//p')" \
        "$(ls "$out"/*-openresty-"$v"-"$(uname -m)"-linux-gnu.so)"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "test-musl: FAILED: ${failed[*]}"
    exit 1
fi
echo "test-musl: all passed"
