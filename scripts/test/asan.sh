#!/bin/sh
# The whole t/ suite against nginx built with AddressSanitizer and NGX_DEBUG_PALLOC (every
# pool allocation its own malloc, so ASan sees pool memory too), with the module loaded.
# Test::Nginx fails "no sanitizer errors" on any ASan report in a test's error log.
#
# The module's Rust code is not instrumented (that needs a nightly compiler), but its memory
# comes from the same interposed malloc, and every nginx structure it touches is checked.
set -eu
cd "$(dirname "$0")/../.."

export NGX_CFLAGS="-fsanitize=address -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1 -g -O1"
export NGX_LDFLAGS="-fsanitize=address"
export CARGO_TARGET_DIR=target/asan
# nginx exits with memory still allocated by design; leaks are not what this looks for
export ASAN_OPTIONS=detect_leaks=0

eval "$(./scripts/build/paths.sh)"
echo "ASan nginx: $nginx"
TEST_NGINX_BINARY=$nginx TEST_NGINX_GLOBALS="load_module $module;" prove -I t/lib t/
