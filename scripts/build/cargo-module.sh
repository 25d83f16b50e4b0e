#!/bin/sh
# Builds the module's cdylib (release) with cargo, linked against glibc 2.17 (scripts/build/zig.sh):
# `cargo rustc` gives the linker to this one link only; the crates, build scripts and the
# vendored nginx are built as always. Arguments go to cargo (--message-format=json,
# --no-default-features, ...). SSE_AUTO_GLIBC=host: a plain `cargo build`.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
linker=$(./scripts/build/zig.sh)
if [ -z "$linker" ]; then
    exec cargo build --release -p ngx_http_sse_auto_module "$@"
fi
exec cargo rustc --release --lib -p ngx_http_sse_auto_module "$@" -- -C linker="$linker"
