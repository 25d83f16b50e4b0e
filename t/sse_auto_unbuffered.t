#!/usr/bin/perl

# Tests for sse_auto: streams nginx already sends unbuffered (proxy_buffering off, the
# upstream's "X-Accel-Buffering: no") get the same treatment as the streams sse_auto switches:
# the stream read timeout, heartbeats and the hint for proxies in front.

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

    log_format sse '$request_uri sse_auto="$sse_auto"';

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        access_log  %%TESTDIR%%/sse.log sse;

        proxy_read_timeout 1s;

        # what the guides tell people to write
        location /unbuffered/ {
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /unbuffered/off/ {
            sse_auto off;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/ {
            proxy_buffering off;
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/off/ {
            sse_auto off;
            proxy_buffering off;
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        # the application says "X-Accel-Buffering: no" itself
        location / {
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(23);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri) = @_;
	return sse_get($uri, ssl => 1, port => port(8443));
}

sub seqs {
	my ($r) = @_;
	return join ',', map { $_->{seq} } @{$r->{records}};
}

sub heartbeats {
	my ($r) = @_;
	return scalar grep { $_ eq ':' } split /\x0a\x0a/, $r->{body} // '';
}

# two events 2.5s apart: a silence longer than proxy_read_timeout 1s

my $quiet = query(n => 2, gap => 2500);
my $no = query(n => 2, gap => 2500, h => 'X-Accel-Buffering: no');
my ($r, $off);

# proxy_buffering off

$r = get("/unbuffered/events$quiet");
is(seqs($r), '1,2', 'proxy_buffering off: quiet stream arrives whole');
is($r->{exit}, 0, 'proxy_buffering off: stream ends normally');
is($r->{headers}{'x-accel-buffering'}, 'no', 'proxy_buffering off: downstream hint');

$off = get("/unbuffered/off/events$quiet");
isnt(seqs($off), '1,2', 'proxy_buffering off: control: cut by proxy_read_timeout');
ok(!exists $off->{headers}{'x-accel-buffering'}, 'proxy_buffering off: control: no hint');

# a plain response of the same location keeps the location's timeout

$r = get('/unbuffered/plain' . query(n => 2, gap => 2500, ct => 'application/json',
	fmt => 'line'));
isnt(seqs($r), '1,2', 'plain response of the same location: cut at proxy_read_timeout');
is($r->{exit}, 18, 'plain response: truncated');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'plain response: no hint');

# heartbeats on such a location

$r = get('/hb/events' . query(n => 2, gap => 1100));
cmp_ok(heartbeats($r), '>=', 2, 'proxy_buffering off: heartbeats');
streams_ok($r, 'proxy_buffering off: heartbeats: still live', n => 2);
is(heartbeats(get('/hb/off/events' . query(n => 2, gap => 1100))), 0,
	'proxy_buffering off: heartbeats: control');

# the upstream's "X-Accel-Buffering: no"

$r = get("/events$no");
is(seqs($r), '1,2', 'upstream no: quiet stream arrives whole');
is($r->{headers}{'x-accel-buffering'}, 'no', 'upstream no: downstream hint');
cmp_ok(heartbeats($r), '>=', 2, 'upstream no: heartbeats');

$off = get("/off/events$no");
isnt(seqs($off), '1,2', 'upstream no: control: cut by proxy_read_timeout');
is(heartbeats($off), 0, 'upstream no: control: no heartbeats');
ok(!exists $off->{headers}{'x-accel-buffering'}, 'upstream no: control: no hint');

streams_ok(get('/events' . query(h => 'X-Accel-Buffering: no')), 'upstream no: live');

$t->stop();

# the access log tells the cases apart

my $log = $t->read_file('sse.log');
like($log, qr{^/unbuffered/events\S* sse_auto="unbuffered"$}m, 'log: proxy_buffering off');
like($log, qr{^/events\?n=2\S+ sse_auto="unbuffered"$}m, 'log: upstream no');
like($log, qr{^/unbuffered/plain\S* sse_auto=""$}m, 'log: plain response');
like($log, qr{^/unbuffered/off/events\S* sse_auto=""$}m, 'log: sse_auto off');

SKIP: {
	skip 'nginx built without --with-debug', 1 unless $t->has_module('debug');

	like($t->read_file('error.log'),
		qr/sse_auto: "text\/event-stream" response: stream, already unbuffered/,
		'debug log: already unbuffered');
}

###############################################################################
