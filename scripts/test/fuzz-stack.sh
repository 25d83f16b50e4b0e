#!/bin/sh
# The differential stream fuzzer (scripts/test/fuzz_stack.py) against the AddressSanitizer build of
# `make asan` (cached in target/asan): generated upstream responses through every upstream
# kind, location profile and client, each compared with the same case through a reference
# location, plus random configurations through `nginx -t`.
#
#   FUZZ_SEED=    the run's seed (random when empty; printed)
#   FUZZ_CASES=   at most this many stream cases (default: unlimited)
#   FUZZ_SECONDS= at most this long (default 180)
#   FUZZ_ONLY=    replay one case of FUZZ_SEED
#   FUZZ_CONFIGS= random configurations for `nginx -t` (default 300; 0 with FUZZ_ONLY)
#   FUZZ_RELOAD=  seconds between reloads while cases run (default 20; 0: none)
#   FUZZ_JSON=    write the report there
#   NGINX=        another nginx binary instead (a fork: Tengine, OpenResty), with MODULE= its
#                 module (default: ngx_http_sse_auto_module.so next to the binary)
set -eu
cd "$(dirname "$0")/../.."

if [ -n "${NGINX:-}" ]; then
    # another nginx (a fork, a distribution's): its module from MODULE=, else the one next to
    # the binary, where nginx's own build leaves it (scripts/build/nginx-build.sh, the matrix)
    nginx=$NGINX
    module=${MODULE:-$(dirname "$NGINX")/ngx_http_sse_auto_module.so}
    [ -x "$nginx" ] || { echo "fuzz-stack: NGINX=$nginx is not an executable" >&2; exit 2; }
    [ -f "$module" ] || { echo "fuzz-stack: no module at $module (set MODULE=)" >&2; exit 2; }
else
    export NGX_CFLAGS="-fsanitize=address -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1 -g -O1"
    export NGX_LDFLAGS="-fsanitize=address"
    export CARGO_TARGET_DIR=target/asan
    export ASAN_OPTIONS=detect_leaks=0

    eval "$(./scripts/build/paths.sh)"
fi

set -- --nginx "$nginx" --module "$module" --seconds "${FUZZ_SECONDS:-180}" \
    --reload-every "${FUZZ_RELOAD:-20}"
[ -n "${FUZZ_SEED:-}" ] && set -- "$@" --seed "$FUZZ_SEED"
[ -n "${FUZZ_CASES:-}" ] && set -- "$@" --cases "$FUZZ_CASES"
[ -n "${FUZZ_JSON:-}" ] && set -- "$@" --json "$FUZZ_JSON"
if [ -n "${FUZZ_ONLY:-}" ]; then
    set -- "$@" --only "$FUZZ_ONLY" --verbose --reload-every "${FUZZ_RELOAD:-0}"
else
    set -- "$@" --config-cases "${FUZZ_CONFIGS:-300}"
fi
exec python3 scripts/test/fuzz_stack.py "$@"
