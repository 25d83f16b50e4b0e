#!/bin/sh
# Run the Test::Nginx self tests from the repository root.
#
#   t/selftest/run.sh                     # uses t/lib/Test/Nginx.pm
#   TEST_NGINX_BINARY=/path/nginx t/selftest/run.sh
#   t/selftest/run.sh -I /path/to/nginx-tests/lib   # check against upstream
#
# Without TEST_NGINX_BINARY, the newest target/*/build/nginx-sys-*/out/objs/nginx
# is used, else /usr/sbin/nginx.

cd "$(dirname "$0")/../.." || exit 1
exec prove "$@" -I t/lib t/selftest/
