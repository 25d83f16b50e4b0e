#!/bin/sh
# What an x86_64 Debian (bookworm or newer) machine needs to build nginx and the module for
# aarch64 and to run the results, installed once (as root):
#
#   - gcc-aarch64-linux-gnu and the arm64 -dev packages nginx links (OpenSSL, PCRE2, PCRE1 for
#     1.18, zlib): configure and the module's C part, cross;
#   - rustc-web, cargo-web and libstd-rust-web-dev:arm64 (bookworm-security; /usr/bin/rustc and
#     /usr/bin/cargo, Rust 1.96): the Rust compiler with aarch64's standard library, as rustup
#     cannot fetch other targets here;
#   - qemu-user-static with binfmt_misc: aarch64 programs run here, so nginx's configure runs
#     its test programs (the sizes it probes are aarch64's) and nginx -t loads the modules.
#
# Prints, for eval, what a cross build sets: NGX_CARGO, RUSTC, NGX_RUST_TARGET, CROSS_CC.
# Nothing is installed on an aarch64 machine: the native toolchain builds there.
set -eu

if [ "$(uname -m)" = aarch64 ]; then
    echo "CROSS_CC=''"
    exit 0
fi

missing() {
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || return 0
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || return 0
    [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ] || return 0
    for f in /usr/include/aarch64-linux-gnu/openssl/opensslconf.h \
        /usr/lib/aarch64-linux-gnu/libpcre2-8.so /usr/lib/aarch64-linux-gnu/libpcre.so \
        /usr/lib/aarch64-linux-gnu/libz.so /usr/bin/qemu-aarch64-static; do
        [ -e "$f" ] || return 0
    done
    return 1
}

if missing; then
    [ "$(id -u)" -eq 0 ] || {
        echo "cross-aarch64: the aarch64 toolchain is missing and installing it needs root" >&2
        exit 1
    }
    echo "cross-aarch64: installing the aarch64 cross toolchain (apt, arm64 architecture)" >&2
    dpkg --add-architecture arm64
    apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends gcc-aarch64-linux-gnu libc6-dev:arm64 libssl-dev:arm64 \
        libpcre2-dev:arm64 libpcre3-dev:arm64 zlib1g-dev:arm64 rustc-web cargo-web \
        libstd-rust-web-dev:arm64 qemu-user-static binfmt-support >&2 || {
        echo "cross-aarch64: apt-get install failed (see above)" >&2
        exit 1
    }
fi

# aarch64 programs run through qemu: binfmt_misc mounted and qemu-aarch64 registered
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc >&2 || {
        echo "cross-aarch64: cannot mount binfmt_misc (needs root)" >&2
        exit 1
    }
    update-binfmts --enable qemu-aarch64 >&2 2>&1 || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --import qemu-aarch64 >&2 2>&1 || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || {
        echo "cross-aarch64: qemu-aarch64 is not registered with binfmt_misc" >&2
        exit 1
    }
fi

echo "NGX_CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc NGX_RUST_TARGET=aarch64-unknown-linux-gnu CROSS_CC=aarch64-linux-gnu-gcc"
