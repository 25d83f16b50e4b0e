#!/usr/bin/env bash
# make test-panels: sse-auto-install in an image laid out as Nginx Proxy Manager's
# (t/install/npm.t): OpenResty 1.31.1.1 configured with NPM's paths (--prefix=/etc/nginx
# --sbin-path=/usr/sbin/nginx --modules-path=/usr/lib/nginx/modules
# --conf-path=/etc/nginx/nginx.conf and OpenResty's packaging flags), installed into
# target/panels/npm-image (make install DESTDIR=), and the release's modules for OpenResty
# 1.31.1.1 and 1.29.2.5 (target/prebuilt-panels). About 8 minutes from a clean tree (two
# OpenResty builds), seconds once they are cached. Needs root (chroot, mount --bind).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
sources=${SSE_SOURCES:-$repo/../shared/sources}
or=${OPENRESTY_NPM:-1.31.1.1}

from=$(RELEASE_ARCHS=$(uname -m) RELEASE_OUT="$repo/target/prebuilt-panels" \
    ./scripts/release/release.sh "openresty-$or" openresty-1.29.2.5 | tail -n 1)

work=$repo/target/panels
src=$work/npm-src/openresty-$or
image=$work/npm-image
if [ ! -x "$src/configure" ]; then
    rm -rf "$work/npm-src"
    mkdir -p "$work/npm-src"
    tar -xzf "$sources/openresty-$or.tar.gz" -C "$work/npm-src"
fi
mapfile -t flags < <(grep -v -e '^#' -e '^$' scripts/build/openresty.flags)
flags+=(--prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --modules-path=/usr/lib/nginx/modules
    --conf-path=/etc/nginx/nginx.conf)
rm -rf "$image"
OPENRESTY_DESTDIR=$image ./scripts/build/openresty.sh "$src" "${flags[@]}" >/dev/null

TEST_SSE_NPM_IMAGE=$image TEST_SSE_INSTALL_FROM=$from prove -v -I t/lib t/install/npm.t
