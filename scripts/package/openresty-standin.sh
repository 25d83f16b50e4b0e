#!/usr/bin/env bash
# Builds a stand-in for OpenResty's official deb, openresty_<X.Y.Z.W>-1~<release>1_<arch>.deb,
# for the packaging tests (OpenResty's apt repository is not reachable here): the bundle that
# scripts/package/deb-openresty.sh configured (OpenResty's packaging flags, prefix /usr/local/openresty),
# built whole and installed with OpenResty's layout: /usr/local/openresty/{bin,luajit,lualib,
# nginx,site}, nginx.conf & co. as conffiles, /usr/bin/openresty -> the nginx binary. It differs
# from the real one in its libraries (Debian's OpenSSL, PCRE2 and zlib instead of OpenResty's
# private packages), in having no service files, and its nginx -V names the module's directory
# (--add-dynamic-module; the module itself is not in the package).
#
# Usage: scripts/package/openresty-standin.sh [X.Y.Z.W]   (after scripts/package/deb-openresty.sh, same
# DEB_OUT_DIR). The last line on stdout is the absolute path of the .deb.
set -euo pipefail

exec 3>&1 1>&2

root=$(cd "$(dirname "$0")/../.." && pwd)
or=${1:-${OPENRESTY:-1.27.1.2}}
out=${DEB_OUT_DIR:-$root/target/deb-openresty}
tree=$out/openresty-$or
[ -f "$tree/configure.deb.flags" ] \
    || { echo "openresty-standin: $tree is not configured: run scripts/package/deb-openresty.sh $or first"; exit 1; }

# shellcheck disable=SC1091
dist=$(. /etc/os-release && echo "${VERSION_CODENAME:-unstable}")
debversion=$or-1~${dist}1
arch=$(dpkg --print-architecture)
deb=$out/openresty_${debversion}_$arch.deb
stamp=$out/standin.stamp
if [ -f "$deb" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(cat "$tree/configure.deb.flags")" ]; then
    echo "$deb" >&3
    exit 0
fi

echo "building the stand-in openresty $debversion from $tree"
make -C "$tree" -j"${OPENRESTY_JOBS:-2}" >"$out/standin.make.log" 2>&1 \
    || { tail -n 40 "$out/standin.make.log"; exit 1; }
stage=$out/standin
rm -rf "$stage"
make -C "$tree" install DESTDIR="$stage" >"$out/standin.install.log" 2>&1 \
    || { tail -n 20 "$out/standin.install.log"; exit 1; }
rm -f "$stage"/usr/local/openresty/nginx/modules/ngx_http_sse_auto_module.so
mkdir -p "$stage/usr/bin" "$stage/DEBIAN"
ln -sf /usr/local/openresty/nginx/sbin/nginx "$stage/usr/bin/openresty"
(cd "$stage" && find usr/local/openresty/nginx/conf -type f ! -name '*.default' | sort | sed 's|^|/|') \
    >"$stage/DEBIAN/conffiles"
cat >"$stage/DEBIAN/control" <<EOT
Package: openresty
Version: $debversion
Architecture: $arch
Maintainer: sse_auto tests <root@localhost>
Depends: libc6, libssl3 | libssl1.1, libpcre2-8-0, zlib1g
Section: httpd
Priority: optional
Description: stand-in for OpenResty's official package (sse_auto's tests only)
 OpenResty $or built from its source bundle with OpenResty's packaging flags and
 installed with the layout of OpenResty's own deb, for testing openresty-sse-auto.
EOT
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
cat "$tree/configure.deb.flags" >"$stamp"
echo "$deb" >&3
