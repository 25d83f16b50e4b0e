#!/usr/bin/perl

# Tests for sse_auto: a held HTTP/1.1 stream over TLS does not keep nginx's TLS send buffer
# (ssl_buffer_size, 16k) between its events. nginx allocates that buffer on a connection's
# first write and keeps it until the connection goes idle; sse_auto gives a stream's buffer
# back each time it is empty, and nginx allocates it again for the next write, at the same
# size. The control: the same stream unbuffered by nginx itself (sse_auto off, proxy_buffering
# off) keeps one buffer for its whole life.
#
# What the writes are does not change: a 64 KiB event leaves in the same TLS writes (records)
# as the control's, and a response that is not a stream (a static file) is written in
# ssl_buffer_size pieces, its buffer kept.
#
# Seen in nginx's debug log (an nginx built --with-debug): "malloc: <p>:16384" and "free: <p>"
# of each connection's pool, and "SSL to write: <n>" for each write.

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

plan(skip_all => 'nginx built without --with-debug: the buffer is seen in the debug log')
	unless $t->has_module('debug');

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

        error_log  %%TESTDIR%%/debug.log debug;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081/;
        }

        location /static/ {
            alias %%TESTDIR%%/;
        }
    }
}

EOF

make_cert($t);
$t->write_file('big.txt', 'x' x 65536);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(8);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $q = '?n=3&gap=150';
my $big = '?n=1&first=100&pad=65536';

streams_ok(sse_get("/events$q", ssl => 1, port => port(8443)), 'stream: live');
streams_ok(sse_get("/off/events$q", ssl => 1, port => port(8443)),
	'control (proxy_buffering off): live too');
sse_get("/events$big", ssl => 1, port => port(8443));
sse_get("/off/events$big", ssl => 1, port => port(8443));
my $file = https_get('/static/big.txt');
ok($file =~ /^HTTP\/1\.1 200 .*?\r\n\r\n(x+)$/s && length($1) == 65536, 'static file');

$t->stop();
my $log = $t->read_file('debug.log');

my $stream = connection("/events$q");
my $control = connection("/off/events$q");

# the stream: its buffer given back after each write, taken again for the next one (the
# header, three events, the end)
cmp_ok(buffers($stream), '>=', 4, 'stream: the 16k send buffer allocated for each write');
cmp_ok(frees($stream), '>=', 3, 'stream: and given back in between');
is(buffers($control), 1, 'control: one buffer, kept for the whole stream');

# the same TLS writes for a large event, as nginx reads it from the upstream (proxy_buffer_size
# pieces); the header's differs by the X-Accel-Buffering hint sse_auto adds
my (undef, @w) = writes(connection("/events$big"));
my (undef, @c) = writes(connection("/off/events$big"));
ok(@w > 16 && "@w" eq "@c", 'a 64 KiB event: the same TLS writes as the control')
	or diag("stream: @w\ncontrol: @c");

# not a stream: nginx's buffer, kept
my $static = connection('/static/big.txt');
ok(scalar(grep { $_ == 16384 } writes($static)) >= 4 && buffers($static) == 1,
	'static file: 16k writes, one buffer');

###############################################################################

# the debug log lines of the connection that served $uri
sub connection {
	my ($uri) = @_;
	my ($n) = $log =~ /\*(\d+) http request line: "GET \Q$uri\E HTTP/;
	return [] unless defined $n;
	return [ grep { /\*$n / } split /\n/, $log ];
}

# allocations of a 16k TLS send buffer
sub buffers { return scalar grep { /malloc: \S+:16384$/ } @{$_[0]}; }

# frees of those buffers
sub frees {
	my ($lines) = @_;
	my %buf = map { /malloc: (\S+):16384$/ ? ($1 => 1) : () } @$lines;
	return scalar grep { /free: (\S+)$/ && $buf{$1} } @$lines;
}

# the sizes of the TLS writes, in order
sub writes { return map { /SSL to write: (\d+)$/ ? $1 : () } @{$_[0]}; }

sub https_get {
	my ($uri) = @_;
	return `curl -s -i -k --http1.1 https://127.0.0.1:@{[ port(8443) ]}$uri 2>&1`;
}

###############################################################################
