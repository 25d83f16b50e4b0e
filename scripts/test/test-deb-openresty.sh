#!/usr/bin/env bash
# make test-deb-openresty: builds openresty-sse-auto (scripts/package/deb-openresty.sh), again in other
# directories unless DEB_TWICE=0 (the reproducibility case), the stand-in of OpenResty's deb
# (scripts/package/openresty-standin.sh), and runs t/deb-openresty/ with them (as root: it installs
# and purges both packages).
#
# Usage: scripts/test/test-deb-openresty.sh [X.Y.Z.W]   (default 1.27.1.2)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
or=${1:-1.27.1.2}

if ! command -v lintian >/dev/null && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends lintian >/dev/null
fi

start=$SECONDS
deb=$(./scripts/package/deb-openresty.sh "$or" 2>target/deb-openresty.log) \
    || { tail -n 40 target/deb-openresty.log; exit 1; }
echo "test-deb-openresty: built in $((SECONDS - start)) s: $deb"
again=
if [ "${DEB_TWICE:-1}" = 1 ]; then
    start=$SECONDS
    again=$(DEB_OUT_DIR="$repo/target/deb-openresty-again" ./scripts/package/deb-openresty.sh "$or" \
        2>target/deb-openresty-again.log) || { tail -n 40 target/deb-openresty-again.log; exit 1; }
    echo "test-deb-openresty: built again in $((SECONDS - start)) s: $again"
fi
start=$SECONDS
standin=$(./scripts/package/openresty-standin.sh "$or" 2>target/openresty-standin.log) \
    || { tail -n 40 target/openresty-standin.log; exit 1; }
echo "test-deb-openresty: stand-in built in $((SECONDS - start)) s: $standin"

TEST_SSE_OPENRESTY_DEB="$deb" TEST_SSE_OPENRESTY_DEB_AGAIN="$again" \
    TEST_SSE_OPENRESTY_STANDIN="$standin" prove -I t/lib t/deb-openresty/
