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
use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy gzip http_v2/)->has_daemon('curl');

# "http2 on" appeared in 1.25.1; older versions take it as a listen parameter
my ($h2_listen, $h2) = $t->has_version('1.25.1') ? ('', 'http2 on;') : ('http2', '');

my $locations = <<'EOF';
        sse_auto_heartbeat 100ms;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /drain/ {
            sse_auto_heartbeat off;
            sse_auto_drain 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /gzip/ {
            gzip on;
            gzip_types text/event-stream;
            proxy_pass http://127.0.0.1:8081;
        }
EOF

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

$locations
    }

    fastcgi_cache_path %%TESTDIR%%/fcgi_cache levels=1 keys_zone=fcgi:1m;

    # FastCGI with fastcgi_cache, pushed by soft streaming at once
    server {
        listen       127.0.0.1:8084;
        server_name  localhost;

        fastcgi_cache fcgi;
        fastcgi_cache_key \$request_uri;
        fastcgi_cache_valid 200 1m;
        fastcgi_buffer_size 1k;
        fastcgi_buffers 4 1k;
        fastcgi_busy_buffers_size 2k;
        fastcgi_param REQUEST_URI \$request_uri;

        location / {
            sse_auto_soft_idle 1ms;
            sse_auto_soft_hold 1ms;
            fastcgi_pass 127.0.0.1:8083;
        }

        location /off/ {
            sse_auto off;
            fastcgi_pass 127.0.0.1:8083;
        }
    }

    # HTTP/2 without TLS (curl --http2-prior-knowledge)
    server {
        listen       127.0.0.1:8082 $h2_listen;
        $h2
        server_name  localhost;

$locations
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->run_daemon(\&fastcgi_daemon, port(8083));
$t->run()->plan(19);
$t->waitforsocket('127.0.0.1:' . port(8081));
$t->waitforsocket('127.0.0.1:' . port(8083));

###############################################################################

# Two events 400 ms apart, the upstream sending a Content-Length (fuzz-stack seed 20261201,
# case 3031: scgi, "Content-Length" and heartbeats). Heartbeats went into the quiet period,
# but the client counts every byte against the Content-Length nginx passed on: it stopped
# reading before the end of the last event, and the bytes left over were read as the start
# of the next response on a keepalive connection; HTTP/2 clients got a protocol error.

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

# Two requests pipelined on one HTTP/1.1 connection: after the first response's
# Content-Length bytes, the second response must begin.

sub keepalive_in_step {
	my ($uri) = @_;
	my $r = http(<<"EOR" . <<"EOR2");
GET $uri HTTP/1.1
Host: localhost

EOR
GET $uri HTTP/1.1
Host: localhost
Connection: close

EOR2
	my ($head, $rest) = split /\x0d\x0a\x0d\x0a/, $r // '', 2;
	my ($len) = ($head // '') =~ /^Content-Length: (\d+)/mi;
	return 0 unless defined $len && defined $rest && length($rest) > $len;
	return substr($rest, $len) =~ m{\AHTTP/1\.1 200 };
}

my ($len, $body) = sized_get("/off/events$sized");
ok(defined $len && length($body) == $len && two_events($body),
	'sse_auto off: Content-Length is the body') or diag($body);

($len, $body) = sized_get("/events$sized");
is(length($body // ''), $len, 'heartbeats: the body is Content-Length bytes');
ok(two_events($body), 'heartbeats: none inside a response of known length')
	or diag($body);

ok(keepalive_in_step("/events$sized"),
	'keepalive: the second response starts where the first one ends');

# HTTP/2: nginx passes the length on as content-length; DATA beyond it is a protocol error

$r = sse_get("/events$sized", http2 => 1, port => port(8082));
is($r->{exit}, 0, 'HTTP/2: the stream ends cleanly');
ok(two_events($r->{body}), 'HTTP/2: the body is the two events') or diag($r->{body});

ok(keepalive_in_step("/off/events$sized"), 'keepalive: sse_auto off: in step');

$r = sse_get("/off/events$sized", http2 => 1, port => port(8082));
ok($r->{exit} == 0 && two_events($r->{body}), 'HTTP/2: sse_auto off: the two events');

# gzip drops the length and sends the body chunked: heartbeats are allowed there

$r = sse_get("/gzip/events$sized", gzip => 1);
ok($r->{exit} == 0 && @{$r->{records}} == 2 && !defined $r->{headers}{'content-length'},
	'gzip: no length, heartbeats may go in');

# The error page of an upstream that sent an invalid header (fuzz-stack seed 50, case 6:
# uwsgi, "Content-Length: -1"; here a NUL in a header name, which every nginx refuses, where
# nginx before 1.23.0 let a negative Content-Length through). nginx finalizes the upstream, then sends its own 502 page
# through the header filters with r->upstream still set: a buffered response without an
# upstream length, so it was armed for soft streaming, with u->finalize_request wrapped after
# nginx had called it. Nothing gave the entry back: the next tick read the freed request (a
# use-after-free; under AddressSanitizer, a SEGV in ngx_palloc and the worker's exit).

my $bad = query(h => "X-Bad\0Name: 1", ct => 'text/html');
like(http_get("/events$bad"), qr{^HTTP/1\.[01] 502}, 'invalid upstream header: 502');
like(http_get("/off/events$bad"), qr{^HTTP/1\.[01] 502}, 'sse_auto off: 502');
# the tick runs every 25 ms
sleep(0.3);
like(http_get('/off/events' . query(n => 1, gap => 0)), qr/seq=1/, 'worker still serves');
unlike($t->read_file('error.log'), qr/exited (with code [1-9]|on signal)/,
	'no worker exited after the error page');

# FastCGI and fastcgi_cache, soft-streamed (fuzz-stack seed 61, case 19 with --profiles 17:
# sse_auto_soft_idle 1ms, fastcgi_cache, 1k buffers). A 923-byte body written in pieces,
# with pauses, in one FCGI_STDOUT record: the client got the first 594 bytes and a complete
# chunked end, and the cache kept the cut body for every later request.

my $fcgi = fastcgi_body();
for my $uri ('/f1', '/off/f2') {
	my $name = $uri =~ /off/ ? 'sse_auto off: ' : '';
	for my $n (1, 2) {
		my $got = http_get($uri, socket => IO::Socket::INET->new('127.0.0.1:' . port(8084)));
		my ($head, $body) = split /\x0d\x0a\x0d\x0a/, $got // '', 2;
		# HTTP/1.0: the body ends with the connection
		is(length($body // ''), length($fcgi),
			"${name}FastCGI, fastcgi_cache: the whole body" . ($n == 2 ? ' from the cache' : ''));
	}
}

# Found next to it: a drained stream of known length. The drain ended the response at an
# event boundary as if it were complete, but the client expected the whole Content-Length:
# it saw a truncated transfer (curl 18) instead of the clean end drain promises.

my $long_sized = query(n => 12, gap => 150, len => 1);
my $req = sse_start("/drain/events$long_sized");
my $off = sse_start("/off/events$long_sized");
sleep(0.5);
$t->reload();
$r = sse_finish($req);

ok(sse_finish($off)->{exit} == 0, 'sse_auto off: the same stream ends cleanly after a reload');

is($r->{exit}, 0, 'drain: a response with a Content-Length ends cleanly');
###############################################################################

# The body of the FastCGI responder: 923 bytes of text in CR-ended lines.

sub fastcgi_body {
	my $body = '';
	my $i = 0;
	$body .= sprintf("data: line %04d %s\x0d", $i++, 'x' x 20) while length $body < 923;
	return substr($body, 0, 923);
}

# A FastCGI responder that answers every request as the fuzzer's case did: the header and
# the body in one FCGI_STDOUT record, written in pieces with pauses, then FCGI_END_REQUEST.

sub fastcgi_daemon {
	my ($port) = @_;
	my $server = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => "127.0.0.1:$port",
		Listen => 16, Reuse => 1) or die "Can't create listening socket: $!\n";
	local $SIG{PIPE} = 'IGNORE';

	while (my $c = $server->accept()) {
		$c->autoflush(1);
		setsockopt($c, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);
		my ($id, $buf) = (1, '');
		# records until the empty FCGI_STDIN
		while (1) {
			while (length $buf < 8) {
				$c->sysread($buf, 4096, length $buf) or last;
			}
			last if length $buf < 8;
			my ($type, $rid, $clen, $plen) = unpack('xCnnC', $buf);
			while (length $buf < 8 + $clen + $plen) {
				$c->sysread($buf, 4096, length $buf) or last;
			}
			substr($buf, 0, 8 + $clen + $plen, '');
			$id = $rid;
			last if $type == 5 && $clen == 0;
		}
		my $stdout = "Status: 200 OK\x0d\x0aContent-Type: text/plain; charset=utf-8\x0d\x0a"
			. "\x0d\x0a" . fastcgi_body();
		my $wire = pack('CCnnCC', 1, 6, $id, length $stdout, 0, 0) . $stdout
			. pack('CCnnCC', 1, 3, $id, 8, 0, 0) . "\0" x 8;
		my @pieces = ([1, 1], [3, 0], [1, 0], [50, 141], [300, 0], [50, 0], [50, 27],
			[50, 10], [3, 0], [length $wire, 29]);
		for my $p (@pieces) {
			my ($n, $ms) = @$p;
			$c->syswrite(substr($wire, 0, $n, '')) if length $wire;
			select undef, undef, undef, $ms / 1000 if $ms;
		}
		close $c;
	}
}

###############################################################################
