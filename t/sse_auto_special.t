#!/usr/bin/perl

# Tests for sse_auto: responses it deliberately leaves alone (subrequests, HEAD, 204, 304,
# non-upstream content), and upstream headers that are odd or malformed.

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

my $t = Test::Nginx->new()->has(qw/http proxy ssi http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # what is a stream, and what is left alone: soft streaming of buffered responses
    # without a length is t/sse_auto_soft.t's
    sse_auto_soft off;

    log_format sse '$uri?$args sse_auto="$sse_auto"';

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        access_log      %%TESTDIR%%/sse.log sse;
        log_subrequest  on;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /page.html {
            ssi on;
            root %%TESTDIR%%;
        }

        location = /static.txt {
            default_type text/event-stream;
            root %%TESTDIR%%;
        }

        location = /return {
            default_type text/event-stream;
            return 200 "data: x\n\n";
        }
    }
}

EOF

$t->write_file('page.html', 'before <!--# include virtual="/sub?n=2&gap=50" --> after');
$t->write_file('static.txt', "data: static\n\n");

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(23);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
}

my $r;

# a subrequest is sent as part of its main request: left alone

$r = get('/page.html');
like($r->{body}, qr/^before id: 1\x0adata: seq=1 .* seq=2 [^\x0a]+\x0a\x0a after$/s,
	'ssi include of a stream: complete');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'ssi include: no hint');

# HEAD: no body to stream, headers as they are

$r = get('/events?gap=3000', method => 'HEAD', timeout => 2);
is($r->{status}, 200, 'HEAD: status');
is($r->{headers}{'content-type'}, 'text/event-stream', 'HEAD: content type');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'HEAD: no hint');

# bodiless statuses

$r = get('/events' . query(status => 304));
is($r->{status}, 304, '304: status');
ok(!exists $r->{headers}{'x-accel-buffering'}, '304: no hint');

$r = get('/events' . query(status => 204));
is($r->{status}, 204, '204: status');
ok(!exists $r->{headers}{'x-accel-buffering'}, '204: no hint');

# responses not from an upstream

$r = get('/static.txt');
is($r->{body}, "data: static\x0a\x0a", 'static file');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'static file: no hint');
ok(!exists get('/return')->{headers}{'x-accel-buffering'}, 'return: no hint');

# odd and malformed upstream headers: the stream is intact, nothing crashes

my $long = 'text/event-stream; ' . join('; ', map { "p$_=" . ('v' x 40) } 1 .. 60);
streams_ok(get('/events' . query(ct => $long)), 'very long content type');
streams_ok(get('/events' . query(ct => "text/event-stream; x=\xff\xfe")),
	'non-ASCII parameter');
held_ok(get('/events' . query(ct => "text/\xe9vent-stream")), 'non-ASCII type: buffered');
streams_ok(get('/events' . query(ct => '')), 'empty content type: as none, unsized: streams');
held_ok(get('/off/events' . query(ct => '')), 'empty content type: control');
held_ok(get('/off/events' . query(ct => $long)), 'very long content type: control');

# a space in a header name: 502 since nginx 1.21.1, passed on before; as stock nginx does
$r = get('/events' . query(h => 'Bad Header: x'));
my $stock = get('/off/events' . query(h => 'Bad Header: x'))->{status};
is($r->{status}, $stock, "invalid upstream header: $stock as in stock nginx");

$r = get('/events' . query(h => ['X-Accel-Buffering:', 'X-Accel-Buffering: ' . ('y' x 3000)]));
streams_ok($r, 'odd X-Accel-Buffering values ignored');

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^/sub\?n=2&gap=50 sse_auto=""$}m, 'log: subrequest left alone');
like($log, qr{^/page.html\?- sse_auto=""$}m, 'log: main request of the subrequest');
unlike($log, qr{^/events\?gap=3000 sse_auto="[^"]}m, 'log: HEAD left alone');

###############################################################################
