#!/usr/bin/perl

# Tests for sse_auto: regressions found by the differential stream fuzzer (make fuzz-stack),
# each next to its sse_auto off reference.

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

my $t = Test::Nginx->new()->has(qw/http proxy gzip http_v2/)->has_daemon('curl');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:8082;
        http2        on;
        server_name  localhost;

        sse_auto_heartbeat 100ms;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /gzip/ {
            gzip on;
            gzip_types text/event-stream;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(7);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

# Two events 400 ms apart, the upstream sending a Content-Length (fuzz-stack seed 20261201,
# case 3031: scgi, "Content-Length" and heartbeats). Heartbeats go into the quiet period,
# but the client counts every byte against the Content-Length nginx passed on: it stops
# reading before the end of the last event, and the bytes left over are read as the start of
# the next response on a keepalive connection.

my $sized = query(n => 2, gap => 400, len => 1);
my $r;

# the body is exactly the two events (id: N, data: ..., empty line), nothing else

sub two_events {
	my ($body) = @_;
	return defined $body
		&& $body =~ /\A(id: (\d+)\x0adata: seq=\2 sent=[\d.]+ req=\d+\x0a\x0a){2}\z/;
}

sub sized_get {
	my ($uri) = @_;
	# HTTP/1.0: nginx sends the response with its Content-Length and closes the connection,
	# so whatever it wrote is read
	my $r = http_get($uri);
	my ($head, $body) = split /\x0d\x0a\x0d\x0a/, $r // '', 2;
	my ($len) = ($head // '') =~ /^Content-Length: (\d+)/mi;
	return ($len, $body);
}

my ($len, $body) = sized_get("/off/events$sized");
ok(defined $len && length($body) == $len && two_events($body),
	'sse_auto off: Content-Length is the body') or diag($body);

TODO: {
local $TODO = 'heartbeats are written into responses with a Content-Length';

($len, $body) = sized_get("/events$sized");
is(length($body // ''), $len, 'heartbeats: the body is Content-Length bytes');
ok(two_events($body), 'heartbeats: none inside a response of known length')
	or diag($body);

# HTTP/2: nginx passes the length on as content-length; DATA beyond it is a protocol error

$r = sse_get("/events$sized", http2 => 1, port => port(8082));
is($r->{exit}, 0, 'HTTP/2: the stream ends cleanly');
ok(two_events($r->{body}), 'HTTP/2: the body is the two events') or diag($r->{body});

}

$r = sse_get("/off/events$sized", http2 => 1, port => port(8082));
ok($r->{exit} == 0 && two_events($r->{body}), 'HTTP/2: sse_auto off: the two events');

# gzip drops the length and sends the body chunked: heartbeats are allowed there

$r = sse_get("/gzip/events$sized", gzip => 1);
ok($r->{exit} == 0 && @{$r->{records}} == 2 && !defined $r->{headers}{'content-length'},
	'gzip: no length, heartbeats may go in');

###############################################################################
