#!/usr/bin/perl

# Tests for sse_auto: a chain of proxies, as on a panel host in front of a container.
# The outer nginx is stock (no sse_auto); it streams because the inner one, with sse_auto,
# sends "X-Accel-Buffering: no" along with the stream.

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

my $inner = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

$inner->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /nohint/ {
            sse_auto_downstream_hint off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        # unbuffered by hand, as the guides say
        location /unbuffered/ {
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /unbuffered/off/ {
            sse_auto off;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

# the outer nginx: stock, whatever TEST_NGINX_GLOBALS loads into the inner one

my $outer = Test::Nginx->new();

{
	local $ENV{TEST_NGINX_GLOBALS} = '';

	$outer->write_file_expand('nginx.conf', <<'EOF');

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

        location / {
            proxy_pass http://127.0.0.1:8082;
        }
    }
}

EOF
}

make_cert($outer);
$inner->run_daemon(\&sse_daemon, port(8081));
$inner->run();

# 6 here, and each nginx adds its own checks of its error log
$outer->run()->plan(12);
$inner->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri) = @_;
	return sse_get($uri, ssl => 1, port => port(8443));
}

unlike($outer->read_file('nginx.conf'), qr/sse_auto/, 'outer nginx is stock');

my $r = get('/events');
streams_ok($r, 'chain: outer stock nginx streams');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'chain: outer nginx consumes the hint');

held_ok(get('/nohint/events'), 'chain: without the hint the outer nginx buffers');
held_ok(get('/off/events'), 'chain: sse_auto off: control');

# streams nginx already sends unbuffered: the inner nginx hides the upstream's own
# X-Accel-Buffering, so the outer one streams only with the hint

my $no = query(h => 'X-Accel-Buffering: no');
streams_ok(get("/events$no"), 'chain: upstream X-Accel-Buffering: no: outer streams');
held_ok(get("/off/events$no"), 'chain: upstream X-Accel-Buffering: no: control');
streams_ok(get('/unbuffered/events'), 'chain: proxy_buffering off: outer streams');
held_ok(get('/unbuffered/off/events'), 'chain: proxy_buffering off: control');

is(get('/events?n=1')->{status}, 200, 'chain: status');

###############################################################################
