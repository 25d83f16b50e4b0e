#!/usr/bin/env bash
# nginx's own test suite (nginx-tests, from ../shared/sources/nginx-tests-*.tar.gz) against
# nginx 1.30.4 built with the modules those tests use, without and with sse_auto loaded,
# compared per test (scripts/test/nginx_tests.py). Only the files of what the module can touch:
# upstreams, their filters and subrequests, HTTP/2 and HTTP/3. Where the shared folder is
# missing (a user's own clone) it says so and passes.
#
# Usage: scripts/test/nginx-tests.sh [file.t ...]    NGINX_TESTS_JOBS=2, SSE_SOURCES=<folder>
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
sources=${SSE_SOURCES:-$repo/../shared/sources}

tarball=$(ls "$sources"/nginx-tests-*.tar.gz 2>/dev/null | head -n 1 || true)
nginx_src=$sources/nginx-1.30.4.tar.gz
if [ -z "$tarball" ] || [ ! -f "$nginx_src" ]; then
    echo "nginx-tests: no nginx-tests-*.tar.gz or nginx-1.30.4.tar.gz in $sources: skipped"
    exit 0
fi

# the backends and clients the files use: FastCGI, SCGI, memcached, WebSocket, HTTP/3's crypto
want="libfcgi-perl libscgi-perl memcached libcache-memcached-perl libcache-memcached-fast-perl
    libprotocol-websocket-perl libcryptx-perl libio-socket-ssl-perl libnet-ssleay-perl
    uwsgi uwsgi-plugin-python3 python3"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null \
        | grep -Eq "^install ok installed ($(dpkg --print-architecture)|all)\$" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "nginx-tests: missing Debian packages:$missing"; exit 1; }
    echo "nginx-tests: installing$missing"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends $missing >/dev/null
fi

work=$repo/target/nginx-tests
name=$(basename "$tarball" .tar.gz)
if [ ! -f "$work/$name/lib/Test/Nginx.pm" ]; then
    rm -rf "${work:?}/$name" && mkdir -p "$work/$name"
    tar -xzf "$tarball" -C "$work/$name" --strip-components=1
fi
src=$work/nginx-1.30.4
[ -f "$src/src/core/nginx.h" ] || tar -xzf "$nginx_src" -C "$work"

start=$SECONDS
eval "$(NGINX_BUILD_NAME=nginx-tests-1.30.4 ./scripts/build/nginx-build.sh "$src" \
    --with-http_v3_module --with-http_addition_module --with-http_sub_module \
    --with-http_dav_module --with-http_flv_module --with-http_mp4_module \
    --with-http_gunzip_module --with-http_gzip_static_module --with-http_auth_request_module \
    --with-http_random_index_module --with-http_secure_link_module \
    --with-http_degradation_module --with-http_slice_module --with-http_stub_status_module \
    --with-stream --with-stream_ssl_module --with-stream_realip_module \
    --with-stream_ssl_preread_module --with-mail --with-mail_ssl_module)"
echo "nginx-tests: nginx $("$nginx" -v 2>&1 | sed 's/.*\///') with the module, built in $((SECONDS - start)) s"

if [ $# -gt 0 ]; then
    files=("$@")
else
    files=()
    cd "$work/$name"
    for f in proxy*.t fastcgi*.t uwsgi*.t scgi*.t grpc*.t memcached*.t ssi*.t gzip*.t \
        gunzip*.t sub_filter*.t addition*.t slice*.t upstream*.t mirror*.t auth_request*.t \
        limit_rate*.t h2*.t h3*.t; do
        [ -f "$f" ] && files+=("$f")
    done
    cd "$repo"
fi

exec python3 scripts/test/nginx_tests.py --tests "$work/$name" --nginx "$nginx" --module "$module" \
    --jobs "${NGINX_TESTS_JOBS:-2}" --known scripts/test/nginx-tests.known "${files[@]}"
