#!/usr/bin/env bash
# make test-forks: Tengine 3.1.0, vanilla nginx 1.24.0 (its nginx core) and Angie 1.12.1 built
# here with the same flags and the module (scripts/build/nginx-build.sh, cached under
# target/nginx-build/), then t/forks/: Tengine's and vanilla 1.24.0's modules refuse each
# other's core and load into their own; Angie's loader and nginx's refuse each other's modules
# (with the vendored build of make paths as the vanilla nginx); and t/module-for/tengine.t.
#
# Sources: ../shared/sources/{tengine-3.1.0,nginx-1.24.0,angie-1.12.1}.tar.gz (SSE_SOURCES=
# another folder).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
sources=${SSE_SOURCES:-$repo/../shared/sources}
work=$repo/target/forks
mkdir -p "$work"

build() { # tarball top-folder -> prints nginx= and module=
    local tarball=$sources/$1 src=$work/$2
    [ -f "$tarball" ] || { echo "test-forks: no $tarball" >&2; return 1; }
    if [ ! -f "$src/src/core/nginx.h" ]; then
        rm -rf "$src"
        tar -xzf "$tarball" -C "$work"
    fi
    ./scripts/build/nginx-build.sh "$src"
}

start=$SECONDS
tengine=$(build tengine-3.1.0.tar.gz tengine-3.1.0)
vanilla=$(build nginx-1.24.0.tar.gz nginx-1.24.0)
angie=$(build angie-1.12.1.tar.gz angie-1.12.1)
paths=$(./scripts/build/paths.sh)
echo "test-forks: built in $((SECONDS - start)) s"
get() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }
TEST_SSE_TENGINE=$(get "$tengine" nginx) TEST_SSE_TENGINE_SO=$(get "$tengine" module) \
TEST_SSE_VANILLA=$(get "$vanilla" nginx) TEST_SSE_VANILLA_SO=$(get "$vanilla" module) \
TEST_SSE_ANGIE=$(get "$angie" nginx) TEST_SSE_ANGIE_SO=$(get "$angie" module) \
TEST_SSE_VANILLA_BIN=$(get "$paths" nginx) TEST_SSE_VANILLA_BIN_SO=$(get "$paths" module) \
    prove -I t/lib t/forks/ t/module-for/tengine.t
