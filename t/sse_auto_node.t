#!/usr/bin/perl

# Tests for sse_auto: proxy_pass to a real Node.js http server writing events with
# res.writeHead() and res.write() (backends/node_sse.js).

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
    }
}

EOF

my $port = port(8081);

make_cert($t);
$t->run_daemon($node, "$FindBin::Bin/backends/node_sse.js", $port);
$t->run()->plan(4);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "node did not start";

###############################################################################

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'node: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream; charset=utf-8', 'node: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'node: downstream hint');

held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'node: sse_auto off: control');

###############################################################################
