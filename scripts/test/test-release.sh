#!/usr/bin/env bash
# Builds the release (scripts/release/release.sh) and tests it: t/release/ here (manifest, sums, the
# glibc floor and its control, loads, refusal by another version, reproducibility), then
# t/release-root/ inside roots of the distributions whose nginx the module was not built on:
# Debian 11 (bullseye: nginx 1.18.0) and Debian 13 (trixie: 1.26.3), made with debootstrap
# (scripts/package/debian-root.sh; kept in target/debian-root/). The aarch64 files: in arm64
# roots of Debian 11, 12 and 13 (their own arm64 nginx, run through qemu), and the installer in
# the Debian 12 one; ARM64_ROOTS= chooses the roots (CI: bookworm). musl: the installer and the
# 1.26.3 file in a root with only musl and a musl-linked nginx (t/release/musl-root.t).
#
# Usage: scripts/test/test-release.sh [target ...]   (default: all; RELEASE_TWICE=0 skips the
# second build for the reproducibility test). Needs root (debootstrap, chroot).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

start=$SECONDS
out=$(./scripts/release/release.sh "$@")
echo "release: built in $((SECONDS - start)) s: $out"
again=
if [ "${RELEASE_TWICE:-1}" = 1 ]; then
    start=$SECONDS
    again=$(RELEASE_WORK="$repo/target/release-build-again" \
        RELEASE_OUT="$repo/target/prebuilt-again/$(basename "$out")" ./scripts/release/release.sh "$@")
    echo "release: built again in $((SECONDS - start)) s: $again"
fi

eval "$(./scripts/build/paths.sh)"
failed=0
TEST_SSE_RELEASE="$out" TEST_SSE_RELEASE_AGAIN="$again" TEST_NGINX_BINARY="$nginx" \
    prove -I t/lib t/release/release.t || failed=1

# the sources' fetch script against local copies of the origins (no network)
prove -I t/lib t/release/fetch.t || failed=1

# minimal --with-compat builds of a vanilla file's version, from the release-trees bundle: without
# SSL the release's file loads and streams; without the cache nginx refuses it by its signature,
# and the module built against that tree streams (t/release/minimal.t)
read -r minimal minver < <(perl -MJSON::PP -e 'local $/; my $m = decode_json(<STDIN>);
    my ($f) = grep { $_->{flavour} eq "nginx" && $_->{source} !~ /^Debian / && $_->{arch} =~ /^x86_64-/ }
        @{$m->{files}}; print "$ARGV[0]/$f->{file} $f->{nginx_version}\n" if $f' "$out" <"$out/manifest.json") || true
if [ -n "${minver:-}" ] && [ "$(uname -m)" = x86_64 ]; then
    nossl=$(./scripts/build/nginx-release.sh "$minver" nossl) || failed=1
    mapfile -t nocache < <(./scripts/build/nginx-release.sh "$minver" nocache module) || failed=1
    for bin in "$nossl" "${nocache[0]:-}"; do
        [ -x "$bin" ] || { failed=1; continue; }
        TEST_NGINX_BINARY="$bin" TEST_SSE_RELEASE_SO="$minimal" TEST_SSE_BUILT_SO="${nocache[1]:-}" \
            prove -I t/lib t/release/minimal.t || failed=1
    done
fi

# musl (Alpine): the installer on a system that has only musl and a musl-linked nginx of a
# version the folder has (1.26.3, no TLS; scripts/build/nginx-release.sh musl-nossl), run
# chrooted: held before, the release's file chosen, live after, uninstalled to the same bytes
musl=
if ls "$out"/*-nginx-1.26.3-x86_64-linux-gnu.so >/dev/null 2>&1 && [ "$(uname -m)" = x86_64 ]; then
    ./scripts/build/deps.sh packages musl-tools busybox-static
    if musl=$(./scripts/build/nginx-release.sh 1.26.3 musl-nossl); then
        TEST_SSE_RELEASE="$out" TEST_SSE_MUSL_NGINX="$musl" prove -I t/lib t/release/musl-root.t || failed=1
    else
        failed=1
    fi
fi

# the distributions' own nginx, in their roots: the release's module for that version
in_root() { # release packages version [arch]
    local dist=$1 packages=$2 ver=$3 arch=${4:-x86_64} so
    so=$(ls "$out"/*-nginx-"$ver"-"$arch"-linux-gnu.so 2>/dev/null | head -n 1)
    if [ -z "$so" ]; then
        echo "test-release: no nginx $ver $arch module in $out: $dist's nginx ($arch) not tested"
        return 0
    fi
    DEBIAN_ROOT_PACKAGES=${packages:-} ./scripts/package/debian-root.sh "$dist" env \
        TEST_NGINX_BINARY=/usr/sbin/nginx TEST_SSE_RELEASE_SO="/src${so#"$repo"}" \
        sh -c 'cd /src && prove -I t/lib t/release-root/' || failed=1
}
in_root bullseye "ca-certificates nginx perl curl openssl" 1.18.0
# sse-auto-install from the release folder in Debian 11's nginx (t/install/install.t, as make
# test-install runs it on this host). The root shares this machine's network, where port 80 may
# be taken: the root's default site moves to 127.0.0.1:8180 first (a file of the root only).
if ls "$out"/*-nginx-1.18.0-*.so >/dev/null 2>&1; then
    DEBIAN_ROOT_PACKAGES="ca-certificates nginx perl curl openssl" ./scripts/package/debian-root.sh bullseye \
        env TEST_SSE_INSTALL_FROM="/src${out#"$repo"}" sh -c '
            sed -i -E -e "/listen +\[::\]:80 default_server/d" \
                -e "s/listen +80 default_server/listen 127.0.0.1:8180 default_server/" \
                /etc/nginx/sites-available/default
            cd /src && prove -I t/lib t/install/install.t' || failed=1
fi
# the root make test-deb DIST=trixie uses (its package list, so it is shared)
in_root trixie "" 1.26.3

# aarch64: the distributions' arm64 nginx, in arm64 roots (qemu)
arm64_packages="ca-certificates nginx perl curl openssl"
for dist in ${ARM64_ROOTS-bullseye bookworm trixie}; do
    case $dist in
    bullseye) ver=1.18.0 ;; bookworm) ver=1.22.1 ;; trixie) ver=1.26.3 ;;
    *) echo "test-release: ARM64_ROOTS: no nginx version known for $dist"; failed=1; continue ;;
    esac
    DEBIAN_ROOT_ARCH=arm64 in_root "$dist" "$arm64_packages" "$ver" aarch64
done
# sse-auto-install from the release folder in Debian 12's arm64 nginx: it picks the aarch64 file;
# from this host into that root, and here, it refuses the other architecture's file
case " ${ARM64_ROOTS-bookworm} " in
*" bookworm "*)
    TEST_SSE_RELEASE="$out" TEST_SSE_ARM64_ROOT="$repo/target/debian-root/bookworm-arm64" \
        prove -I t/lib t/release/arch.t || failed=1
    if ls "$out"/*-nginx-1.22.1-aarch64-linux-gnu.so >/dev/null 2>&1; then
        DEBIAN_ROOT_ARCH=arm64 DEBIAN_ROOT_PACKAGES=$arm64_packages ./scripts/package/debian-root.sh bookworm \
            env TEST_SSE_INSTALL_FROM="/src${out#"$repo"}" sh -c '
                sed -i -E -e "/listen +\[::\]:80 default_server/d" \
                    -e "s/listen +80 default_server/listen 127.0.0.1:8180 default_server/" \
                    /etc/nginx/sites-available/default
                cd /src && prove -I t/lib t/install/install.t' || failed=1
    fi ;;
esac

[ $failed -eq 0 ] && echo "test-release: all passed" || echo "test-release: FAILED"
exit $failed
