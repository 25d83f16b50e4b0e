#!/usr/bin/env bash
# Builds libnginx-mod-http-sse-auto_<version>-<revision>_<arch>.deb for the nginx packaged by the
# Debian release this runs on (bookworm: nginx 1.22.1), against the exact tree of that nginx
# (nginx-dev's /usr/share/nginx/src configured with its conf_flags), not the vendored nginx.
# DIST=<release> (e.g. trixie) builds it for that release's nginx instead, inside a root of
# that release (scripts/package/debian-root.sh: debootstrap, its own nginx-dev, debhelper and Rust),
# into target/deb-<release>/.
#
# The sources are staged in $DEB_OUT_DIR/build/ with packaging/debian as debian/ and built with
# dpkg-buildpackage (debhelper + dh_nginx). Installs the missing Debian packages it needs when
# run as root. The build log goes to stderr; the last line on stdout is the absolute path of the
# .deb.
#
# Environment:
#   DEB_OUT_DIR     where the build happens and the .deb goes (default: target/deb)
#   DEB_REVISION    Debian revision (default: 1); the version is Cargo.toml's
#   DEBFULLNAME, DEBEMAIL  Maintainer and changelog signature (default: git config user)
#   DEB_BUILD_OPTIONS      passed on (e.g. nocheck skips the nginx -t load test)
#   DIST            another Debian release to build for (default: this machine's)
#   DEB_EPOCH, DEB_COMMIT  the changelog date and git description (default: from git)
#   ARCH            the package's architecture (default: this machine's); arm64 on an amd64
#                   machine is a cross build (scripts/build/cross-aarch64.sh) into
#                   target/deb-arm64/, for this machine's Debian release
set -euo pipefail

exec 3>&1 1>&2

root=$(cd "$(dirname "$0")/../.." && pwd)

# shellcheck disable=SC1091
here=$(. /etc/os-release && echo "${VERSION_CODENAME:-unstable}")
native=$(dpkg --print-architecture)
arch=${ARCH:-$native}
if [ "$arch" != "$native" ]; then
    [ "$arch" = arm64 ] || { echo "deb.sh: ARCH=$arch: only arm64 is cross-built here"; exit 2; }
    [ -z "${DIST:-}" ] || [ "$DIST" = "$here" ] \
        || { echo "deb.sh: ARCH=$arch is built for this machine's release ($here) only, not DIST=$DIST"; exit 2; }
fi
if [ -n "${DIST:-}" ] && [ "$DIST" != "$here" ]; then
    # the same script inside a root of that release, the repository mounted at /src; what git
    # says comes from here (the root has no git)
    name=${DEBFULLNAME:-$(git -C "$root" config user.name 2>/dev/null || true)}
    email=${DEBEMAIL:-$(git -C "$root" config user.email 2>/dev/null || true)}
    # the crates come from here too, vendored: cargo in the root never uses the network
    out=$root/target/deb-$DIST
    mkdir -p "$out/cargo-home"
    if [ ! -f "$out/vendor/.stamp" ] || [ "$root/Cargo.lock" -nt "$out/vendor/.stamp" ]; then
        rm -rf "$out/vendor"
        (cd "$root" && cargo vendor --locked --versioned-dirs --quiet "$out/vendor" >/dev/null)
        touch "$out/vendor/.stamp"
    fi
    cat >"$out/cargo-home/config.toml" <<EOF
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "/src/target/deb-$DIST/vendor"

[net]
offline = true
EOF
    # the glibc 2.17 link: zig is installed here (static binaries), run from /src in the root
    linker=$("$root/scripts/build/zig.sh")
    deb=$("$root/scripts/package/debian-root.sh" "$DIST" env \
        CARGO_HOME="/src/target/deb-$DIST/cargo-home" \
        SSE_AUTO_LINKER="${linker:+/src/scripts/build/floor-cc}" SSE_AUTO_ZIG=/src/target/zig \
        DEB_OUT_DIR="/src/target/deb-$DIST" DEB_REVISION="${DEB_REVISION:-1}" \
        DEBFULLNAME="$name" DEBEMAIL="$email" DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}" \
        DEB_EPOCH="$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)" \
        DEB_COMMIT="$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)" \
        /src/scripts/package/deb.sh | tail -n 1)
    case $deb in
    /src/target/deb-"$DIST"/*.deb) echo "$root${deb#/src}" >&3 ;;
    *) echo "deb.sh in the $DIST root made no package"; exit 1 ;;
    esac
    exit 0
fi
if [ "$arch" != "$native" ]; then
    out=${DEB_OUT_DIR:-$root/target/deb-$arch}
else
    out=${DEB_OUT_DIR:-$root/target/deb}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
pkg=libnginx-mod-http-sse-auto

# Debian packages: the nginx tree and dh_nginx (nginx-dev, which pulls in the matching nginx),
# debhelper, a C toolchain for nginx's configure, libclang for bindgen.
want="nginx-dev debhelper dpkg-dev build-essential libclang-dev"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null \
        | grep -Eq "^install ok installed ($(dpkg --print-architecture)|all)\$" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages:$missing (run as root, or install them)"
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    # shellcheck disable=SC2086
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
fi

command -v cargo >/dev/null || {
    echo "cargo not found: install Rust >= 1.81 (rustup); Debian's cargo is too old"
    exit 1
}

# The ABI the module is built for: that of the nginx tree in nginx-dev, which must be the one
# the installed nginx provides (nginx-dev depends on the same nginx version).
abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
[ -n "$abi" ] || { echo "no nginx:abi in nginx-dev"; exit 1; }
provides=$(dpkg-query -W -f='${Provides}' nginx)
case ", $provides," in
*", $abi,"* | *", $abi ("*) ;;
*) echo "installed nginx provides '$provides', not $abi of nginx-dev"; exit 1 ;;
esac
nginx_version=$(dpkg-query -W -f='${Version}' nginx)

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" \
    | head -n 1)
[ -n "$version" ] || { echo "no version in Cargo.toml"; exit 1; }
debversion=$version-${DEB_REVISION:-1}

name=${DEBFULLNAME:-$(git -C "$root" config user.name 2>/dev/null || true)}
email=${DEBEMAIL:-$(git -C "$root" config user.email 2>/dev/null || true)}
maintainer="${name:-sse_auto maintainers} <${email:-root@localhost}>"

# Reproducible: the changelog date (and so SOURCE_DATE_EPOCH) is the last commit's.
epoch=${DEB_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=${DEB_COMMIT:-$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)}
dist=$here

# Stage the sources.
stage=$out/build/$pkg-$version
rm -rf "$out/build"
mkdir -p "$stage"
cp -a "$root/Cargo.toml" "$root/Cargo.lock" "$root/build.rs" "$root/README.md" "$root/src" \
    "$stage/"
# Every workspace member must be present for cargo to read the workspace (and Cargo.lock to stay
# as it is under --locked); only the module itself is built.
cp -a "$root/sse-auto-core" "$root/sse-bench" "$stage/"
rm -rf "$stage/sse-auto-core/target" "$stage/sse-bench/target"
cp -a "$root/packaging/debian" "$stage/debian"
sed -i "s|@MAINTAINER@|$maintainer|" "$stage/debian/control"
cat >"$stage/debian/changelog" <<EOF
$pkg ($debversion) $dist; urgency=medium

  * sse_auto $version (git $commit).
  * Built for Debian's nginx $nginx_version ($abi).

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$epoch")
EOF

# the .so loads on glibc 2.17 and newer (debian/rules, scripts/build/zig.sh)
if [ -z "${SSE_AUTO_LINKER+set}" ]; then
    SSE_AUTO_LINKER=$("$root/scripts/build/zig.sh")
    [ "$arch" = "$native" ] || [ -z "$SSE_AUTO_LINKER" ] || SSE_AUTO_LINKER=$SSE_AUTO_LINKER-aarch64
fi
export SSE_AUTO_LINKER
buildpackage=(-b -us -uc)
if [ "$arch" != "$native" ]; then
    # the cross toolchain; the build dependencies are this machine's, not arm64 packages
    eval "$("$root/scripts/build/cross-aarch64.sh")"
    export NGX_CARGO RUSTC
    CARGO=$NGX_CARGO
    export CARGO
    buildpackage+=(-a "$arch" -d)
fi

echo "building $pkg $debversion for nginx $nginx_version ($abi)"
(
    cd "$stage"
    # cargo's target directory and the configured nginx tree outlive the staging directory
    export CARGO_TARGET_DIR=$out/cargo NGX_TREE=$out/nginx-tree
    dpkg-buildpackage "${buildpackage[@]}"
)

deb=$out/build/${pkg}_${debversion}_$arch.deb
[ -f "$deb" ] || { echo "dpkg-buildpackage made no $deb"; exit 1; }
mv -f "$deb" "$out/"
deb=$out/${pkg}_${debversion}_$arch.deb

dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
echo "$deb" >&3
