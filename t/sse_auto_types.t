#!/usr/bin/perl

# Tests for sse_auto: the streams it knows with no configuration. Stream types (NDJSON,
# gRPC-web...) always stream; stream-if-unsized types (text/plain, no Content-Type...) stream
# when the upstream sends no Content-Length and the response is not being cached;
# "sse_auto_unsized_types" sets that list like gzip_types, or turns the rule off.

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

my $t = Test::Nginx->new()->has(qw/http proxy cache http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

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

    log_format sse '$request_uri sse_auto="$sse_auto"';

    proxy_cache_path  %%TESTDIR%%/cache  keys_zone=text:1m;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        access_log  %%TESTDIR%%/sse.log sse;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        # chunked responses, as most application servers send them
        location /chunked/ {
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:8081;
        }

        location /chunked/off/ {
            sse_auto off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:8081;
        }

        # a cache that would store anything: the upstream's Cache-Control is ignored
        location /cache/ {
            proxy_http_version 1.1;
            proxy_cache text;
            proxy_cache_valid 200 1m;
            proxy_ignore_headers Cache-Control;
            proxy_no_cache $http_authorization;
            add_header X-Cache $upstream_cache_status always;
            proxy_pass http://127.0.0.1:8081;
        }

        location /cache/off/ {
            sse_auto off;
            proxy_http_version 1.1;
            proxy_cache text;
            proxy_cache_valid 200 1m;
            proxy_ignore_headers Cache-Control;
            proxy_no_cache $http_authorization;
            add_header X-Cache $upstream_cache_status always;
            proxy_pass http://127.0.0.1:8081;
        }

        location /cache/404/ {
            proxy_http_version 1.1;
            proxy_cache text;
            proxy_cache_valid 200 1m;
            proxy_ignore_headers Cache-Control;
            proxy_pass http://127.0.0.1:8081;
        }

        location /ndjson/ {
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /ndjson/off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /sized-only/ {
            sse_auto_unsized_types off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /html/ {
            sse_auto_unsized_types text/html;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8444 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        sse_auto_unsized_types text/csv none;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /own/ {
            sse_auto_unsized_types application/x-custom;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

# workers (not root) must reach the cache directory
chmod(0755, $t->testdir());

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(39);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri, $port, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port($port // 8443), %opts);
}

sub text {
	my (%q) = @_;
	return query(ct => 'text/plain; charset=utf-8', fmt => 'line', %q);
}

sub upstream_request {
	my ($r) = @_;
	return join ',', map { $_->{req} } @{$r->{records}};
}

my ($r, $first, $second);

# stream types: NDJSON as Ollama's native API sends it, gRPC-web

$r = get('/ndjson/api' . query(ct => 'application/x-ndjson', fmt => 'ndjson', n => 2,
	gap => 1100));
streams_ok($r, 'ndjson: live', n => 2);
unlike($r->{body}, qr/^:/m, 'ndjson: never a heartbeat in it');
like($r->{body}, qr/\A(\{"seq":\d+,"sent":[\d.]+,"req":\d+\}\x0a){2}\z/, 'ndjson: body intact');
held_ok(get('/ndjson/off/api' . query(ct => 'application/x-ndjson', fmt => 'ndjson')),
	'ndjson: control');

streams_ok(get('/grpc' . query(ct => 'application/grpc-web+proto', fmt => 'line')),
	'grpc-web: live');
held_ok(get('/off/grpc' . query(ct => 'application/grpc-web+proto', fmt => 'line')),
	'grpc-web: control');

# text/plain without Content-Length: close-delimited and chunked

$r = get('/stream' . text());
streams_ok($r, 'text/plain, close-delimited: live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'text/plain: downstream hint');
held_ok(get('/off/stream' . text()), 'text/plain, close-delimited: control');

streams_ok(get('/chunked/stream' . text(chunked => 1)), 'text/plain, chunked: live');
held_ok(get('/chunked/off/stream' . text(chunked => 1)), 'text/plain, chunked: control');

# no Content-Type at all (Starlette's StreamingResponse without media_type)

streams_ok(get('/untyped' . query(ct => 'none', fmt => 'line')), 'no Content-Type: live');
held_ok(get('/off/untyped' . query(ct => 'none', fmt => 'line')), 'no Content-Type: control');

# with Content-Length: a file or a complete reply, buffered as always

$r = get('/sized' . text(len => 1));
held_ok($r, 'text/plain with Content-Length: buffered');
is(scalar @{$r->{records}}, 3, 'text/plain with Content-Length: complete');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'text/plain with Content-Length: no hint');
streams_ok(get('/sized' . query(ct => 'text/event-stream', len => 1)),
	'event stream with Content-Length: still a stream');

# on a proxy_cache location, an unsized text response is stored as before

$first = get('/cache/stream' . text(chunked => 1));
$second = get('/cache/stream' . text(chunked => 1));
held_ok($first, 'cache: unsized text/plain buffered');
is($first->{headers}{'x-cache'}, 'MISS', 'cache: first response from the upstream');
is($second->{headers}{'x-cache'}, 'HIT', 'cache: stored, a HIT next time');
is(upstream_request($second), upstream_request($first), 'cache: replayed from cache');

# ... but not when nginx will not store it: proxy_no_cache, no validity for the status

my $auth = [ 'Authorization: Bearer x' ];
$r = get('/cache/stream' . text(chunked => 1, auth => 1), 8443, headers => $auth);
streams_ok($r, 'cache: proxy_no_cache matches: live');
isnt($r->{headers}{'x-cache'} // '', 'HIT', 'cache: proxy_no_cache matches: not from cache');
held_ok(get('/cache/off/stream' . text(chunked => 1, auth => 1), 8443, headers => $auth),
	'cache: proxy_no_cache matches: control');
streams_ok(get('/cache/404/stream' . text(chunked => 1, status => 404)),
	'cache: status without proxy_cache_valid: live');

# sse_auto_unsized_types off: only the stream types stream

held_ok(get('/sized-only/stream' . text()), 'unsized rule off: text/plain buffered');
held_ok(get('/sized-only/untyped' . query(ct => 'none', fmt => 'line')),
	'unsized rule off: no Content-Type buffered');
streams_ok(get('/sized-only/events'), 'unsized rule off: event streams still stream');

# a list replaces the default list, and "none" is in it only when given

streams_ok(get('/html/page' . query(ct => 'text/html', fmt => 'line')), 'list: text/html live');
held_ok(get('/html/stream' . text()), 'list: text/plain no longer in it');
held_ok(get('/html/untyped' . query(ct => 'none', fmt => 'line')), 'list: without none');

# inherited from the server level, replaced by a location's own list

streams_ok(get('/csv' . query(ct => 'text/csv', fmt => 'line'), 8444), 'server list: text/csv');
streams_ok(get('/untyped' . query(ct => 'none', fmt => 'line'), 8444), 'server list: none');
held_ok(get('/own/csv' . query(ct => 'text/csv', fmt => 'line'), 8444),
	'location list replaces the server list');
streams_ok(get('/own/x' . query(ct => 'application/x-custom', fmt => 'line'), 8444),
	'location list: its own type');

$t->stop();

# $sse_auto: "unsized" for the unsized rule, "switched" for stream types

my $log = $t->read_file('sse.log');
like($log, qr{^/stream\?\S+ sse_auto="unsized"$}m, 'log: unsized');
like($log, qr{^/sized\?ct=text\S+ sse_auto=""$}m, 'log: sized');

SKIP: {
	skip 'nginx built without --with-debug', 2 unless $t->has_module('debug');

	my $errors = $t->read_file('error.log');
	like($errors, qr/sse_auto: "text\/plain; charset=utf-8" response: unsized stream-if-unsized type, switched to unbuffered/,
		'debug log: unsized');
	like($errors, qr/sse_auto: "text\/plain; charset=utf-8" response left alone: not a stream media type, has Content-Length/,
		'debug log: sized');
}

###############################################################################
