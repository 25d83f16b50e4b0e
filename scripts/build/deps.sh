#!/bin/sh
# Installs the Debian packages the build and the test suite need, only those that are missing.
# Usage: scripts/build/deps.sh build|test, or scripts/build/deps.sh packages NAME... (those named)
set -eu

# libpcre3-dev: nginx 1.18.0 (the matrix, the release) knows PCRE1 only
build="libclang-dev libpcre2-dev libpcre3-dev zlib1g-dev libssl-dev pkg-config make binutils"
# real backends of the suite: php-fpm (FastCGI), uWSGI (uwsgi and SCGI), uvicorn + Starlette
# (ASGI), Node; python3-venv for scripts/build/venv.sh (current FastAPI and the MCP SDK)
test="$build curl openssl perl libio-socket-ssl-perl php-fpm uwsgi uwsgi-plugin-python3
      python3 python3-uvicorn python3-starlette python3-venv nodejs"

case "${1:-test}" in
build) want=$build ;;
test) want=$test ;;
packages) shift; want=$* ;;
*) echo "usage: $0 build|test|packages NAME..." >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null \
        | grep -Eq "^install ok installed ($(dpkg --print-architecture)|all)\$" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
