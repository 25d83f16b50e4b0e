#!/bin/sh
# Builds the module as it was at git revision REV and prints the path of its .so: for a
# benchmark that sets a change beside what came before it, in one run (bench.sh's
# BENCH_BEFORE). The tree is exported (git archive, no worktree) to target/rev/<commit>/src and
# built there with its own scripts, in target/rev/<commit>/target; zig is this checkout's.
#
#   scripts/bench/module-at.sh REV
#
# The module is built against the nginx-src of REV's Cargo.lock: it loads into this checkout's
# vendored nginx only if that is the same nginx (nginx refuses it otherwise).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# = 1 ] || { echo "usage: scripts/bench/module-at.sh REV" >&2; exit 2; }
rev=$(git -C "$repo" rev-parse --verify -q "$1^{commit}") \
    || { echo "module-at.sh: no commit '$1' in $repo" >&2; exit 2; }
dir=$repo/target/rev/$rev
if [ ! -f "$dir/src/.exported" ]; then
    rm -rf "$dir/src"
    mkdir -p "$dir/src"
    git -C "$repo" archive "$rev" | tar -x -C "$dir/src"
    : >"$dir/src/.exported"
fi
echo "module-at.sh: building the module of $(git -C "$repo" log -1 --format='%h %s' "$rev" | cut -c1-72)" >&2
# revisions before the scripts were grouped (2026-12-07) have scripts/paths.sh
get_paths=./scripts/build/paths.sh
[ -x "$dir/src/$get_paths" ] || get_paths=./scripts/paths.sh
paths=$(cd "$dir/src" && CARGO_TARGET_DIR=$dir/target SSE_AUTO_ZIG=$repo/target/zig $get_paths)
printf '%s\n' "$paths" | sed -n 's/^module=//p'
