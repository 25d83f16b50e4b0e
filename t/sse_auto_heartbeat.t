#!/usr/bin/perl

# Tests for sse_auto: heartbeats (SSE comments) in quiet event streams, only between events.

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

my $t = Test::Nginx->new()->has(qw/http proxy gzip http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

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
            sse_auto_heartbeat 300ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location /nohb/ {
            proxy_pass http://127.0.0.1:8081;
        }

        # nginx does not watch the client connection here: only a write finds it gone
        location /ignore/ {
            sse_auto_heartbeat 300ms;
            proxy_ignore_client_abort on;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        sse_auto_heartbeat 300ms;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /default/ {
            sse_auto_heartbeat off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /ndjson/ {
            sse_auto_types application/x-ndjson;
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

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081), $t->testdir() . '/upstream.log');
$t->run()->plan(21);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub closed_within {
	my ($v, $closed, $secs) = @_;
	return defined $closed && $closed - $v->{vanished} < $secs;
}

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
}

# The body as a list of events (split on empty lines): heartbeats are ":" alone.

sub events {
	my ($r) = @_;
	return split /\x0a\x0a/, $r->{body} // '';
}

sub heartbeats {
	my ($r) = @_;
	return scalar grep { $_ eq ':' } events($r);
}

# Every event other than a heartbeat is one record, whole.

sub intact {
	my ($r, $n) = @_;
	my @e = grep { $_ ne ':' } events($r);
	return 0 unless @e == $n;
	return !grep { $e[$_] !~ /^id: (\d+)\x0adata: seq=\1 sent=[\d.]+ req=\d+$/ } 0 .. $#e;
}

my $quiet = query(n => 2, gap => 1100);
my $r;

# a quiet stream gets a comment every 300ms, between events only

$r = get("/events$quiet");
cmp_ok(heartbeats($r), '>=', 2, 'heartbeats during a quiet period');
cmp_ok(heartbeats($r), '<=', 5, 'heartbeats about every 300ms');
ok(intact($r, 2), 'events intact');
like($r->{body}, qr/^id: 1\x0a[^\x0a]+\x0a\x0a(:\x0a\x0a)+id: 2\x0a[^\x0a]+\x0a\x0a$/,
	'heartbeats only between the events');
streams_ok($r, 'stream still live', n => 2);

is(heartbeats(get("/off/events$quiet")), 0, 'sse_auto off: no heartbeats');
is(heartbeats(get("/default/events$quiet")), 0, 'heartbeats are off by default');

# a quiet period at the start of the stream

$r = get('/events' . query(n => 1, first => 800));
cmp_ok(heartbeats($r), '>=', 1, 'heartbeats before the first event');

# an event paused in its middle is never split by a heartbeat

$r = get('/events' . query(n => 2, gap => 0, split => 1100));
is(heartbeats($r), 0, 'no heartbeat inside an event');
ok(intact($r, 2), 'paused events arrive whole') or diag($r->{body});

# the same pause between events does get heartbeats: the control of the case above

cmp_ok(heartbeats(get('/events' . query(n => 2, gap => 1100))), '>', 0,
	'same pause between events: heartbeats');

# other stream types have no comment syntax

$r = get('/ndjson/events' . query(n => 2, gap => 1100, ct => 'application/x-ndjson',
	fmt => 'ndjson'));
unlike($r->{body}, qr/:\x0a\x0a/, 'ndjson: no heartbeats');
streams_ok($r, 'ndjson: streams', n => 2);

# through gzip, the heartbeats are compressed and flushed like events

cmp_ok(heartbeats(get("/gzip/events$quiet", gzip => 1)), '>=', 2, 'gzip: heartbeats');

# a client that vanished without closing its connection: the next heartbeat meets a reset,
# and the upstream connection is closed, long before the stream's next event

my $log = $t->testdir() . '/upstream.log';
my $gone = query(n => 3, gap => 3000);
my ($v, $closed);

$v = sse_vanish("/events$gone");
$closed = upstream_closed($log, $v->{req});
ok(defined $v->{reset} && $v->{reset} - $v->{vanished} < 1, 'vanished client: heartbeat sent');
ok(closed_within($v, $closed, 1.5),
	'vanished client: upstream connection closed within the heartbeat interval');

# control: without heartbeats nothing reaches the client until the next event

$v = sse_vanish("/nohb/events$gone", wait => 2.5);
$closed = upstream_closed($log, $v->{req});
ok(!defined $v->{reset}, 'no heartbeat: nothing sent to the vanished client');
ok(!closed_within($v, $closed, 1.5), 'no heartbeat: upstream connection held');
cmp_ok($closed // 0, '>=', $v->{closed}, 'no heartbeat: held until the client reset it');

# with proxy_ignore_client_abort, the failed heartbeat write itself ends the request

$v = sse_vanish("/ignore/events$gone");
$closed = upstream_closed($log, $v->{req});
ok(closed_within($v, $closed, 2), 'ignore_client_abort: upstream closed after heartbeat');

$t->stop();

like($t->read_file('error.log'), qr/\[info\].* sse_auto: client gone, heartbeat failed after \d+ bytes sent, stream age \d+\.\d{3}s/,
	'failed heartbeat logged with bytes sent and stream age');

###############################################################################
