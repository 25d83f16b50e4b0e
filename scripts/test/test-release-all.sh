#!/usr/bin/env bash
# Every vanilla nginx file of a release, proven in a binary of its version: for each file of
# this machine's architecture whose flavour is nginx (the Debian targets' files too: they serve
# every build of their version), a --with-compat nginx of that version is built from nginx's tag
# (scripts/build/nginx-release.sh full: the release's flags, with SSL; cached in
# target/nginx-releases/), and t/release-root/stream.t runs with it: nginx -t passes with the
# file loaded, a plain proxy_pass streams events live and the same location with
# "sse_auto off" holds them (TLS downstream: held on every version).
#
# Usage: scripts/test/test-release-all.sh [target ...]   builds those targets (default: every
#   vanilla target) with scripts/release/release.sh for this machine's architecture into
#   target/prebuilt/release-all, then tests each file
#   TEST_SSE_RELEASE=<folder>   tests the files of an existing release folder instead
# Prints one line per version and a summary; exits non-zero when any failed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

start=$SECONDS
out=${TEST_SSE_RELEASE:-}
if [ -z "$out" ]; then
    want=("$@")
    [ ${#want[@]} -gt 0 ] || mapfile -t want < <(./scripts/release/release.sh --list 2>&1 | grep '^nginx-')
    out=$(RELEASE_ARCHS=$(uname -m) RELEASE_OUT="$repo/target/prebuilt/release-all" \
        ./scripts/release/release.sh "${want[@]}")
    echo "test-release-all: ${#want[@]} targets built in $((SECONDS - start)) s: $out"
fi
[ -f "$out/manifest.txt" ] || { echo "test-release-all: no manifest.txt in $out"; exit 2; }

passed=() failed=()
while IFS=$'\t' read -r flavour ver file _ _ _ triple; do
    [ "$flavour" = nginx ] && [ "$triple" = "$(uname -m)-linux-gnu" ] || continue
    t0=$SECONDS
    if ! bin=$(./scripts/build/nginx-release.sh "$ver" full); then
        failed+=("$ver (no binary)")
        continue
    fi
    log=$repo/target/nginx-releases/$ver-full/stream.log
    if TEST_NGINX_BINARY="$bin" TEST_SSE_RELEASE_SO="$out/$file" \
        prove -v -I t/lib t/release-root/stream.t >"$log" 2>&1; then
        passed+=("$ver")
        echo "test-release-all: nginx $ver: loads and streams, control held ($((SECONDS - t0)) s)"
    else
        failed+=("$ver")
        echo "test-release-all: nginx $ver: FAILED ($log)"
        grep -E '^(not ok|#)' "$log" | head -n 12 | sed 's/^/    /'
    fi
done < <(grep -v '^#' "$out/manifest.txt")

echo "test-release-all: ${#passed[@]} passed, ${#failed[@]} failed in $((SECONDS - start)) s${failed[*]:+: ${failed[*]}}"
[ ${#passed[@]} -gt 0 ] && [ ${#failed[@]} -eq 0 ]
