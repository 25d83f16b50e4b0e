#!/usr/bin/perl

# Tests for sse_auto: proxy_pass to a real ASGI stack, uvicorn and Starlette (Debian's
# python3-uvicorn, python3-starlette), streaming with StreamingResponse: text/event-stream
# (Starlette adds "; charset=utf-8"), and FastAPI-style text/plain, which streams only where
# sse_auto_types lists it.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# Debian's Python, where python3-uvicorn and python3-starlette install

my $python = '/usr/bin/python3';
plan(skip_all => 'python3 not installed') unless -x $python;
plan(skip_all => 'python3-uvicorn or python3-starlette not installed')
	unless system("$python -c 'import uvicorn, starlette' >/dev/null 2>&1") == 0;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

# a stock site: proxy_pass, nothing about buffering

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # what is a stream, and what is left alone: soft streaming of buffered responses
    # without a length is t/sse_auto_soft.t's
    sse_auto_soft off;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        location / {
            proxy_pass  http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass  http://127.0.0.1:8081/;
        }

        location /llm/ {
            sse_auto_types text/plain;
            proxy_pass  http://127.0.0.1:8081/;
        }

        location /llm-off/ {
            sse_auto off;
            sse_auto_types text/plain;
            proxy_pass  http://127.0.0.1:8081/;
        }

        location /sized-only/ {
            sse_auto_unsized_types off;
            proxy_pass  http://127.0.0.1:8081/;
        }
    }
}

EOF

my $port = port(8081);

# uvicorn as started in production, minus the access log; -B: no __pycache__ in the work tree

make_cert($t);
$t->run_daemon($python, '-B', '-m', 'uvicorn', '--app-dir', "$FindBin::Bin/backends",
	'--host', '127.0.0.1', '--port', $port, '--log-level', 'warning', 'asgi_sse:app');
$t->run()->plan(11);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "uvicorn did not start";

###############################################################################

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'starlette: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream; charset=utf-8', 'starlette: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'starlette: downstream hint');

held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'starlette: sse_auto off: control');

# text/plain as a stream type: streamed whatever its length

$r = sse_get('/llm/plain', ssl => 1, port => port(8443));
streams_ok($r, 'text/plain: sse_auto_types: lines arrive live');
is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'text/plain: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'text/plain: downstream hint');

# with no configuration: text/plain without Content-Length is a stream

$r = sse_get('/plain', ssl => 1, port => port(8443));
streams_ok($r, 'text/plain, unsized: lines arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'text/plain, unsized: downstream hint');
held_ok(sse_get('/sized-only/plain', ssl => 1, port => port(8443)),
	'text/plain: sse_auto_unsized_types off: control');
held_ok(sse_get('/llm-off/plain', ssl => 1, port => port(8443)),
	'text/plain: sse_auto off: control');

###############################################################################
