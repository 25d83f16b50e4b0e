#!/usr/bin/env bash
# Upgrades with sse_auto installed (t/upgrade/): Debian 11 -> 12 in a throwaway copy of the
# cached Debian 11 root (scripts/package/debian-root.sh), the test acting from outside the root; and a
# container's image replaced under its configuration volume (two images made of the
# release's nginx 1.18.0 and 1.24.0 builds). The release folder: modules for 1.18.0, 1.22.1
# and 1.24.0 (target/prebuilt-upgrade). About 3 minutes with the root and the builds cached.
# Needs root (debootstrap, chroot, mount).
#
# Usage: scripts/test/test-upgrade.sh          TEST_SSE_UPGRADE_INSTALLER=/src/<path>: another
# installer for the Debian case (an earlier release's, the control: nginx no longer starts).
#        scripts/test/test-upgrade.sh nginx-org   nginx.org-style packages updated with apt in a
# Debian 12 root (t/upgrade/nginx-org.t; modules and builds of 1.30.4 and 1.31.4; not in CI)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

if [ "${1:-}" = nginx-org ]; then
    # nginx.org-style packages of the release's 1.30.4 and 1.31.4 builds, in a Debian 12 root
    from=$(RELEASE_OUT="$repo/target/prebuilt-upgrade-org" \
        RELEASE_ARCHS=$(uname -m) ./scripts/release/release.sh nginx-1.30.4 nginx-1.31.4 | tail -n 1)
    work=${RELEASE_WORK:-$repo/target/release-build}
    command -v dpkg-scanpackages >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install \
        -y -qq --no-install-recommends dpkg-dev >/dev/null
    copy=$repo/target/debian-root/bookworm-nginx-org
    rc=0
    DEBIAN_ROOT_PACKAGES="ca-certificates perl curl openssl libssl3 libpcre2-8-0 zlib1g libcrypt1" \
        DEBIAN_ROOT_COPY=bookworm-nginx-org DEBIAN_ROOT_HOST=1 ./scripts/package/debian-root.sh bookworm \
        env TEST_SSE_UPGRADE_FROM="/src${from#"$repo"}" \
        TEST_SSE_ORG_OLD="$work/nginx-1.30.4/nginx-1.30.4/objs/nginx" \
        TEST_SSE_ORG_NEW="$work/nginx-1.31.4/nginx-1.31.4/objs/nginx" \
        prove -v -I t/lib t/upgrade/nginx-org.t || rc=1
    grep -q " $copy/" /proc/mounts || rm -rf "$copy"
    exit $rc
fi

from=$(RELEASE_OUT="$repo/target/prebuilt-upgrade" \
    RELEASE_ARCHS=$(uname -m) ./scripts/release/release.sh nginx-1.18.0 nginx-1.22.1 nginx-1.24.0 | tail -n 1)
work=${RELEASE_WORK:-$repo/target/release-build}
rc=0

TEST_SSE_IMAGE_A=$work/nginx-1.18.0/nginx-1.18.0/objs/nginx \
    TEST_SSE_IMAGE_B=$work/nginx-1.24.0/nginx-1.24.0/objs/nginx \
    TEST_SSE_UPGRADE_FROM="$from" prove -I t/lib t/upgrade/container.t || rc=1

copy=$repo/target/debian-root/bullseye-upgrade
DEBIAN_ROOT_PACKAGES="ca-certificates nginx perl curl openssl" DEBIAN_ROOT_COPY=bullseye-upgrade \
    DEBIAN_ROOT_HOST=1 ./scripts/package/debian-root.sh bullseye \
    env TEST_SSE_UPGRADE_FROM="/src${from#"$repo"}" \
    ${TEST_SSE_UPGRADE_INSTALLER:+TEST_SSE_UPGRADE_INSTALLER="$TEST_SSE_UPGRADE_INSTALLER"} \
    prove -v -I t/lib t/upgrade/debian.t || rc=1
# the copy goes (about 400 MB), never through a mount
grep -q " $copy/" /proc/mounts || rm -rf "$copy"
exit $rc
