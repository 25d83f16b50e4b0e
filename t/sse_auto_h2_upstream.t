#!/usr/bin/perl

# Tests for sse_auto: HTTP/2 upstreams (proxy_http_version 2, nginx 1.29.4 and later) to a
# real HTTP/2 server, Node's built-in http2 module (backends/node_h2_sse.js), over h2c and TLS:
# events live with nothing but load_module, held with sse_auto off; the stream timeout
# instead of proxy_read_timeout; heartbeats; early hints (103) from the h2 upstream.
#
# Clients: curl over TLS HTTP/1.1, the downstream on which stock nginx holds an HTTP/2
# upstream's events on every version (the control).

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

my ($node) = grep { -x } map { ("$_/node", "$_/nodejs") } split /:/, $ENV{PATH} // '';
plan(skip_all => 'node not installed') unless $node;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl http_v2/)
	->has_daemon('openssl')->has_daemon('curl');

plan(skip_all => 'HTTP/2 upstreams (proxy_http_version 2) need nginx 1.29.4 or later')
	unless $t->has_version('1.29.4');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        proxy_http_version 2;

        # h2c: HTTP/2 over cleartext
        location / {
            proxy_pass  http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass  http://127.0.0.1:8081;
        }

        # HTTP/2 over TLS (ALPN h2)
        location /tls/ {
            proxy_pass  https://127.0.0.1:8082;
        }

        location /tls/off/ {
            sse_auto off;
            proxy_pass  https://127.0.0.1:8082;
        }

        location /timeout/ {
            proxy_read_timeout 1s;
            proxy_pass  http://127.0.0.1:8081;
        }

        location /timeout/off/ {
            sse_auto off;
            proxy_read_timeout 1s;
            proxy_pass  http://127.0.0.1:8081;
        }

        location /hb/ {
            sse_auto_heartbeat 300ms;
            proxy_pass  http://127.0.0.1:8081;
        }

        location /hb/off/ {
            sse_auto off;
            sse_auto_heartbeat 300ms;
            proxy_pass  http://127.0.0.1:8081;
        }

        location /hints/ {
            early_hints 1;
            proxy_pass  http://127.0.0.1:8081;
        }

        location /hints/off/ {
            sse_auto off;
            early_hints 1;
            proxy_pass  http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
my $d = $t->testdir();
$t->run_daemon($node, "$FindBin::Bin/backends/node_h2_sse.js", port(8081));
$t->run_daemon($node, "$FindBin::Bin/backends/node_h2_sse.js", port(8082),
	"$d/localhost.crt", "$d/localhost.key");
$t->run()->plan(17);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket('127.0.0.1:' . port(8081)) } 1 .. 6) or die "node (h2c) did not start";
(grep { $t->waitforsocket('127.0.0.1:' . port(8082)) } 1 .. 6) or die "node (TLS) did not start";

###############################################################################

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
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

# h2c

$r = get('/events');
streams_ok($r, 'h2c upstream: events arrive live');
like($r->{headers}{'x-upstream-protocol'} // '', qr/^h2 2\.0$/, 'h2c upstream: spoke HTTP/2');
is($r->{headers}{'x-accel-buffering'}, 'no', 'h2c upstream: downstream hint');
held_ok(get('/off/events'), 'h2c upstream: sse_auto off: control');

# TLS

$r = get('/tls/events');
streams_ok($r, 'TLS h2 upstream: events arrive live');
like($r->{headers}{'x-upstream-protocol'} // '', qr/^h2 2\.0$/, 'TLS h2 upstream: spoke HTTP/2');
held_ok(get('/tls/off/events'), 'TLS h2 upstream: sse_auto off: control');

# quiet for longer than proxy_read_timeout: the stream timeout applies

my $quiet = query(n => 2, gap => 1800);
$r = get("/timeout/events$quiet");
is(seqs($r), '1,2', 'h2 upstream: quiet stream survives proxy_read_timeout');
is($r->{exit}, 0, 'h2 upstream: stream completed normally');
isnt(seqs(get("/timeout/off/events$quiet")), '1,2',
	'h2 upstream: sse_auto off: cut by proxy_read_timeout');

# heartbeats between events

$quiet = query(n => 2, gap => 1100);
$r = get("/hb/events$quiet");
cmp_ok(heartbeats($r), '>=', 2, 'h2 upstream: heartbeats during a quiet period');
like($r->{body} // '', qr/^id: 1\x0a[^\x0a]+\x0a\x0a(:\x0a\x0a)+id: 2\x0a[^\x0a]+\x0a\x0a$/,
	'h2 upstream: heartbeats only between the events');
is(heartbeats(get("/hb/off/events$quiet")), 0, 'h2 upstream: sse_auto off: no heartbeats');

# early hints from the HTTP/2 upstream: the 103 passes as it came, the stream still switches

$r = get('/hints/events' . query(hints => 1));
streams_ok($r, 'h2 upstream, early hints: events arrive live');
like($r->{raw} // '', qr{\AHTTP/1\.1 103 [^\x0a]*\x0a(?:[^\x0a]+\x0a)*?link: </style\.css>; rel=preload; as=style\x0d?\x0a}im,
	'h2 upstream, early hints: 103 with its Link header first');
$r = get('/hints/off/events' . query(hints => 1));
held_ok($r, 'h2 upstream, early hints: sse_auto off: control');
like($r->{raw} // '', qr{\AHTTP/1\.1 103 }, 'h2 upstream, early hints: sse_auto off: 103 too');

###############################################################################
