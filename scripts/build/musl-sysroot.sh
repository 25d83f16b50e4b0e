#!/usr/bin/env bash
# The C libraries a musl-linked nginx needs (zlib, PCRE2, PCRE and, with `ssl`, OpenSSL), compiled by
# Debian's musl-gcc into target/musl/sysroot/ (include/, lib/*.a), for the nginx builds that
# stand in for Alpine's and the nginx:alpine images' (nginx-release.sh's musl variants).
#
# zlib and PCRE2 matter for more than the tests: nginx puts "has PCRE" and "has gzip" into the
# module signature even with --with-compat, so a musl nginx without them refuses every module
# built for an ordinary nginx of its version. The official images have both, and OpenSSL.
#
# The sources come from the crates the reachable registry has (libz-sys, pcre2-sys,
# openssl-src each carry their library's upstream source), fetched by cargo into its cache, and
# PCRE (nginx before 1.21.5 takes only it, not PCRE2) from Debian's source package (apt-get
# source, with a deb-src list of its own in target/musl/apt).
#
# MUSL_ARCH=aarch64 on an x86_64 machine: the same for aarch64 (target/musl/sysroot.aarch64),
# compiled by Debian's aarch64 cross compiler with the aarch64 musl's specs (musl-dev:arm64; the
# wrapper target/musl/aarch64-linux-musl-gcc, whose path it prints on a second line); no
# OpenSSL, no PCRE2 JIT.
#
# Usage: scripts/build/musl-sysroot.sh [ssl]     Prints the sysroot's path.
set -euo pipefail
exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/../.." && pwd)
want_ssl=${1:-}
arch=${MUSL_ARCH:-$(uname -m)}
jobs=${NGINX_RELEASE_JOBS:-2}

need() { # Debian packages
    local p missing=()
    for p; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || { echo "musl-sysroot: missing ${missing[*]} (Debian packages)"; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$arch" = "$(uname -m)" ]; then
    root=$repo/target/musl/sysroot work=$repo/target/musl/src
    need musl-tools
    cc=(musl-gcc -O2 -fPIC) host=() jit=-DSUPPORT_JIT
    inc_arch=/usr/include/$(gcc -dumpmachine)
else
    [ "$arch" = aarch64 ] || { echo "musl-sysroot: no musl for $arch here"; exit 2; }
    [ "$want_ssl" != ssl ] || { echo "musl-sysroot: no OpenSSL for aarch64 musl here"; exit 2; }
    root=$repo/target/musl/sysroot.$arch work=$repo/target/musl/src.$arch
    eval "$("$repo/scripts/build/cross-aarch64.sh")"
    need musl:arm64 musl-dev:arm64
    mkdir -p "$repo/target/musl"
    wrapper=$repo/target/musl/aarch64-linux-musl-gcc
    # inline atomics: gcc's outline ones start by calling glibc's __getauxval, which musl has not
    printf '#!/bin/sh\nexec aarch64-linux-gnu-gcc -mno-outline-atomics "$@" -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs\n' >"$wrapper"
    chmod 755 "$wrapper"
    # PCRE2's JIT is left out for aarch64 musl, as the pcre2-sys crate leaves it out
    cc=("$wrapper" -O2 -fPIC) host=(--host=aarch64-linux-musl) jit=
    inc_arch=/usr/include/aarch64-linux-gnu
fi

# the crates' sources: a throwaway package that depends on them, `cargo fetch`
crate_dir() { # <crate name> <version requirement>: prints the unpacked crate's folder
    local name=$1 req=$2 pkg=$work/fetch-$1
    mkdir -p "$pkg/src"
    : >"$pkg/src/lib.rs"
    printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n[dependencies]\n%s = "%s"\n' \
        "$name" "$name" "$req" >"$pkg/Cargo.toml"
    cargo metadata --quiet --format-version 1 --manifest-path "$pkg/Cargo.toml" \
        | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]==sys.argv[1]).rsplit("/",1)[0])' "$name"
}

mkdir -p "$root/include" "$root/lib" "$work"
# Linux's own headers (linux/mman.h, linux/if.h, ...), which musl-gcc leaves out with the rest
# of /usr/include and OpenSSL and OpenResty's stream Lua module include: those alone, from
# Debian's linux-libc-dev, in kernel-include/ (for -idirafter)
kernel=$root/kernel-include
mkdir -p "$kernel"
ln -sfn /usr/include/linux "$kernel/linux"
ln -sfn /usr/include/asm-generic "$kernel/asm-generic"
ln -sfn "$inc_arch/asm" "$kernel/asm"

# Alpine's musl has crypt() and <crypt.h>; Debian's musl has neither, and older nginx needs
# both on Linux. A stand-in that fails every call (auth_basic's crypt passwords; no test here
# uses them), in libcrypt.a, where nginx's configure looks for crypt()
if [ ! -f "$root/lib/libcrypt.a" ]; then
    printf '%s\n' '/* musl-sysroot.sh: crypt() is in libcrypt.a (a stand-in) */' \
        'char *crypt(const char *key, const char *salt);' >"$root/include/crypt.h"
    printf '%s\n' '#include <errno.h>' \
        'char *crypt(const char *key, const char *salt) { (void) key; (void) salt; errno = ENOSYS; return 0; }' \
        >"$work/crypt.c"
    "${cc[@]}" -c "$work/crypt.c" -o "$work/crypt.o"
    ar rcs "$root/lib/libcrypt.a" "$work/crypt.o"
fi

if [ ! -f "$root/lib/libz.a" ]; then
    src=$(crate_dir libz-sys 1)/src/zlib
    rm -rf "$work/zlib" && mkdir -p "$work/zlib"
    for f in "$src"/*.c; do "${cc[@]}" -D_LARGEFILE64_SOURCE=1 -c "$f" -o "$work/zlib/$(basename "$f" .c).o"; done
    ar rcs "$root/lib/libz.a" "$work"/zlib/*.o
    cp "$src/zlib.h" "$src/zconf.h" "$root/include/"
    echo "musl-sysroot: zlib from $(basename "${src%/src/zlib}")"
fi

if [ ! -f "$root/lib/libpcre2-8.a" ]; then
    src=$(crate_dir pcre2-sys 0.2)/upstream
    rm -rf "$work/pcre2" && mkdir -p "$work/pcre2"
    for f in "$src"/src/pcre2_*.c; do
        case $f in
        # included by pcre2_jit_compile.c and pcre2_tables.c, not compiled alone
        *_jit_match.c | *_jit_misc.c | *_ucptables.c) continue ;;
        esac
        # with the JIT, which --with-pcre-jit (OpenResty's packaging flags) uses
        "${cc[@]}" -DHAVE_CONFIG_H -DPCRE2_CODE_UNIT_WIDTH=8 -DPCRE2_STATIC -DSUPPORT_PCRE2_8 \
            -DSUPPORT_UNICODE $jit -DHAVE_STDLIB_H -DHAVE_MEMMOVE -DSTDC_HEADERS \
            -I"$src/include" -I"$src/src" -I"$src/deps" -c "$f" -o "$work/pcre2/$(basename "$f" .c).o"
    done
    ar rcs "$root/lib/libpcre2-8.a" "$work"/pcre2/*.o
    cp "$src/include/pcre2.h" "$root/include/"
    echo "musl-sysroot: PCRE2 from $(basename "$(dirname "$src")")"
fi

if [ ! -f "$root/lib/libpcre.a" ]; then
    apt=$work/../apt
    mkdir -p "$apt/lists/partial" "$apt/pcre3"
    # the machine's own Debian release, as sources
    . /etc/os-release
    printf 'deb-src http://deb.debian.org/debian %s main\n' "$VERSION_CODENAME" >"$apt/sources.list"
    aptopts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root -qq)
    if ! ls "$apt"/pcre3/pcre3_*.orig.tar.* >/dev/null 2>&1; then
        apt-get "${aptopts[@]}" update >/dev/null
        (cd "$apt/pcre3" && apt-get "${aptopts[@]}" source --download-only pcre3 >/dev/null)
    fi
    rm -rf "$work/pcre" && mkdir -p "$work/pcre"
    tar -xf "$(ls "$apt"/pcre3/pcre3_*.orig.tar.* | head -n 1)" -C "$work/pcre" --strip-components=1
    (
        cd "$work/pcre"
        ./configure CC="${cc[0]}" CFLAGS="-O2 -fPIC" "${host[@]}" --disable-shared --enable-static --disable-cpp \
            --enable-utf --enable-unicode-properties --prefix="$root" >configure.log 2>&1 \
            || { tail -n 20 configure.log; exit 1; }
        make -j"$jobs" libpcre.la >make.log 2>&1 || { tail -n 30 make.log; exit 1; }
    )
    cp "$work/pcre/.libs/libpcre.a" "$root/lib/"
    cp "$work/pcre/pcre.h" "$root/include/"
    echo "musl-sysroot: PCRE from Debian's $(basename "$(ls "$apt"/pcre3/pcre3_*.dsc)" .dsc)"
fi

if [ "$want_ssl" = ssl ] && [ ! -f "$root/lib/libssl.a" ]; then
    src=$(crate_dir openssl-src 300)/openssl
    rm -rf "$work/openssl" && cp -a "$src" "$work/openssl"
    start=$SECONDS
    (
        cd "$work/openssl"
        # as the openssl-src crate configures for musl targets: no engines, no async
        CC="musl-gcc -idirafter $kernel" ./Configure "linux-$(uname -m)" no-shared no-module no-tests no-docs \
            no-engine no-async no-comp no-zlib --prefix="$root" --libdir=lib >configure.log 2>&1 \
            || { tail -n 20 configure.log; exit 1; }
        make -j"$jobs" build_libs >make.log 2>&1 || { tail -n 30 make.log; exit 1; }
        make install_dev >install.log 2>&1 || { tail -n 20 install.log; exit 1; }
    )
    echo "musl-sysroot: OpenSSL $(sed -n 's/^MAJOR=//p;s/^MINOR=//p;s/^PATCH=//p' "$src/VERSION.dat" | paste -sd.) in $((SECONDS - start)) s"
fi
echo "$root" >&3
[ -z "${wrapper:-}" ] || echo "$wrapper" >&3
