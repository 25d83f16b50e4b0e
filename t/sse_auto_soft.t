#!/usr/bin/perl

# Tests for sse_auto: soft streaming. A buffered upstream response without a length that is
# not a stream (a PHP page, streamed HTML) stays buffered, and what waits in nginx reaches the
# client when the upstream pauses; with "sse_auto_soft off" it is held until the end.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

use Digest::SHA qw/ sha256_hex /;
use Time::HiRes qw/ time sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy cache gzip http_ssl http_v2/)
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

    log_format sse '$request_uri sse_auto="$sse_auto"';

    proxy_cache_path  %%TESTDIR%%/cache  keys_zone=html:1m;

    server {
        listen       127.0.0.1:8443 ssl %%H2_LISTEN%%;
        %%H2%%
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        access_log  %%TESTDIR%%/sse.log sse;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto_soft off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /chunked/ {
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:8081;
        }

        location /chunked/off/ {
            sse_auto_soft off;
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:8081;
        }

        location /gzip/ {
            gzip on;
            gzip_min_length 0;
            proxy_pass http://127.0.0.1:8081;
        }

        location /gzip/off/ {
            sse_auto_soft off;
            gzip on;
            gzip_min_length 0;
            proxy_pass http://127.0.0.1:8081;
        }

        # a cache that would store anything: the upstream's Cache-Control is ignored
        location /cache/ {
            proxy_http_version 1.1;
            proxy_cache html;
            proxy_cache_valid 200 1m;
            proxy_ignore_headers Cache-Control;
            add_header X-Cache $upstream_cache_status always;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hold/ {
            sse_auto_soft_hold 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hold/off/ {
            sse_auto_soft off;
            proxy_pass http://127.0.0.1:8081;
        }

        # its own debug log: pushes of these responses only
        location /fast/ {
            error_log %%TESTDIR%%/fast.log debug;
            proxy_pass http://127.0.0.1:8081;
        }

        location /big/ {
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

$conf =~ s/%%H2%%/$h2/g;
$t->write_file_expand('nginx.conf', $conf);

# workers (not root) must reach the cache and temp directories
chmod(0755, $t->testdir());

my $upstream_log = $t->testdir() . '/upstream.log';

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081), $upstream_log);
$t->run()->plan(34);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
}

sub html {
	my (%q) = @_;
	return query(ct => 'text/html; charset=utf-8', fmt => 'line', %q);
}

sub upstream_request {
	my ($r) = @_;
	return join ',', map { $_->{req} } @{$r->{records}};
}

# Every line the upstream sent, in order, and nothing else: nginx still forwards the bytes
# as they came.

sub intact {
	my ($r, $n) = @_;
	my @lines = split /\x0a/, $r->{body} // '', -1;
	return 0 unless @lines == ($n // 3) + 1 && $lines[-1] eq '';
	return !grep { $lines[$_] !~ /^seq=${\ ($_ + 1)} sent=[\d.]+ req=\d+$/ } 0 .. $#lines - 1;
}

my ($r, $first, $second);

# close-delimited (HTTP/1.0 upstream, nginx's default) and chunked HTML, a line every 300 ms

$r = get('/page' . html());
streams_ok($r, 'close-delimited: live');
ok(intact($r), 'close-delimited: body intact');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'close-delimited: type');
ok(!exists $r->{headers}{'x-accel-buffering'}, 'soft: no hint (nginx still buffers)');
held_ok(get('/off/page' . html()), 'close-delimited: control');

$r = get('/chunked/page' . html(chunked => 1));
streams_ok($r, 'chunked: live');
ok(intact($r), 'chunked: body intact');
held_ok(get('/chunked/off/page' . html(chunked => 1)), 'chunked: control');

# HTTP/2 to the client

$r = get('/page' . html(), http2 => 1);
streams_ok($r, 'http2: live');
ok(intact($r), 'http2: body intact');
held_ok(get('/off/page' . html(), http2 => 1), 'http2: control');

# gzip: flushed through the compressor

$r = get('/gzip/page' . html(), gzip => 1);
streams_ok($r, 'gzip: live');
ok(intact($r), 'gzip: body intact');
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip: compressed');
held_ok(get('/gzip/off/page' . html(), gzip => 1), 'gzip: control');

# proxy_cache: still stored, and a HIT next time

$first = get('/cache/page' . html(chunked => 1));
$second = get('/cache/page' . html(chunked => 1));
streams_ok($first, 'cache: live while stored');
ok(intact($second), 'cache: replayed body intact');
is($first->{headers}{'x-cache'}, 'MISS', 'cache: first from the upstream');
is($second->{headers}{'x-cache'}, 'HIT', 'cache: stored, a HIT next time');
is(upstream_request($second), upstream_request($first), 'cache: replayed from cache');

# a trickling upstream (every 30 ms, never quiet for sse_auto_soft_idle): bounded by the hold

my $trickle = html(n => 40, gap => 30);
$r = get("/hold/page$trickle");
my @late = sort { $b <=> $a } delays($r);
ok(intact($r, 40), 'trickle: all lines, intact');
cmp_ok($late[0] // 9999, '<', 300 + 200, 'trickle: no line held longer than the hold bound')
	or diag(summary($r));
$r = get("/hold/off/page$trickle");
cmp_ok((delays($r))[0] // 0, '>=', 1000, 'trickle: control: held until the end');

# a fast 200 KB response: the same bytes, and no push

my $fast = query(ct => 'text/html', fmt => 'fixed', n => 4, gap => 0, pad => 50000);
$r = get("/fast/page$fast");
my $ref = get("/off/page$fast");
is(length($r->{body} // ''), 200028, 'fast: whole');
is(sha256_hex($r->{body} // ''), sha256_hex($ref->{body} // ''), 'fast: bytes identical');
unlike($t->read_file('fast.log'), qr/soft push/, 'fast: no push');

# 10 MB without a length to a slow client: spooled to proxy_temp as before, and the upstream
# released long before the client is done

my $big = query(ct => 'text/html', fmt => 'fixed', n => 1, gap => 0, pad => 10_000_000,
	chunked => 1, hold => 20000);
my $file = $t->testdir() . '/big.out';
my $start = time();
system('curl', '-sk', '--http1.1', '--limit-rate', '2M', '--max-time', '30', '-o', $file,
	'https://127.0.0.1:' . port(8443) . "/big/file$big");
my $done = time();
is(-s $file, 10_000_007, 'big: whole');
my $released = closed_after($upstream_log, $start);
ok(defined $released && $released < $done - 2,
	'big: upstream released before the slow client finished')
	or diag(sprintf('released %s, client done %.3f', $released // 'never', $done));
like($t->read_file('error.log'), qr/an upstream response is buffered to a temporary file/,
	'big: spooled to proxy_temp');

# a client that goes away in the middle

my $abort = sse_start('/page' . html(n => 10, gap => 200));
sleep(0.5);
kill 'TERM', $abort->{pid};
close $abort->{fh};
sleep(0.5);
streams_ok(get('/page' . html()), 'after an aborted client: still live');

# no timer left behind: the worker's tick runs only while soft responses are in flight
# (the tick's next run, 25 ms after the last one ends, stops it)

sleep(0.2);

SKIP: {
	skip 'nginx built without --with-debug', 2 unless $t->has_module('debug');

	my $err = $t->read_file('error.log');
	my $started = () = $err =~ /sse_auto: soft tick started/g;
	my $stopped = () = $err =~ /sse_auto: soft tick stopped/g;
	cmp_ok($started, '>', 0, 'tick: started for the soft responses');
	is($stopped, $started, 'tick: stopped after each, no timer left behind');
}

$t->stop();

my $log = $t->read_file('sse.log');
like($log, qr{^/page\?\S+ sse_auto="soft"$}m, 'log: soft');
like($log, qr{^/off/page\?\S+ sse_auto=""$}m, 'log: soft off');

###############################################################################

# When the upstream first saw nginx close a connection after $since (sse_daemon's log): the
# big response's upstream waits 20 s after its last chunk, so its line is the one.

sub closed_after {
	my ($log, $since) = @_;
	open my $fh, '<', $log or return undef;
	my ($closed) = grep { $_ > $since } map { /closed=([\d.]+)/ ? $1 : () } <$fh>;
	return $closed;
}

###############################################################################
