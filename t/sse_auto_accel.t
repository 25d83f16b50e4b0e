#!/usr/bin/perl

# Tests for sse_auto: the upstream's X-Accel-Buffering header, and the hint sse_auto sends
# downstream.

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

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /ignore/ {
            proxy_ignore_headers X-Accel-Buffering;
            proxy_pass http://127.0.0.1:8081;
        }

        location /ignore/off/ {
            sse_auto off;
            proxy_ignore_headers X-Accel-Buffering;
            proxy_pass http://127.0.0.1:8081;
        }

        location /nohint/ {
            sse_auto_downstream_hint off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /pass/ {
            proxy_pass_header X-Accel-Buffering;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(17);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri) = @_;
	return sse_get($uri, ssl => 1, port => port(8443));
}

my $yes = query(h => 'X-Accel-Buffering: yes');
my ($r);

# the application's explicit word wins

held_ok(get("/events$yes"), 'upstream "X-Accel-Buffering: yes" keeps buffering');
held_ok(get('/events' . query(h => 'X-Accel-Buffering: YES')), 'value is case-insensitive');
held_ok(get('/events' . query(h => ['X-Accel-Buffering: no', 'X-Accel-Buffering: yes'])),
	'the last X-Accel-Buffering header counts');
streams_ok(get('/events' . query(h => ['X-Accel-Buffering: yes', 'X-Accel-Buffering: no'])),
	'the last X-Accel-Buffering header counts: no');
streams_ok(get('/events' . query(h => 'X-Accel-Buffering: maybe')),
	'invalid X-Accel-Buffering value is ignored, as nginx does');
held_ok(get('/off/events' . query(h => 'X-Accel-Buffering: maybe')),
	'invalid X-Accel-Buffering value: control');

# ... unless nginx is told to ignore the header

streams_ok(get("/ignore/events$yes"), 'proxy_ignore_headers X-Accel-Buffering: streams');
held_ok(get("/ignore/off/events$yes"), 'proxy_ignore_headers: control');

# "X-Accel-Buffering: no" works as in stock nginx, with or without sse_auto

$r = get('/off/events' . query(h => 'X-Accel-Buffering: no'));
streams_ok($r, 'upstream "no" streams with sse_auto off');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'upstream header hidden as in stock nginx');

$r = get('/other' . query(ct => 'application/json', h => 'X-Accel-Buffering: no'));
streams_ok($r, 'upstream "no" streams any type');

# the hint for proxies in front, and its switch

is(get('/events')->{headers}{'x-accel-buffering'}, 'no', 'hint sent');

$r = get('/nohint/events');
streams_ok($r, 'sse_auto_downstream_hint off: still streams');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'sse_auto_downstream_hint off: no hint');

$r = get('/pass/events' . query(h => 'X-Accel-Buffering: no'));
is($r->{headers}{'x-accel-buffering'}, 'no', 'passed upstream header not duplicated');

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^/events\?h=X-Accel-Buffering%3A%20yes sse_auto=""$}m, 'log: upstream yes');
like($log, qr{^/ignore/events\?\S+ sse_auto="switched"$}m, 'log: ignored yes');

###############################################################################
