#!/usr/bin/perl

# Tests for sse_auto at real-life timescales (about 95 seconds; make test-slow):
# - with only load_module, a stream silent for 90 s survives the stock proxy_read_timeout of
#   60 s, while a plain response of the same location is still cut at 60 s;
# - with sse_auto_heartbeat 15s, the silence is filled with a comment about every 15 s, and
#   never inside an event.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib '../lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy/)->has_daemon('curl');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        # the users' own fix, without its proxy_read_timeout line
        location /seed/ {
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /seed/off/ {
            sse_auto off;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/ {
            sse_auto_heartbeat 15s;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(12);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $gap = query(n => 2, gap => 90000);
my @req = (
	sse_start("/events$gap", timeout => 120),
	sse_start('/plain' . query(n => 2, gap => 90000, ct => 'application/json', fmt => 'line'),
		timeout => 120),
	sse_start("/off/events$gap", timeout => 120),
	sse_start('/hb/events' . query(n => 2, gap => 90000, split => 40000), timeout => 200),
	sse_start("/seed/events$gap", timeout => 120),
	sse_start("/seed/off/events$gap", timeout => 120),
);
my ($s, $p, $o, $h, $u, $uo) = map { sse_finish($_) } @req;

is(scalar @{$s->{records}}, 2, '90 s silence: the stream arrives whole');
is($s->{exit}, 0, '90 s silence: the stream ends normally');
cmp_ok($s->{elapsed}, '>', 89, '90 s silence: it really was silent');

isnt(scalar @{$p->{records}}, 2, 'plain response on the same location: cut');
isnt(scalar @{$o->{records}}, 2, 'sse_auto off: the stream is cut too');

# proxy_buffering off by hand, under the stock 60 s proxy_read_timeout

is(scalar @{$u->{records}}, 2, 'proxy_buffering off: the stream arrives whole');
is($u->{exit}, 0, 'proxy_buffering off: the stream ends normally');
isnt(scalar @{$uo->{records}}, 2, 'proxy_buffering off, sse_auto off: cut at 60 s');

# heartbeats: the first event arrives in two halves 40 s apart, then 90 s of silence

my @events = split /\x0a\x0a/, $h->{body} // '';
my @comments = grep { $_ eq ':' } @events;
my @whole = grep { /^id: (\d+)\x0adata: seq=\1 sent=[\d.]+ req=\d+$/ } @events;

is(scalar @whole, 2, 'heartbeats: both events whole');
is(scalar @events, @comments + @whole, 'heartbeats: nothing else in the stream');
ok(@comments >= 5 && @comments <= 7, 'heartbeats: one every ~15 s of the 90 s silence')
	or diag(scalar @comments . ' comments');
like($h->{body}, qr/^id: 1\x0a[^\x0a]+\x0a\x0a/, 'heartbeats: none inside the split event');

$t->stop();

###############################################################################
