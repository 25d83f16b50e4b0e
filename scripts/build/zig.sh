#!/bin/sh
# The linker that gives every .so the project builds a glibc floor of 2.17 (CentOS 7, Ubuntu
# 20.04, Debian 11 and everything newer load it), whatever glibc the build host has: zig's
# `cc` linking against glibc 2.17's symbol versions, through cargo-zigbuild's argument
# handling. Both come from PyPI as static binaries, installed once into target/zig.
#
# Prints the absolute path of the linker wrapper (scripts/build/floor-cc) for SSE_AUTO_LINKER, or
# nothing with SSE_AUTO_GLIBC=host: a plain link against this host's glibc (a developer's
# build; the .so then needs this host's glibc or newer).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)

[ "${SSE_AUTO_GLIBC:-2.17}" = host ] && exit 0

# pinned: a new zig can change what it links
ZIGLANG=0.17.1
ZIGBUILD=0.24.1
dir=${SSE_AUTO_ZIG:-$repo/target/zig}
stamp="ziglang==$ZIGLANG cargo-zigbuild==$ZIGBUILD"

if [ ! -x "$dir/bin/zig" ] || [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "installing zig $ZIGLANG and cargo-zigbuild $ZIGBUILD into $dir (the glibc 2.17 link)" >&2
    python=${PYTHON:-python3}
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$python" -m pip install -q --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
        --target "$dir" $stamp >&2 || {
        echo "zig.sh: pip could not install $stamp; build with SSE_AUTO_GLIBC=host for a" \
            "module that loads on this host's glibc or newer only" >&2
        exit 1
    }
    ln -sf ../ziglang/zig "$dir/bin/zig"
    echo "$stamp" >"$dir/.stamp"
fi
echo "$repo/scripts/build/floor-cc"
