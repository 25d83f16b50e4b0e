#!/usr/bin/perl

# Tests for sse_auto: a FastAPI LLM chat API behind the location a panel generates (1Panel's
# OpenResty reverse proxy, as in the seed blog post, without the "proxy_buffering off;
# proxy_read_timeout 300s;" it had to add by hand), over TLS. With only load_module, the
# unsized text/plain StreamingResponse streams, and so does one without a Content-Type; a
# PlainTextResponse, or a text/plain response that announces its Content-Length, stays
# buffered, however slowly it is sent.

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

# the project's venv (scripts/build/venv.sh, t/backends/requirements.txt): FastAPI as on PyPI today

my $python = "$FindBin::Bin/../target/venv/bin/python";
plan(skip_all => "no venv python at $python (run scripts/build/venv.sh)") unless -x $python;
plan(skip_all => 'fastapi or uvicorn missing in the venv (run scripts/build/venv.sh)')
	unless system("$python -c 'import fastapi, uvicorn' >/dev/null 2>&1") == 0;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

# The site as 1Panel generates it (proxy/root.conf), the app on port 8081 there. The control
# is the same site on another port, with sse_auto off.

my $site = <<'EOF';
        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        location ^~ / {
            proxy_pass http://127.0.0.1:8081;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header REMOTE-HOST $remote_addr;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_http_version 1.1;
            add_header X-Cache $upstream_cache_status;
            proxy_ssl_server_name off;
            proxy_ssl_name $proxy_host;
            add_header Alt-Svc 'h3=":443"; ma=2592000';
            add_header Cache-Control no-cache;
            add_header Strict-Transport-Security "max-age=31536000";
EOF

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format sse '\$server_port \$request_method \$request_uri sse_auto="\$sse_auto"';
    access_log  %%TESTDIR%%/sse.log sse;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

$site        }
    }

    server {
        listen       127.0.0.1:8444 ssl;
        server_name  localhost;

$site            sse_auto off;
        }
    }
}

EOF

my $port = port(8081);

# uvicorn as started in production, minus the access log; -B: no __pycache__ in the work tree

make_cert($t);
$t->run_daemon($python, '-B', '-m', 'uvicorn', '--app-dir', "$FindBin::Bin/backends",
	'--host', '127.0.0.1', '--port', $port, '--log-level', 'warning', 'fastapi_app:app');
$t->run()->plan(22);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "uvicorn did not start";

###############################################################################

my ($on, $off) = (port(8443), port(8444));

sub get {
	my ($uri, $port) = @_;
	return sse_get($uri, ssl => 1, port => $port);
}

# The chat endpoint takes its question as a JSON body, as the seed's frontend sends it.

sub ask {
	my ($port, $json) = @_;
	return sse_get('/ask-stream-chat', ssl => 1, port => $port,
		headers => [ 'Content-Type: application/json' ], body => $json);
}

my $question = '{"question": "what is SSE?", "session_id": "s-4711"}';

# the seed: StreamingResponse(generate(), media_type="text/plain", headers={"X-Session-ID"})

my $r = ask($on, $question);
streams_ok($r, 'chat: chunks arrive live', ms => 50);
is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'chat: type');
is($r->{headers}{'x-session-id'}, 's-4711', 'chat: X-Session-ID reaches the client');
is($r->{headers}{'x-accel-buffering'}, 'no', 'chat: downstream hint');
is($r->{headers}{'strict-transport-security'}, 'max-age=31536000', 'chat: add_header kept');

$r = ask($off, $question);
held_ok($r, 'chat: sse_auto off: control', ms => 50);
is($r->{headers}{'x-session-id'}, 's-4711', 'chat: sse_auto off: X-Session-ID');

# StreamingResponse without media_type: no Content-Type, no Content-Length

$r = get('/untyped', $on);
streams_ok($r, 'untyped: chunks arrive live', ms => 50);
ok(!exists $r->{headers}{'content-type'}, 'untyped: no Content-Type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'untyped: downstream hint');

held_ok(get('/untyped', $off), 'untyped: sse_auto off: control', ms => 50);

# PlainTextResponse: a complete reply with Content-Length, left alone

$r = get('/answer', $on);
is($r->{status}, 200, 'answer: status');
is(scalar @{$r->{records}}, 3, 'answer: body');
like($r->{headers}{'content-length'} // '', qr/^\d+$/, 'answer: Content-Length kept');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'answer: no downstream hint');

# text/plain with Content-Length, sent in pieces 300 ms apart: buffered as before, which the
# timing shows (the first piece arrives with the last)

$r = get('/sized', $on);
held_ok($r, 'sized: slow text/plain with Content-Length stays buffered');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'sized: no downstream hint');

# $sse_auto in the access log: why each response was (not) a stream

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^$on POST /ask-stream-chat sse_auto="unsized"$}m, 'log: chat');
like($log, qr{^$off POST /ask-stream-chat sse_auto=""$}m, 'log: chat: sse_auto off');
like($log, qr{^$on GET /untyped sse_auto="unsized"$}m, 'log: untyped');
like($log, qr{^$on GET /answer sse_auto=""$}m, 'log: answer');
like($log, qr{^$on GET /sized sse_auto=""$}m, 'log: sized');

###############################################################################
