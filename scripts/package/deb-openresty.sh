#!/usr/bin/env bash
# Builds openresty-sse-auto_<version>+openresty<X.Y.Z.W>-<revision>_<arch>.deb: the module for
# OpenResty's official deb packages of one version (they install into /usr/local/openresty),
# built by packaging/openresty/debian/rules against that version's source bundle with
# OpenResty's packaging flags, as OpenResty's own module packages are. Its Depends: names that
# OpenResty version (any packaging revision). The package installs the .so only; README says
# the one line that enables it.
#
# Usage: scripts/package/deb-openresty.sh [X.Y.Z.W]   (default: $OPENRESTY, else 1.27.1.2)
# The build log goes to stderr; the last line on stdout is the absolute path of the .deb.
#
# Environment:
#   OPENRESTY_SRC   the bundle: openresty-X.Y.Z.W.tar.gz or its unpacked directory
#                   (default: ../shared/sources/openresty-X.Y.Z.W.tar.gz)
#   DEB_OUT_DIR     where the build happens and the .deb goes (default: target/deb-openresty);
#                   the bundle is unpacked and configured there and kept for the next build
#   DEB_REVISION, DEBFULLNAME, DEBEMAIL, DEB_BUILD_OPTIONS, DEB_EPOCH, DEB_COMMIT: as deb.sh
set -euo pipefail

exec 3>&1 1>&2

root=$(cd "$(dirname "$0")/../.." && pwd)
or=${1:-${OPENRESTY:-1.27.1.2}}
case $or in
[0-9]*.[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "deb-openresty: '$or' is not an OpenResty version (X.Y.Z.W)"; exit 2 ;;
esac
src=${OPENRESTY_SRC:-$root/../shared/sources/openresty-$or.tar.gz}
[ -e "$src" ] || { echo "deb-openresty: no OpenResty $or bundle at $src (set OPENRESTY_SRC)"; exit 1; }

out=${DEB_OUT_DIR:-$root/target/deb-openresty}
mkdir -p "$out"
out=$(cd "$out" && pwd)
pkg=openresty-sse-auto

"$root/scripts/build/deps.sh" packages chrpath debhelper dpkg-dev build-essential libclang-dev \
    libpcre2-dev libssl-dev zlib1g-dev perl
command -v cargo >/dev/null || { echo "cargo not found: install Rust >= 1.81 (rustup)"; exit 1; }

# the bundle, unpacked once (a directory given is copied: it is configured in place)
tree=$out/openresty-$or
if [ ! -x "$tree/configure" ]; then
    rm -rf "$tree" "$out/unpack"
    mkdir -p "$out/unpack"
    if [ -d "$src" ]; then cp -a "$src" "$out/unpack/"; else tar -xzf "$src" -C "$out/unpack"; fi
    found=$(ls -d "$out"/unpack/openresty-* 2>/dev/null | head -n 1)
    [ -n "$found" ] && [ -x "$found/configure" ] && [ -d "$found/bundle" ] \
        || { echo "deb-openresty: $src is not an OpenResty source bundle"; exit 1; }
    mv "$found" "$tree"
    rm -rf "$out/unpack"
fi
ls -d "$tree"/bundle/nginx-[0-9]* >/dev/null 2>&1 || { echo "deb-openresty: no bundle/nginx-* in $tree"; exit 1; }

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "no version in Cargo.toml"; exit 1; }
debversion=$version+openresty$or-${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
# any packaging revision of this OpenResty version (1.27.1.2-1~bookworm1, ...), nothing later
next=$(echo "$or" | awk -F. '{ printf "%s.%s.%s.%d", $1, $2, $3, $4 + 1 }')
depends="openresty (>= $or~), openresty (<< $next~)"

name=${DEBFULLNAME:-$(git -C "$root" config user.name 2>/dev/null || true)}
email=${DEBEMAIL:-$(git -C "$root" config user.email 2>/dev/null || true)}
maintainer="${name:-sse_auto maintainers} <${email:-root@localhost}>"
epoch=${DEB_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=${DEB_COMMIT:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}
# shellcheck disable=SC1091
dist=$(. /etc/os-release && echo "${VERSION_CODENAME:-unstable}")

# Stage the sources: those of deb.sh plus nginx's build files (config, config.make).
stage=$out/build/$pkg-$version
rm -rf "$out/build"
mkdir -p "$stage"
cp -a "$root/Cargo.toml" "$root/Cargo.lock" "$root/build.rs" "$root/README.md" "$root/src" \
    "$root/config" "$root/config.make" "$root/sse-auto-core" "$root/sse-bench" "$stage/"
rm -rf "$stage/sse-auto-core/target" "$stage/sse-bench/target"
cp -a "$root/packaging/openresty/debian" "$stage/debian"
cp "$root/scripts/build/openresty.flags" "$stage/debian/openresty.flags"
sed -e "s|^ The nginx bindings are generated at build time from the headers of Debian's nginx-dev| The nginx bindings are generated at build time from the headers of OpenResty $or's nginx|" \
    -e "s|^ (nginx 1.22.1: Copyright 2002-2021 Igor Sysoev, 2011-2022 Nginx, Inc.; BSD-2-Clause).| (Copyright 2002-2021 Igor Sysoev, 2011-2024 Nginx, Inc., OpenResty Inc.; BSD-2-Clause).|" \
    "$root/packaging/debian/copyright" >"$stage/debian/copyright"
sed -i -e "s|@MAINTAINER@|$maintainer|" -e "s|@OPENRESTY_DEPENDS@|$depends|" \
    -e "s|@OPENRESTY@|$or|" "$stage/debian/control"
cat >"$stage/debian/changelog" <<EOT
$pkg ($debversion) $dist; urgency=medium

  * sse_auto $version (git $commit).
  * Built for OpenResty $or, with OpenResty's packaging flags.

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$epoch")
EOT

# the .so loads on glibc 2.17 and newer (config.make, scripts/build/zig.sh)
if [ -z "${SSE_AUTO_LINKER+set}" ]; then
    SSE_AUTO_LINKER=$("$root/scripts/build/zig.sh")
fi
export SSE_AUTO_LINKER
# Reproducible: no build directory in the module (cargo's paths); the rest is dpkg's
# (SOURCE_DATE_EPOCH from the changelog).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export RUSTFLAGS="--remap-path-prefix=$stage=/sse_auto --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$out=/build"

echo "building $pkg $debversion for OpenResty $or ($depends)"
(
    cd "$stage"
    export OPENRESTY_TREE=$tree OPENRESTY=$or JOBS=${OPENRESTY_JOBS:-2}
    export SSE_AUTO_CARGO_TARGET_DIR=$out/cargo
    dpkg-buildpackage -b -us -uc
)

deb=$out/build/${pkg}_${debversion}_$arch.deb
[ -f "$deb" ] || { echo "dpkg-buildpackage made no $deb"; exit 1; }
mv -f "$deb" "$out/"
deb=$out/${pkg}_${debversion}_$arch.deb
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
echo "$deb" >&3
