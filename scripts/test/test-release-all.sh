#!/usr/bin/env bash
# Every vanilla nginx file of a release, proven in a binary of its version: for each file of
# this machine's architecture whose flavour is nginx (the Debian targets' files too: they serve
# every build of their version), a --with-compat nginx of that version is built from nginx's tag
# (scripts/build/nginx-release.sh full: the release's flags, with SSL; cached in
# target/nginx-releases/), and t/release-root/stream.t runs with it: nginx -t passes with the
# file loaded, a plain proxy_pass streams events live and the same location with
# "sse_auto off" holds them (TLS downstream: held on every version). Then the same file in a
# musl-linked nginx of that version (nginx-release.sh musl-nossl: Alpine's C library, zlib and
# PCRE built for musl, no TLS) with t/release/minimal.t: the file needs no library musl lacks,
# nginx -t, live, and the control (a close-delimited upstream, held for every client).
#
# Usage: scripts/test/test-release-all.sh [target ...]   builds those targets (default: every
#   vanilla target) with scripts/release/release.sh for this machine's architecture into
#   target/prebuilt/release-all, then tests each file
#   TEST_SSE_RELEASE=<folder>   tests the files of an existing release folder instead
#   TEST_RELEASE_LIBC="gnu musl" (default) the C libraries to prove each file with
#   TEST_RELEASE_ARCH=aarch64   the aarch64 files instead, on an x86_64 machine: each in a
#                  cross-built aarch64 nginx of its version, glibc- and musl-linked, run
#                  through qemu (folder target/prebuilt/release-all.aarch64)
# Prints one line per version and a summary; exits non-zero when any failed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

start=$SECONDS
arch=${TEST_RELEASE_ARCH:-$(uname -m)}
suffix=
if [ "$arch" != "$(uname -m)" ]; then
    suffix=.$arch
    export NGINX_RELEASE_ARCH=$arch
fi
out=${TEST_SSE_RELEASE:-}
if [ -z "$out" ]; then
    want=("$@")
    [ ${#want[@]} -gt 0 ] || mapfile -t want < <(./scripts/release/release.sh --list 2>&1 | grep '^nginx-')
    out=$(RELEASE_ARCHS=$arch RELEASE_OUT="$repo/target/prebuilt/release-all$suffix" \
        ./scripts/release/release.sh "${want[@]}")
    echo "test-release-all: ${#want[@]} targets built in $((SECONDS - start)) s: $out"
fi
[ -f "$out/manifest.txt" ] || { echo "test-release-all: no manifest.txt in $out"; exit 2; }

libcs=${TEST_RELEASE_LIBC:-gnu musl}
passed=() failed=()
# <version> <libc> <variant> <test> <file>: one file in one binary
prove_one() {
    local ver=$1 libc=$2 variant=$3 test=$4 file=$5 t0=$SECONDS bin log
    if ! bin=$(./scripts/build/nginx-release.sh "$ver" "$variant"); then
        failed+=("$ver/$libc (no binary)")
        return
    fi
    log=$repo/target/nginx-releases/$ver-$variant$suffix/test.log
    if TEST_NGINX_BINARY="$bin" TEST_SSE_RELEASE_SO="$file" \
        prove -v -I t/lib "$test" >"$log" 2>&1; then
        passed+=("$ver/$libc")
        echo "test-release-all: nginx $ver, $arch, $libc: loads and streams, control held ($((SECONDS - t0)) s)"
    else
        failed+=("$ver/$libc")
        echo "test-release-all: nginx $ver, $arch, $libc: FAILED ($log)"
        grep -E '^(not ok|#)' "$log" | head -n 12 | sed 's/^/    /'
    fi
}

while IFS=$'\t' read -r flavour ver file _ _ _ triple _; do
    [ "$flavour" = nginx ] && [ "$triple" = "$arch-linux-gnu" ] || continue
    for libc in $libcs; do
        case $libc in
        gnu) prove_one "$ver" "$libc" full t/release-root/stream.t "$out/$file" ;;
        musl) prove_one "$ver" "$libc" musl-nossl t/release/minimal.t "$out/$file" ;;
        *) echo "test-release-all: TEST_RELEASE_LIBC: no C library $libc (gnu, musl)"; exit 2 ;;
        esac
    done
done < <(grep -v '^#' "$out/manifest.txt")

echo "test-release-all: ${#passed[@]} passed (version/C library), ${#failed[@]} failed in $((SECONDS - start)) s${failed[*]:+: ${failed[*]}}"
[ ${#passed[@]} -gt 0 ] && [ ${#failed[@]} -eq 0 ]
