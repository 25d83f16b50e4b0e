#!/usr/bin/perl

# Tests for sse_auto: a proxy_read_timeout set below nginx's 60 s default stays the
# administrator's word for a response that is a stream only because it has no length (no
# Content-Type, no Content-Length, the connection kept open: nginx-tests' proxy_noclose.t),
# while an event stream of the same location still gets the stream timeout.
# $sse_auto_read_timeout says which timeout applied and why.

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

    log_format sse '$request_uri sse_auto="$sse_auto" timeout="$sse_auto_read_timeout"';

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        access_log sse.log sse;

        location / {
            proxy_read_timeout 2s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_read_timeout 2s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /set/ {
            sse_auto_read_timeout 5s;
            proxy_read_timeout 2s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /stock/ {
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(14);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), timeout => 15);
}

sub seqs {
	my ($r) = @_;
	return join ',', map { $_->{seq} } @{$r->{records}};
}

# no type, no length, one record and then the connection kept open (proxy_noclose.t #4)

my $noclose = query(n => 1, ct => 'none', fmt => 'line', gap => 0, hold => 6000);

my $r = get("/noclose$noclose");
is(seqs($r), '1', 'untyped, unsized: the record arrives');
cmp_ok($r->{elapsed}, '<', 4, 'untyped, unsized: ended by proxy_read_timeout 2s ('
	. sprintf('%.1f', $r->{elapsed}) . ' s), not stretched to the stream timeout');
cmp_ok($r->{elapsed}, '>=', 1.8, 'untyped, unsized: not before the 2s');

$r = get("/off/noclose$noclose");
cmp_ok($r->{elapsed}, '<', 4, 'sse_auto off: the same, ended at the 2s ('
	. sprintf('%.1f', $r->{elapsed}) . ' s)');

# an event stream of the same location still survives the short timeout; its control is cut

my $events = query(n => 2, gap => 3000, ct => 'text/event-stream');

$r = get("/events$events");
is(seqs($r), '1,2', 'event stream: a 3s gap survives proxy_read_timeout 2s');
is($r->{exit}, 0, 'event stream: completed normally');

$r = get("/off/events$events");
isnt(seqs($r), '1,2', 'sse_auto off: the event stream is cut by proxy_read_timeout 2s');

# sse_auto_read_timeout set explicitly wins for both

$r = get("/set/noclose" . query(n => 2, gap => 3000, ct => 'none', fmt => 'line'));
is(seqs($r), '1,2', 'sse_auto_read_timeout 5s: untyped, unsized: a 3s gap survives');

# the stock 60s is not "short": an unsized response there gets the stream timeout

$r = get("/stock/untyped" . query(n => 1, ct => 'none', fmt => 'line'));
is(seqs($r), '1', 'stock proxy_read_timeout: untyped, unsized');

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^/noclose\S* sse_auto="unsized" timeout="2s location"$}m,
	'$sse_auto_read_timeout: the location\'s 2s');
like($log, qr{^/events\S* sse_auto="switched" timeout="3600s default"$}m,
	'$sse_auto_read_timeout: the default hour for the event stream');
like($log, qr{^/set/noclose\S* sse_auto="unsized" timeout="5s sse_auto_read_timeout"$}m,
	'$sse_auto_read_timeout: the directive');
like($log, qr{^/stock/untyped\S* sse_auto="unsized" timeout="3600s default"$}m,
	'$sse_auto_read_timeout: stock 60s: the default hour');
like($log, qr{^/off/noclose\S* sse_auto="" timeout=""$}m, 'not a stream: both empty');

###############################################################################
