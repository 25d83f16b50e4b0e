#!/usr/bin/env bash
# Upgrades with sse_auto installed (t/upgrade/): Debian 11 -> 12 in a throwaway copy of the
# cached Debian 11 root (scripts/debian-root.sh), the test acting from outside the root; and a
# container's image replaced under its configuration volume (two images made of the
# release's nginx 1.18.0 and 1.24.0 builds). The release folder: modules for 1.18.0, 1.22.1
# and 1.24.0 (target/prebuilt-upgrade). About 3 minutes with the root and the builds cached.
# Needs root (debootstrap, chroot, mount).
#
# Usage: scripts/test-upgrade.sh          TEST_SSE_UPGRADE_INSTALLER=/src/<path>: another
# installer for the Debian case (an earlier release's, the control: nginx no longer starts).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

from=$(RELEASE_OUT="$repo/target/prebuilt-upgrade" \
    ./scripts/release.sh nginx-1.18.0 nginx-1.22.1 nginx-1.24.0 | tail -n 1)
work=${RELEASE_WORK:-$repo/target/release-build}
rc=0

TEST_SSE_IMAGE_A=$work/nginx-1.18.0/nginx-1.18.0/objs/nginx \
    TEST_SSE_IMAGE_B=$work/nginx-1.24.0/nginx-1.24.0/objs/nginx \
    TEST_SSE_UPGRADE_FROM="$from" prove -I t/lib t/upgrade/container.t || rc=1

copy=$repo/target/debian-root/bullseye-upgrade
DEBIAN_ROOT_PACKAGES="ca-certificates nginx perl curl openssl" DEBIAN_ROOT_COPY=bullseye-upgrade \
    DEBIAN_ROOT_HOST=1 ./scripts/debian-root.sh bullseye \
    env TEST_SSE_UPGRADE_FROM="/src${from#"$repo"}" \
    ${TEST_SSE_UPGRADE_INSTALLER:+TEST_SSE_UPGRADE_INSTALLER="$TEST_SSE_UPGRADE_INSTALLER"} \
    prove -v -I t/lib t/upgrade/debian.t || rc=1
# the copy goes (about 400 MB), never through a mount
grep -q " $copy/" /proc/mounts || rm -rf "$copy"
exit $rc
