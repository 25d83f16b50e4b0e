#!/usr/bin/perl

# Tests for sse_auto: sse_auto_status stays exact under load: 2,000 streams opened and
# closed by 40 clients at once on two worker processes, half ended by the client, half by
# the upstream.

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Select;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::Status qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy/);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;
worker_rlimit_nofile 8192;

events {
    worker_connections 4096;
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format  workers  '$pid $sse_auto $status';

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        access_log %%TESTDIR%%/streams.log workers;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location = /status {
            access_log off;
            sse_auto_status;
        }
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(8);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my ($clients, $rounds, $batch) = (40, 5, 10);
my $total = $clients * $rounds * $batch;

# the client's streams last a minute (it closes them after their header, even on a loaded
# machine); the upstream's end after two events

my $long = '/events' . query(n => 600, gap => 100, first => 0);
my $short = '/events' . query(n => 2, gap => 50, first => 0);

my $started = time();
my @kids;
for my $c (1 .. $clients) {
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		my $ok = 0;
		for (1 .. $rounds) {
			my @client = hold_open($long, $batch / 2);
			my @upstream = hold_open($short, $batch / 2);
			$ok += grep { ${*$_}{received} =~ /^HTTP\/1\.1 200/ } @client, @upstream;
			close $_ for @client;
			for my $s (@upstream) {
				my $sel = IO::Select->new($s);
				while ($sel->can_read(10)) {
					my $buf;
					last unless $s->sysread($buf, 65536);
				}
				close $s;
			}
		}
		exit($ok == $rounds * $batch ? 0 : 1);
	}
	push @kids, $pid;
}
my $failed = 0;
for (@kids) {
	waitpid($_, 0);
	$failed++ if $?;
}
my $took = time() - $started;
is($failed, 0, sprintf('%d streams by %d clients, all answered (%.1fs)', $total, $clients,
	$took));

my $m = wait_until(sub {
	my $m = metrics();
	my $open = 0;
	$open += metric($m, 'sse_auto_streams_open', decision => $_) for qw/ switched unsized
		unbuffered /;
	$open == 0 ? $m : undef;
}, 10) // metrics();

is(metric($m, 'sse_auto_responses_total', decision => 'switched'), $total, "$total decided");
is(metric($m, 'sse_auto_streams_ended_total', reason => 'client'), $total / 2,
	'half ended by the client') or diag(explain($m));
is(metric($m, 'sse_auto_streams_ended_total', reason => 'upstream'), $total / 2,
	'half ended by the upstream');
my $others = 0;
$others += metric($m, 'sse_auto_streams_ended_total', reason => $_) for qw/ read_timeout drain
	other lost /;
is($others, 0, 'no other end');
is(metric($m, 'sse_auto_stream_duration_seconds_count'), $total, 'histogram: every stream');

# both workers served streams: their pids in the access log

my %by_worker;
wait_until(sub {
	%by_worker = ();
	$by_worker{(split)[0]}++ for grep { / switched / } split /\n/, $t->read_file('streams.log');
	(eval { my $n = 0; $n += $_ for values %by_worker; $n }) == $total;
});
is(scalar keys %by_worker, 2, 'two workers served them: '
	. join(', ', map { "$by_worker{$_}" } sort keys %by_worker));
is(metric($m, 'sse_auto_worker_processes'), 2, 'two workers counting');

###############################################################################
