#!/usr/bin/perl

# Tests for sse_auto: HTTP/3 clients (http3 on, nginx built --with-http_v3_module), as browsers
# use wherever Alt-Svc advertises h3 (1Panel sets Alt-Svc: h3=":443"). A real HTTP/3 client,
# aioquic (backends/h3_get.py, from the tests' Python environment, scripts/build/venv.sh): an event
# stream over HTTP/3 is live with nothing but load_module and held with sse_auto off (a
# close-delimited upstream); heartbeats arrive; the stream timeout applies instead of
# proxy_read_timeout. TLS HTTP/1.1 on the same port, for comparison of the same location.

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

plan(skip_all => 'nginx built without --with-http_v3_module (the matrix entries nginx-1.30 '
	. 'and nginx-1.31 have it)') unless $t->has_module('http_v3');

my $python = h3_python();
plan(skip_all => 'no aioquic: run scripts/build/venv.sh (target/venv)') unless $python;

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_8980_UDP%% quic;
        listen       127.0.0.1:8443 ssl;
        http3        on;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        add_header   Alt-Svc 'h3=":%%PORT_8980_UDP%%"; ma=86400';

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/ {
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/off/ {
            sse_auto off;
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /timeout/ {
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /timeout/off/ {
            sse_auto off;
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(15);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri, %opts) = @_;
	return h3_get($uri, port => port(8980, udp => 1), python => $python, %opts);
}

sub seqs {
	my ($r) = @_;
	return join ',', map { $_->{seq} } @{$r->{records}};
}

sub heartbeats {
	my ($r) = @_;
	return scalar grep { $_ eq ':' } split /\x0a\x0a/, $r->{body} // '';
}

my $r;

# the Alt-Svc a browser follows, on the TLS HTTP/1.1 response of the same server

$r = sse_get('/events', ssl => 1, port => port(8443));
like($r->{headers}{'alt-svc'} // '', qr/^h3=":\d+"/, 'TCP response advertises h3');

# an event stream over HTTP/3: live, and the same request with sse_auto off is held

$r = get('/events');
is($r->{status}, 200, 'h3: status') or diag("h3_get: $r->{end} " . ($r->{error} // ''));
is($r->{end}, 'end', 'h3: stream ended normally');
streams_ok($r, 'h3: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'h3: downstream hint');
held_ok(get('/off/events'), 'h3: sse_auto off: control');

# the same with a chunked upstream (stock nginx passes chunks on to HTTP/3 as they come,
# NOTES section 4): live either way, so only the switched stream's hint tells them apart

my $chunked = query(chunked => 1);
streams_ok(get("/events$chunked"), 'h3, chunked upstream: live');
$r = get("/off/events$chunked");
ok(!defined $r->{headers}{'x-accel-buffering'}, 'h3, chunked upstream: sse_auto off: no hint');

# heartbeats between events of a quiet stream

my $quiet = query(n => 2, gap => 1100);
$r = get("/hb/events$quiet");
cmp_ok(heartbeats($r), '>=', 2, 'h3: heartbeats during a quiet period');
like($r->{body} // '', qr/^id: 1\x0a[^\x0a]+\x0a\x0a(:\x0a\x0a)+id: 2\x0a[^\x0a]+\x0a\x0a$/,
	'h3: heartbeats only between the events');
streams_ok($r, 'h3: heartbeats: events live', n => 2);
is(heartbeats(get("/hb/off/events$quiet")), 0, 'h3: sse_auto off: no heartbeats');

# quiet for longer than proxy_read_timeout: the stream timeout applies

$quiet = query(n => 2, gap => 1800);
$r = get("/timeout/events$quiet");
is(seqs($r), '1,2', 'h3: quiet stream survives proxy_read_timeout');
is($r->{end}, 'end', 'h3: stream completed normally');
isnt(seqs(get("/timeout/off/events$quiet")), '1,2',
	'h3: sse_auto off: cut by proxy_read_timeout');

###############################################################################
