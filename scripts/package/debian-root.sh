#!/usr/bin/env bash
# Runs a command inside a root of another Debian release (e.g. trixie), made here with
# debootstrap from the mirror this machine already uses, with the repository bind-mounted at
# /src. Used by `make deb DIST=trixie` and `make test-deb DIST=trixie`.
#
# Usage: scripts/package/debian-root.sh <release> <command> [args]     (as root)
#
# DEBIAN_ROOT_ARCH=arm64: a root of that architecture (target/debian-root/<release>-arm64), whose
# programs run here through qemu (scripts/build/cross-aarch64.sh registers it with binfmt_misc).
#
# The root is kept in target/debian-root/<release> (about 700 MB with the build packages) and
# brought up to date only when the package list below changes; /proc, /dev, /dev/pts and /src
# are mounted for the command and unmounted when it ends, whatever happens. Services never
# start on their own in the root (policy-rc.d exits 101). The command runs with the root's own
# tools: its nginx, nginx-dev, debhelper, rustc and cargo.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
dist=${1:?usage: $0 <release> <command> [args]}
shift
[ $# -gt 0 ] || { echo "usage: $0 <release> <command> [args]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "debian-root: needs root (debootstrap, chroot, mount)" >&2; exit 1; }

arch=${DEBIAN_ROOT_ARCH:-$(dpkg --print-architecture)}
root=$repo/target/debian-root/$dist
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    root=$root-$arch
    [ "$arch" = arm64 ] || { echo "debian-root: DEBIAN_ROOT_ARCH=$arch: only arm64 runs here" >&2; exit 2; }
    # debootstrap's second stage and everything after run arm64 programs
    "$repo/scripts/build/cross-aarch64.sh" >/dev/null
fi
# DEBIAN_ROOT_COPY=<name>: the command gets a fresh copy of the root (target/debian-root/<name>),
# for tests that change the root itself (an upgrade to the next release); the cached root
# stays as it is. DEBIAN_ROOT_HOST=1: the command runs on this machine, not chrooted, with
# DEBIAN_ROOT=<the root> (it acts on the root from outside while the mounts are up).
if [ -n "${DEBIAN_ROOT_COPY:-}" ]; then
    DEBIAN_ROOT_COPY='' DEBIAN_ROOT_HOST='' "$0" "$dist" true
    copy=$repo/target/debian-root/$DEBIAN_ROOT_COPY
    # never rm -rf through a mount (the repository is bind-mounted at /src while in use)
    if grep -q " $copy/" /proc/mounts; then
        echo "debian-root: something is still mounted under $copy: not removed" >&2
        exit 1
    fi
    rm -rf "$copy"
    cp -a "$root" "$copy"
    root=$copy
fi
# what deb.sh and t/deb need inside: the release's nginx and its tree, the Debian build tools,
# its Rust, libclang for bindgen, and the test's perl, curl and openssl
# (DEBIAN_ROOT_PACKAGES: another list, e.g. for a root that only runs a release's module)
packages=${DEBIAN_ROOT_PACKAGES:-"ca-certificates nginx nginx-dev debhelper dpkg-dev build-essential
    libclang-dev rustc cargo perl curl openssl lintian"}

mirror() {
    local uri
    uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v security | head -n 1)
    [ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\) [a-z]* .*/\1/p' /etc/apt/sources.list \
        2>/dev/null | grep -v security | head -n 1)
    [ -n "$uri" ] || { echo "debian-root: no Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }
    echo "$uri"
}

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_in() {
    local what=$1 where=$root$2
    shift 2
    mkdir -p "$where"
    mountpoint -q "$where" && return 0
    mount "$@" "$what" "$where"
    mounted+=("$where")
}

if [ ! -f "$root/.debootstrap-done" ]; then
    command -v debootstrap >/dev/null || {
        # (the lists may be older than the archive: updated once when the install fails)
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            --no-install-recommends debootstrap >/dev/null 2>&1 || {
            apt-get -o DPkg::Lock::Timeout=300 update -qq
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
                --no-install-recommends debootstrap >/dev/null
        }
    }
    uri=$(mirror)
    echo "debian-root: debootstrap $dist from $uri into $root" >&2
    rm -rf "$root"
    mkdir -p "$root"
    start=$SECONDS
    debootstrap --arch="$arch" --variant=minbase "$dist" "$root" "$uri" >"$root.debootstrap.log" 2>&1 \
        || { tail -n 20 "$root.debootstrap.log" >&2; exit 1; }
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    echo "deb $uri $dist main" >"$root/etc/apt/sources.list"
    touch "$root/.debootstrap-done"
    echo "debian-root: debootstrap took $((SECONDS - start)) s" >&2
fi

cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount_in /proc /proc -t proc
mount_in /dev /dev --bind
mount_in devpts /dev/pts -t devpts
mount_in "$repo" /src --bind

in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

want=$(echo $packages)
if [ "$(cat "$root/.packages" 2>/dev/null)" != "$want" ]; then
    start=$SECONDS
    in_root apt-get -o DPkg::Lock::Timeout=300 update -qq
    # shellcheck disable=SC2086
    in_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $want \
        >"$root.apt.log" 2>&1 || { tail -n 20 "$root.apt.log" >&2; exit 1; }
    in_root apt-get clean
    echo "$want" >"$root/.packages"
    echo "debian-root: packages installed in $((SECONDS - start)) s" >&2
fi

if [ "${DEBIAN_ROOT_HOST:-0}" = 1 ]; then
    DEBIAN_ROOT=$root "$@"
    exit
fi
# the caller's environment for the command: what it passes with env NAME=value
in_root "$@"
