#!/usr/bin/perl

# Tests for sse_auto: a switched stream is never stored in proxy_cache nor replayed from it.

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

    proxy_cache_path  %%TESTDIR%%/cache  keys_zone=sse:1m;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        # a cache that would store anything: the upstream's Cache-Control is ignored
        proxy_cache             sse;
        proxy_cache_valid       200 1m;
        proxy_ignore_headers    Cache-Control;
        add_header              X-Cache $upstream_cache_status always;

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

# workers (not root) must reach the cache directory
chmod(0755, $t->testdir());

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(8);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri) = @_;
	return sse_get($uri, ssl => 1, port => port(8443));
}

sub upstream_request {
	my ($r) = @_;
	return join ',', map { $_->{req} } @{$r->{records}};
}

my ($first, $second);

$first = get('/events');
$second = get('/events');

streams_ok($first, 'cached location: streams');
streams_ok($second, 'cached location: streams again');
is($second->{headers}{'x-cache'}, 'MISS', 'cached location: not served from cache');
isnt(upstream_request($second), upstream_request($first),
	'cached location: second stream comes from the upstream');

# control: a buffered stream is stored and replayed, old events and all

$first = get('/off/events');
$second = get('/off/events');

held_ok($first, 'sse_auto off: buffered');
is($second->{headers}{'x-cache'}, 'HIT', 'sse_auto off: served from cache');
is(upstream_request($second), upstream_request($first),
	'sse_auto off: replayed from cache');
ok(!live($second), 'sse_auto off: replayed events are stale');

###############################################################################
