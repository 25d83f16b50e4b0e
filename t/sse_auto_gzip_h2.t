#!/usr/bin/perl

# Tests for sse_auto: streams keep streaming through the gzip filter (one sync flush per event)
# and over HTTP/2.

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

my $t = Test::Nginx->new()->has(qw/http proxy gzip http_ssl http_v2/)
	->has_daemon('openssl')->has_daemon('curl');

# "http2 on" appeared in 1.25.1; older versions take it as a listen parameter
my ($h2_listen, $h2) = $t->has_version('1.25.1') ? ('', 'http2 on;') : ('http2', '');

(my $conf = <<'EOF') =~ s/%%H2_LISTEN%%/$h2_listen/g;

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    ssl_certificate      localhost.crt;
    ssl_certificate_key  localhost.key;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        gzip on;
        gzip_types text/event-stream;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8444 ssl %%H2_LISTEN%%;
        server_name  localhost;
        %%H2%%

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

$conf =~ s/%%H2%%/$h2/g;
$t->write_file_expand('nginx.conf', $conf);

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(8);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $r;

# gzip: each event is compressed and flushed on its own

$r = sse_get('/events', ssl => 1, port => port(8443), gzip => 1);
streams_ok($r, 'gzip: events arrive live');
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip: compressed');
like($r->{body}, qr/^id: 1\x0adata: seq=1 .*seq=3 [^\x0a]+\x0a\x0a$/s, 'gzip: body intact');

held_ok(sse_get('/off/events', ssl => 1, port => port(8443), gzip => 1),
	'gzip: sse_auto off: control');

# HTTP/2 over TLS

$r = sse_get('/events', ssl => 1, http2 => 1, port => port(8444));
streams_ok($r, 'http2: events arrive live');
like($r->{raw_headers}, qr{^HTTP/2 200}, 'http2: negotiated');
is($r->{headers}{'x-accel-buffering'}, 'no', 'http2: downstream hint');

held_ok(sse_get('/off/events', ssl => 1, http2 => 1, port => port(8444)),
	'http2: sse_auto off: control');

###############################################################################
