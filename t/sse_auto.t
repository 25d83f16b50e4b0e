#!/usr/bin/perl

# Tests for sse_auto: with only load_module, proxied event streams are forwarded as each event
# arrives; "sse_auto off" is the control and must show stock nginx buffering the same stream.

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

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
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

    server {
        listen       127.0.0.1:8080;
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
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(28);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my ($r, $off);

# TLS with HTTP/1.1 downstream: stock nginx holds every event until the stream ends.

$r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'tls: events arrive live', ms => 50);
is($r->{headers}{'content-type'}, 'text/event-stream', 'tls: content type kept');
is($r->{headers}{'x-accel-buffering'}, 'no', 'tls: downstream hint');

$off = sse_get('/off/events', ssl => 1, port => port(8443));
held_ok($off, 'tls: sse_auto off holds events', ms => 50);
ok(!exists $off->{headers}{'x-accel-buffering'}, 'tls: sse_auto off: no hint');

# the response header leaves at once, before the first event: clients show "connecting"
# until it arrives

$r = sse_get('/events' . query(n => 1, first => 2000), ssl => 1, port => port(8443));
cmp_ok($r->{headers_ms} // 9999, '<', 500, 'tls: header before the first event');
$off = sse_get('/off/events' . query(n => 1, first => 2000), ssl => 1, port => port(8443));
cmp_ok($off->{headers_ms} // 0, '>=', 2000, 'tls: sse_auto off: header waits: control');

# plain HTTP

streams_ok(sse_get('/events'), 'http: events arrive live');
held_ok(sse_get('/off/events'), 'http: sse_auto off holds events');

# the media type is matched ignoring case, whitespace and parameters

for my $ct ('text/event-stream; charset=utf-8', 'Text/Event-Stream',
	'TEXT/EVENT-STREAM ; foo="bar;baz"')
{
	my $q = query(ct => $ct);
	streams_ok(sse_get("/events$q", ssl => 1, port => port(8443)),
		"content type '$ct' streams");
	held_ok(sse_get("/off/events$q", ssl => 1, port => port(8443)),
		"content type '$ct': control");
}

# other media types stay buffered, and look like it (text/plain and responses without
# Content-Type are streams when unsized: t/sse_auto_unsized.t)

for my $ct ('text/html', 'text/event-streamX', 'text/event-stream-x', 'application/json') {
	$r = sse_get('/other' . query(ct => $ct), ssl => 1, port => port(8443));
	held_ok($r, "content type '$ct' stays buffered");
}

ok(!exists $r->{headers}{'x-accel-buffering'}, 'no hint on buffered responses');

# a stream the upstream ends in the middle of an event loses nothing that was sent

$r = sse_get('/events' . query(cut => 1), ssl => 1, port => port(8443));
streams_ok($r, 'stream cut mid-event: events before the cut arrive live');
like($r->{body}, qr/req=\d+\x0a\x0aid: 0\x0ada$/s, 'stream cut mid-event: partial event kept');

# $sse_auto tells in the access log which responses were streams, and why

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^/events sse_auto="switched"$}m, 'log: switched');
like($log, qr{^/off/events sse_auto=""$}m, 'log: sse_auto off');
like($log, qr{^/other\?ct=text%2Fhtml sse_auto=""$}m, 'log: other type');

# every decision is logged at debug level

SKIP: {
	skip 'nginx built without --with-debug', 3 unless $t->has_module('debug');

	my $errors = $t->read_file('error.log');
	like($errors, qr/sse_auto: "text\/event-stream" response: stream type, switched to unbuffered/,
		'debug log: switched');
	like($errors, qr/sse_auto: "text\/event-stream" response left alone: sse_auto off/,
		'debug log: off');
	like($errors, qr/sse_auto: "text\/html" response left alone: not a stream media type/,
		'debug log: other type');
}

###############################################################################
