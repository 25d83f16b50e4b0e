#!/usr/bin/perl

# Tests for sse_auto: sse_auto_status across reloads, drains, restarts and workers killed
# with open streams. Totals survive a reload and start again after a restart; an old worker's
# open streams are counted until it exits; a killed worker's are counted as lost as soon as
# its replacement starts, or at the next scrape when it has none.

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
            proxy_pass http://127.0.0.1:8081;
        }

        location /drain/ {
            sse_auto_drain 1s;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /status {
            sse_auto_status;
        }

        location = /version {
            return 200 "%%VERSION%%";
        }
    }
}

EOF

write_conf($t, 'v1');
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(26);
$t->waitforsocket('127.0.0.1:' . port(8081));

# the master reports each killed worker with an [alert]; checked below instead
$t->todo_alerts();

###############################################################################

my $long = '/events' . query(n => 100, gap => 500, first => 0);
my @reasons = qw/ client upstream read_timeout drain other lost /;

my $start = metric(metrics(), 'sse_auto_start_time_seconds');

# a reload with streams open: the old worker's are counted until it exits, totals go on

my @old = hold_open($long, 10);
my $v1 = workers($t);
write_conf($t, 'v2');
$t->reload();
# once the old worker has stopped accepting, new connections reach the new one
wait_until(sub { $t->read_file('error.log') =~ /\b$v1->[0]#\d+: gracefully shutting down/ });
my @new = hold_open($long, 5);

my $m = wait_until(sub {
	my $m = metrics();
	metric($m, 'sse_auto_worker_processes') == 2 ? $m : undef;
}) // metrics();
is(metric($m, 'sse_auto_worker_processes'), 2, 'reload: old and new worker counting');
is(open_streams($m), 15, 'reload: the old worker\'s 10 and the new one\'s 5 open');
is(metric($m, 'sse_auto_responses_total', decision => 'switched'), 15, 'reload: totals go on');
is(metric($m, 'sse_auto_start_time_seconds'), $start, 'reload: same start time');

close $_ for @old;
ok(exited($v1->[0], 5), 'old worker exits once its streams end');
$m = wait_until(sub {
	my $m = metrics();
	metric($m, 'sse_auto_worker_processes') == 1 ? $m : undef;
}) // metrics();
is(metric($m, 'sse_auto_worker_processes'), 1, 'old worker left its slot');
is(open_streams($m), 5, 'the new worker\'s 5 still open');
is(metric($m, 'sse_auto_streams_ended_total', reason => 'client'), 10, '10 ended by the client');
close $_ for @new;
is(wait_open(0), 0, 'all closed');

# drained on reload: in the drain counter, in no other

my $before = ended();
my @drained = hold_open('/drain' . $long, 3);
write_conf($t, 'v3');
$t->reload();
my $e = wait_until(sub { my $e = ended(); $e->{drain} - $before->{drain} >= 3 ? $e : undef }, 6)
	// ended();
is_deeply({ map { $_ => $e->{$_} - $before->{$_} } @reasons },
	{ (map { $_ => 0 } @reasons), drain => 3 }, 'drain: 3 drained, nothing else');
close $_ for @drained;

# kill -9 of a worker with open streams: its replacement takes its slot and the streams are
# lost at once

wait_until(sub { @{workers($t)} == 1 });
my $w = workers($t)->[0];
my @killed = hold_open($long, 10);
is(wait_open(10), 10, 'kill: 10 open');
$before = ended();
kill 'KILL', $w;
my $killed_at = time();
my $n = wait_open(0, 3);
my $took = time() - $killed_at;
is($n, 0, sprintf('kill -9: open back to 0 (%.2fs)', $took));
ok($took < 2, 'kill -9: within 2s (the master respawns at once)');
$e = ended();
is($e->{lost} - $before->{lost}, 10, 'kill -9: the 10 counted as lost');
is($e->{client} - $before->{client}, 0, 'kill -9: not as ended by the client');
isnt(workers($t)->[0], $w, 'kill -9: a new worker');
like($t->read_file('error.log'), qr/sse_auto: 10 streams of a worker process that died were/,
	'kill -9: logged by the replacement');
close $_ for @killed;

# kill -9 of an old worker after a reload: nobody takes its slot; the next scrape finds it
# gone

$w = workers($t)->[0];
my @orphans = hold_open($long, 4);
is(wait_open(4), 4, 'old worker: 4 open');
write_conf($t, 'v4');
$t->reload();
wait_until(sub { http_get('/version') =~ /v4$/ });
is(open_streams(metrics()), 4, 'old worker: still counted after the reload');
$before = ended();
kill 'KILL', $w;
ok(exited($w, 3), 'old worker killed');
is(wait_open(0, 3), 0, 'old worker: open back to 0 at the next scrape');
is(ended()->{lost} - $before->{lost}, 4, 'old worker: the 4 counted as lost');
is(metric(metrics(), 'sse_auto_worker_processes'), 1, 'old worker: slot emptied');
close $_ for @orphans;

# a restart starts the counters again

$t->stop();
$t->run();
$m = metrics();
is(metric($m, 'sse_auto_responses_total', decision => 'switched'), 0, 'restart: totals from 0');
is(metric($m, 'sse_auto_streams_ended_total', reason => 'lost'), 0, 'restart: lost from 0');

# the only alerts: the master's word on the two killed workers

my @alerts = $t->read_file('error.log') =~ /^.+\[alert\].+$/gm;
is(scalar(grep { !/worker process \d+ exited on signal 9/ } @alerts), 0,
	'no alerts but the two killed workers')
	or diag(join "\n", @alerts);

###############################################################################

sub write_conf {
	my ($t, $version) = @_;
	(my $c = $conf) =~ s/%%VERSION%%/$version/;
	$t->write_file_expand('nginx.conf', $c);
}

# the pids of the master's worker processes now

sub workers {
	my ($t) = @_;
	my $master = $t->read_file('nginx.pid');
	chomp $master;
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		open my $fh, '<', $stat or next;
		my ($pid, $ppid) = (split ' ', scalar <$fh> // '')[0, 3];
		push @pids, $pid if defined $ppid && $ppid == $master && $pid != $$;
	}
	return [ sort { $a <=> $b } @pids ];
}

sub exited {
	my ($pid, $secs) = @_;
	return wait_until(sub { !kill 0, $pid }, $secs);
}

sub open_streams {
	my ($m) = @_;
	my $n = 0;
	$n += metric($m, 'sse_auto_streams_open', decision => $_) // 0
		for qw/ switched unsized unbuffered /;
	return $n;
}

# waits up to $secs (5) for $n open streams; returns the number open then

sub wait_open {
	my ($n, $secs) = @_;
	my $open;
	wait_until(sub { ($open = open_streams(metrics())) == $n }, $secs);
	return $open;
}

sub ended {
	my $m = metrics();
	return { map { $_ => metric($m, 'sse_auto_streams_ended_total', reason => $_) // 0 }
		@reasons };
}

###############################################################################
