#!/usr/bin/perl

# Tests for sse_auto: on reload, streams with sse_auto_drain are ended at an event boundary
# after the delay, so the old worker exits instead of holding the old configuration for as
# long as its streams last.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy rewrite/)->has_daemon('curl');

my $conf = <<'EOF';

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
            sse_auto_drain 1s;
            proxy_pass http://127.0.0.1:8081;
        }

        location /unbuffered/ {
            sse_auto_drain 1s;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /nodrain/ {
            proxy_pass http://127.0.0.1:8081;
        }

        location /ndjson/ {
            sse_auto_drain 1s;
            sse_auto_types application/x-ndjson;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /version {
            return 200 "%%VERSION%%";
        }
    }
}

EOF

write_conf($t, 'v1');
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(13);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

# a long stream whose events pause in their middle, so a cut could fall inside one

my $long = query(n => 12, gap => 150, split => 150);

# control: without sse_auto_drain, the old worker lives as long as the stream; an NDJSON
# stream with sse_auto_drain is not cut either: it has no event boundaries to end at

my $worker = worker($t);
my $req = sse_start("/nodrain/events$long");
my $nd = sse_start('/ndjson/events' . query(n => 12, gap => 300, ct => 'application/x-ndjson',
	fmt => 'ndjson'));
sleep(0.5);
write_conf($t, 'v2');
$t->reload();

ok(!exited($worker, 2), 'no drain: old worker still there after 2s');
my $r = sse_finish($req);
is(scalar @{$r->{records}}, 12, 'no drain: stream runs to its end');
is(scalar @{sse_finish($nd)->{records}}, 12, 'drain: ndjson stream not cut');
ok(exited($worker, 2), 'no drain: old worker exits after the streams');

# with sse_auto_drain 1s: the old worker is gone within the delay and a second

$worker = worker($t);
$req = sse_start("/events$long");
# a stream nginx sends unbuffered anyway is drained all the same
my $req2 = sse_start("/unbuffered/events$long");
sleep(0.5);
write_conf($t, 'v3');
$t->reload();

ok(exited($worker, 2), 'drain: old worker exits within delay + 1s');

for my $res (sse_finish($req), sse_finish($req2)) {
	my $n = scalar @{$res->{records}};
	ok($n >= 4 && $n < 12, "drain: stream ended early, after the delay ($n events)");
	is($res->{exit}, 0, 'drain: the response ended normally');
	like($res->{body}, qr/\A(id: (\d+)\x0adata: seq=\2 sent=[\d.]+ req=\d+\x0a\x0a)+\z/,
		'drain: ended at an event boundary');
}

is(http_get('/version') =~ /v3$/ ? 'v3' : 'old', 'v3', 'new configuration serves');

$t->stop();

like($t->read_file('error.log'),
	qr/sse_auto: stream ended at an event boundary for shutdown after \d+ bytes/,
	'drain: logged');

###############################################################################

sub write_conf {
	my ($t, $version) = @_;
	(my $c = $conf) =~ s/%%VERSION%%/$version/;
	$t->write_file_expand('nginx.conf', $c);
}

# the pid of the (one) worker process now

sub worker {
	my ($t) = @_;
	my $master = $t->read_file('nginx.pid');
	chomp $master;
	for my $stat (glob '/proc/[0-9]*/stat') {
		open my $fh, '<', $stat or next;
		my ($pid, $ppid) = (split ' ', scalar <$fh>)[0, 3];
		return $pid if $ppid == $master && $pid != $$;
	}
	return undef;
}

sub exited {
	my ($pid, $secs) = @_;
	my $end = time() + $secs;
	while (time() < $end) {
		return 1 unless kill 0, $pid;
		sleep(0.05);
	}
	return !kill 0, $pid;
}

###############################################################################
