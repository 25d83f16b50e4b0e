#!/bin/sh
# Fails when a .so needs more than users' oldest servers have: a dynamic symbol versioned
# newer than GLIBC_2.17 (each one is named), or a shared library beyond glibc's own and
# libgcc_s. Usage: scripts/build/glibc-floor.sh <.so> ...    FLOOR=2.17 another floor.
# Reads the files with readelf, which reads every architecture's (x86_64, aarch64) alike.
set -eu
floor=${FLOOR:-2.17}
[ $# -gt 0 ] || { echo "usage: $0 <.so> ..." >&2; exit 2; }
command -v readelf >/dev/null || { echo "glibc-floor: readelf not found (binutils)" >&2; exit 2; }

newer() { # version strings newer than the floor, from stdin
    while read -r v; do
        [ "$(printf '%s\n%s\n' "$floor" "$v" | sort -V | tail -n 1)" = "$floor" ] || echo "$v"
    done
}

bad=0
for so in "$@"; do
    [ -f "$so" ] || { echo "glibc-floor: no $so" >&2; bad=1; continue; }
    syms=$(readelf --dyn-syms -W "$so") || { echo "glibc-floor: readelf --dyn-syms $so failed" >&2; bad=1; continue; }
    top=$(printf '%s\n' "$syms" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    over=$(printf '%s\n' "$syms" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | newer)
    libs=$(readelf -d -W "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' \
        | grep -v -x -E 'lib(c|pthread|dl|m|rt)\.so\.[0-9]+|ld-linux-(x86-64|aarch64)\.so\.[12]|libgcc_s\.so\.1' || true)
    if [ -z "$over" ] && [ -z "$libs" ]; then
        echo "ok: $so (newest glibc symbol: GLIBC_${top:-none})"
        continue
    fi
    bad=1
    for v in $over; do
        # readelf: "... UND name@GLIBC_2.34 (3)"
        printf '%s\n' "$syms" | grep -o "[^ ]*@GLIBC_$v\b" | sed 's/@.*//' | sort -u | while read -r s; do
            echo "FAIL: $so needs $s@GLIBC_$v (newer than the GLIBC_$floor floor)"
        done
    done
    for l in $libs; do
        echo "FAIL: $so needs $l (not on every server)"
    done
done
exit $bad
