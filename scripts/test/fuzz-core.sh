#!/bin/sh
# Coverage-guided fuzzing of sse-auto-core's parsers (fuzz/: the media-type matcher, the
# event-boundary tracker, the type-list parser) with cargo-fuzz and libFuzzer, each target
# checked against the reference implementations.
#
#   FUZZ_CORE_SECONDS=60       per target
#   FUZZ_CORE_SANITIZER=none   sse-auto-core has no unsafe code: libFuzzer's coverage alone,
#                              which works on the stable toolchain. "address" adds ASan; its
#                              -Zsanitizer flag needs a nightly compiler (or RUSTC_BOOTSTRAP=1,
#                              which this script sets for it).
#
# cargo-fuzz is installed into target/cargo-fuzz on first use (cargo install --locked).
set -eu
cd "$(dirname "$0")/../.."

seconds=${FUZZ_CORE_SECONDS:-60}
sanitizer=${FUZZ_CORE_SANITIZER:-none}
root=$PWD/target/cargo-fuzz
if [ ! -x "$root/bin/cargo-fuzz" ]; then
    cargo install --locked --root "$root" cargo-fuzz
fi
PATH=$root/bin:$PATH
export PATH

set --
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
    set -- --target-dir target/asan-bootstrap
fi

cd fuzz
for target in media_type boundary config_types; do
    mkdir -p "corpus/$target"
    echo "fuzz-core: $target, $seconds s, sanitizer $sanitizer"
    cargo fuzz run -O --sanitizer "$sanitizer" "$@" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E '^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|.*panicked|SUMMARY|artifact_prefix|Test unit written)' \
        || true
    # libFuzzer writes crash-* / leak-* files into fuzz/ (or artifacts/) when it fails
    if ls artifacts/"$target"/crash-* artifacts/"$target"/leak-* >/dev/null 2>&1; then
        echo "fuzz-core: $target FAILED, inputs in fuzz/artifacts/$target/"
        exit 1
    fi
done
