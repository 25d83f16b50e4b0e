#!/usr/bin/perl

# Tests for sse_auto: a switched stream gets its own upstream idle timeout
# (sse_auto_read_timeout, one hour by default), while other responses of the same location keep
# proxy_read_timeout.

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

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        proxy_read_timeout 1s;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /set/ {
            sse_auto_read_timeout 2s;
            proxy_read_timeout 500ms;
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

sub start {
	my ($uri) = @_;
	return sse_start($uri, ssl => 1, port => port(8443));
}

sub seqs {
	my ($r) = @_;
	return join ',', map { $_->{seq} } @{$r->{records}};
}

# a stream quiet for longer than proxy_read_timeout, with a plain response of the same
# location at the same time

my $sse = start('/events' . query(n => 2, gap => 2500));
my $plain = start('/plain' . query(n => 2, gap => 2500, ct => 'application/json', fmt => 'line'));
my $off = start('/off/events' . query(n => 2, gap => 2500));

my ($s, $p, $o) = map { sse_finish($_) } $sse, $plain, $off;

is(seqs($s), '1,2', 'quiet stream survives proxy_read_timeout');
is($s->{exit}, 0, 'stream completed normally');
isnt(seqs($p), '1,2', 'plain response of the same location: cut by proxy_read_timeout');
is($p->{exit}, 18, 'plain response: truncated');
isnt(seqs($o), '1,2', 'sse_auto off: stream cut by proxy_read_timeout');

# the location's streams share the copy of its upstream configuration the first one made:
# the next stream has the stream timeout too, and the location's own is unchanged

$sse = start('/events' . query(n => 2, gap => 2500));
$plain = start('/plain' . query(n => 2, gap => 2500, ct => 'application/json', fmt => 'line'));
($s, $p) = map { sse_finish($_) } $sse, $plain;

is(seqs($s), '1,2', 'next stream of the location: survives proxy_read_timeout');
isnt(seqs($p), '1,2', 'next plain response of the location: still cut');

# quiet from its header on: the timer nginx armed for the header gets the stream timeout too
# (nginx 1.18 re-arms it only after the first read of the body)
$sse = start('/events' . query(n => 1, first => 2500));
$off = start('/off/events' . query(n => 1, first => 2500));
($s, $o) = map { sse_finish($_) } $sse, $off;
is(seqs($s), '1', 'stream quiet from its header on survives proxy_read_timeout');
isnt(seqs($o), '1', 'sse_auto off: cut by proxy_read_timeout');

# sse_auto_read_timeout set explicitly is used as given, also when shorter than the default

is(seqs(sse_get('/set/events' . query(n => 2, gap => 1500), ssl => 1, port => port(8443))),
	'1,2', 'sse_auto_read_timeout 2s: 1.5s gap survives');
$s = sse_get('/set/events' . query(n => 2, gap => 3000), ssl => 1, port => port(8443));
is(seqs($s), '1', 'sse_auto_read_timeout 2s: 3s gap cut');
cmp_ok($s->{elapsed}, '<', 2.8, 'sse_auto_read_timeout 2s: cut after about 2s');

$t->stop();

my $log = $t->read_file('error.log');
# (Angie's error log says request_line: where nginx says request:)
like($log, qr/upstream timed out .* request(?:_line)?: "GET \/plain/, 'plain: upstream timed out');
like($log, qr/upstream timed out .* request(?:_line)?: "GET \/off\/events/, 'off: upstream timed out');
unlike($log, qr/upstream timed out .* request(?:_line)?: "GET \/events/, 'stream: no upstream timeout');

###############################################################################
