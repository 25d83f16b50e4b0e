#!/usr/bin/perl

# Tests for sse_auto: sse_auto_status shows how many streams are open and how they ended, as
# Prometheus text and as JSON; locations with "sse_auto off" are not counted (the control).

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::Status qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy access rewrite/)->has_daemon('curl');

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

        location /unbuffered/ {
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /short/ {
            sse_auto_read_timeout 1s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /hb/ {
            sse_auto_heartbeat 200ms;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /status {
            sse_auto_status;
            allow 127.0.0.1;
            deny all;
        }

        location = /status-denied {
            sse_auto_status;
            deny all;
        }

        location = /not-status {
            return 200 "not the metrics\n";
        }
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(49);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $m = metrics();
my $python = parsers_python();

# a fresh instance: typed families, all zero

like($m->{''}, qr/^# TYPE sse_auto_streams_open gauge$/m, 'prometheus: typed');
is(metric($m, 'sse_auto_worker_processes'), 1, 'one worker process counting');
is(metric($m, 'sse_auto_streams_open', decision => 'switched'), 0, 'nothing open at start');
ok(abs(metric($m, 'sse_auto_start_time_seconds') - time()) < 60, 'start time is now');
like((grep { /^sse_auto_info\{/ } keys %$m)[0] // '',
	qr/^sse_auto_info\{version="[\d.]+",nginx_version="[\d.]+",flavour="\w+",server="[^"]+"\}$/,
	'info labels');

# content types, methods, access

like(http_get('/status'), qr!^Content-Type: text/plain; version=0\.0\.4; charset=utf-8\x0d?$!mi,
	'prometheus content type');
like(http(<<EOF), qr!^Content-Type: application/json\x0d?$!mi, 'Accept: application/json');
GET /status HTTP/1.0
Host: localhost
Accept: application/json

EOF
like(http_get('/status?format=json'), qr!^Content-Type: application/json.*\{"version":!ms,
	'?format=json');
like(http(<<EOF), qr!^HTTP/1\.. 405!, 'POST not allowed');
POST /status HTTP/1.0
Host: localhost
Content-Length: 2

{}
EOF
my $head = http_head('/status');
like($head, qr/^Content-Length: [1-9]\d*\x0d?$/mi, 'HEAD: length');
unlike($head, qr/sse_auto_/, 'HEAD: no body');
like(http_get('/status-denied'), qr!^HTTP/1\.. 403!, 'deny all is the location\'s');
unlike(http_get('/not-status'), qr/sse_auto_/, 'a location without sse_auto_status never serves it');

# 20 open streams of each kind; the same with "sse_auto off" counts nothing

my $long = query(n => 60, gap => 500, first => 0);
my %open = (
	switched => [ hold_open("/events$long", 20) ],
	unsized => [ hold_open('/events' . query(n => 60, gap => 500, first => 0, ct => 'text/plain',
		fmt => 'line'), 20) ],
	unbuffered => [ hold_open("/unbuffered/events$long", 20) ],
	soft => [ hold_open('/events' . query(n => 60, gap => 500, first => 0, ct => 'text/html',
		fmt => 'line'), 20) ],
	off => [ hold_open("/off/events$long", 20) ],
);

$m = wait_until(sub {
	my $m = metrics();
	(grep { (metric($m, 'sse_auto_streams_open', decision => $_) // -1) != 20 }
		qw/ switched unsized unbuffered /) ? undef : $m;
}) // metrics();
for my $kind (qw/ switched unsized unbuffered /) {
	is(metric($m, 'sse_auto_streams_open', decision => $kind), 20, "$kind: 20 open");
	is(metric($m, 'sse_auto_responses_total', decision => $kind), 20, "$kind: 20 decided");
}
is(metric($m, 'sse_auto_soft_responses_open'), 20, 'soft: 20 open');
is(metric($m, 'sse_auto_responses_total', decision => 'soft'), 20, 'soft: 20 decided');

my $j = metrics_json();
is_deeply($j && $j->{streams_open}, { switched => 20, unsized => 20, unbuffered => 20 },
	'json: the same open streams');

SKIP: {
skip 'no prometheus_client in target/venv (scripts/build/venv.sh)', 1 unless $python;
# soft responses are pushed while this runs: parsed and typed, numbers compared below
is(parsers_check($python, $t->testdir(), 1) =~ s/ .*//r, 'ok', 'real parsers, streams open');
}

# the clients go: every stream ended by the client, none open

close $_ for map { @$_ } values %open;

$m = wait_until(sub {
	my $m = metrics();
	my $open = 0;
	$open += metric($m, 'sse_auto_streams_open', decision => $_) for qw/ switched unsized
		unbuffered /;
	$open + metric($m, 'sse_auto_soft_responses_open') == 0 ? $m : undef;
}) // metrics();
for my $kind (qw/ switched unsized unbuffered /) {
	is(metric($m, 'sse_auto_streams_open', decision => $kind), 0, "$kind: 0 open after close");
}
is(metric($m, 'sse_auto_soft_responses_open'), 0, 'soft: 0 open after close');
is(metric($m, 'sse_auto_streams_ended_total', reason => 'client'), 60, '60 ended by the client');
is(metric($m, 'sse_auto_stream_duration_seconds_count'), 60, '60 in the histogram');

# one end of each kind: in its counter, and in no other

my @reasons = qw/ client upstream read_timeout drain other lost /;

sub ended {
	my $m = metrics();
	return { map { $_ => metric($m, 'sse_auto_streams_ended_total', reason => $_) } @reasons };
}

sub ends_by {
	my ($reason, $case) = @_;
	my $before = ended();
	my $res = $case->();
	my $after = wait_until(sub {
		my $e = ended();
		$e->{$reason} > $before->{$reason} ? $e : undef;
	}) // ended();
	my %delta = map { $_ => $after->{$_} - $before->{$_} } @reasons;
	is_deeply(\%delta, { (map { $_ => 0 } @reasons), $reason => 1 }, "ended by $reason only")
		or diag(explain(\%delta));
	return $res;
}

my $res = ends_by('upstream', sub { sse_get('/events' . query(n => 2, gap => 50)) });
is(scalar @{$res->{records}}, 2, 'upstream end: the whole stream');

ends_by('read_timeout', sub { sse_get('/short/events' . query(n => 2, gap => 3000)) });
ends_by('client', sub { sse_vanish('/events' . query(n => 10, gap => 300), wait => 0) });

# the control: a stream where sse_auto is off is not counted

my $before = ended();
sse_get('/off/events' . query(n => 2, gap => 50));
sleep(0.3);
is_deeply(ended(), $before, 'sse_auto off: not counted');

# bytes: what the client received, headers included; duration: in its bucket

$m = metrics();
my $bytes = metric($m, 'sse_auto_stream_sent_bytes_total');
my $le1 = metric($m, 'sse_auto_stream_duration_seconds_bucket', le => '1');
my $le5 = metric($m, 'sse_auto_stream_duration_seconds_bucket', le => '5');
my $sum = metric($m, 'sse_auto_stream_duration_seconds_sum');

my ($s) = hold_open('/events' . query(n => 5, gap => 400, pad => 100), 1);
my $got = ${*$s}{received};
1 while $s->sysread($got, 65536, length $got);
close $s;

$m = wait_until(sub {
	my $m = metrics();
	metric($m, 'sse_auto_stream_sent_bytes_total') > $bytes ? $m : undef;
}) // metrics();
is(metric($m, 'sse_auto_stream_sent_bytes_total') - $bytes, length $got,
	'bytes: exactly what the client received');
is(metric($m, 'sse_auto_stream_duration_seconds_bucket', le => '1'), $le1,
	'duration: not within 1s');
is(metric($m, 'sse_auto_stream_duration_seconds_bucket', le => '5'), $le5 + 1,
	'duration: within 5s');
my $took = metric($m, 'sse_auto_stream_duration_seconds_sum') - $sum;
ok($took >= 1.5 && $took < 3, "duration: sum grew by the stream's ${took}s");

# heartbeats into a quiet event stream; soft pushes when a soft response pauses

my $hb = metric($m, 'sse_auto_heartbeats_total');
$res = sse_get('/hb/events' . query(n => 2, gap => 1000));
is(scalar @{$res->{records}}, 2, 'heartbeat stream ran');
my $beats = metric(metrics(), 'sse_auto_heartbeats_total') - $hb;
my $seen = () = $res->{body} =~ /^:$/mg;
is($beats, $seen, "heartbeats: as many as the client saw ($seen)");
ok($beats >= 4, 'heartbeats: about 5 in 2s');

my $pushes = metric(metrics(), 'sse_auto_soft_pushes_total');
$res = sse_get('/events' . query(n => 3, gap => 300, ct => 'text/html', fmt => 'line'));
ok(live($res), 'soft response live') or diag(summary($res));
ok(metric(metrics(), 'sse_auto_soft_pushes_total') - $pushes >= 2, 'soft pushes counted');

# no stream left open; the histogram counts every end

$m = metrics();
my $ended = 0;
$ended += metric($m, 'sse_auto_streams_ended_total', reason => $_) for @reasons;
my $decided = 0;
$decided += metric($m, 'sse_auto_responses_total', decision => $_) for qw/ switched unsized
	unbuffered /;
is($ended, $decided, 'every decided stream ended');
is(metric($m, 'sse_auto_stream_duration_seconds_count'), $ended - metric($m,
	'sse_auto_streams_ended_total', reason => 'lost'), 'histogram count: the ended ones');
is(metric($m, 'sse_auto_stream_duration_seconds_bucket', le => '+Inf'),
	metric($m, 'sse_auto_stream_duration_seconds_count'), 'histogram +Inf is its count');

$j = metrics_json();
is($j && $j->{streams_ended}{read_timeout}, 1, 'json: same end reasons');
is($j && $j->{heartbeats}, metric($m, 'sse_auto_heartbeats_total'), 'json: same heartbeats');

SKIP: {
skip 'no prometheus_client in target/venv (scripts/build/venv.sh)', 1 unless $python;
is(parsers_check($python, $t->testdir()) =~ s/ .*//r, 'ok', 'real parsers, after the streams');
}

###############################################################################
