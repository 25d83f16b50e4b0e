#!/usr/bin/perl

# Self test of Test::Nginx: plan arithmetic, the automatic "no alerts" /
# "no sanitizer errors" checks, failure and skip paths, and cleanup.
# Each case runs t/selftest/scripts/child.pl in a separate perl and checks
# its TAP output, exit status and what it leaves behind (the child reports
# its test directory and pids with diag(), i.e. on stderr).

use warnings;
use strict;

use Test::More;

use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib"; }	# -I given to prove comes first

use SelfTest;

plan(skip_all => 'no nginx binary found')
	unless defined $ENV{TEST_NGINX_BINARY} && -x $ENV{TEST_NGINX_BINARY};

plan(tests => 35);

my $ours = SelfTest::is_ours();
my $r;

sub testdir { $_[0]->{err} =~ /^# testdir: (\S+)/m ? $1 : '' }
sub alive { my ($pid) = @_; $pid && kill(0, $pid) }

# plan(1) means 1..3: the destructor adds two tests

$r = SelfTest::run_child('pass');
is($r->{status}, 0, 'pass: exit status');
like($r->{out}, qr/^1\.\.3$/m, 'pass: plan + 2');
like($r->{out}, qr/^ok 1 - request\nok 2 - no alerts\nok 3 - no sanitizer errors\n/m,
	'pass: checks after the tests');
ok(testdir($r) && !-e testdir($r), 'pass: testdir removed');
my ($pid) = $r->{err} =~ /^# nginx: (\d+)/m;
ok($pid && !alive($pid), 'pass: nginx stopped');

# [alert] in error.log fails "no alerts"

$r = SelfTest::run_child('alert');
isnt($r->{status}, 0, 'alert: exit status');
like($r->{out}, qr/^not ok 2 - no alerts$/m, 'alert: detected');
like($r->{err}, qr/got: '.*\[alert\] 1#1: selftest alert'/, 'alert: reported');

# ... unless todo_alerts()

$r = SelfTest::run_child('todo-alert');
is($r->{status}, 0, 'todo alert: exit status');
like($r->{out}, qr/^not ok 2 - no alerts # TODO alerts$/m, 'todo alert: todo');

# sanitizer reports fail "no sanitizer errors"

$r = SelfTest::run_child('sanitizer');
isnt($r->{status}, 0, 'sanitizer: exit status');
like($r->{out}, qr/^ok 2 - no alerts\nnot ok 3 - no sanitizer errors$/m,
	'sanitizer: detected');

# run() with a broken configuration dies, error.log shown

$r = SelfTest::run_child('bad-run');
isnt($r->{status}, 0, 'bad run: exit status');
like($r->{err}, qr/Can't start nginx/, 'bad run: message');
unlike($r->{out}, qr/not reached/, 'bad run: died');
like($r->{err}, qr/unknown directive "no_such_directive_xyz"/,
	'bad run: nginx error shown');

SKIP: {
	skip 'error.log diag is an extension of this implementation', 1
		unless $ours;

	like($r->{err}, qr/^# error\.log:\n# \S+ \S+ \[emerg\] .*no_such_directive_xyz/m,
		'bad run: error.log printed');
}

# try_run() skips the file quietly

$r = SelfTest::run_child('try-run');
is($r->{status}, 0, 'try_run: exit status');
like($r->{out}, qr/^1\.\.0 # SKIP no no_such_directive_xyz$/m, 'try_run: skip');
unlike($r->{out} . $r->{err}, qr/unknown directive|not reached/, 'try_run: quiet');
ok(testdir($r) && !-e testdir($r), 'try_run: testdir removed');

# try_run() that works; run($file) with args()

$r = SelfTest::run_child('try-ok');
like($r->{out}, qr/^1\.\.3\nok 1 - request\n/m, 'try_run: success');

$r = SelfTest::run_child('conf-file');
is($r->{status}, 0, 'run file: exit status');
like($r->{out}, qr/^ok 1 - request$/m, 'run file: request');

# has() / has_daemon() skip the file

$r = SelfTest::run_child('no-feature');
like($r->{out}, qr/^1\.\.0 # SKIP no no_such_feature_xyz available$/m,
	'has: skip');

$r = SelfTest::run_child('no-daemon');
like($r->{out}, qr/^1\.\.0 # SKIP no-such-program-xyz not found$/m,
	'has_daemon: skip');

# daemons (a program and a Perl sub) are stopped with nginx

$r = SelfTest::run_child('daemons');
is($r->{status}, 0, 'daemons: exit status');
my @daemons = $r->{err} =~ /^# daemon: (\d+)/mg;
is(scalar @daemons, 2, 'daemons: started');
ok(!grep({ alive($_) } @daemons), 'daemons: stopped');

# TEST_NGINX_LEAVE keeps the directory, TEST_NGINX_CATLOG prints the log

$r = SelfTest::run_child('pass', TEST_NGINX_LEAVE => 1,
	TEST_NGINX_CATLOG => 1);
is($r->{status}, 0, 'leave: exit status');
my $dir = testdir($r);
ok($dir && -f "$dir/error.log", 'leave: testdir kept');
like($r->{out}, qr/^\S+ \S+ \[notice\] /m, 'catlog: error.log printed');
File::Path::rmtree($dir) if $dir && $dir =~ m!/nginx-test-!;

# TEST_NGINX_VERBOSE logs the request and response

$r = SelfTest::run_child('pass', TEST_NGINX_VERBOSE => 1);
like($r->{out}, qr/^# >> GET \/ HTTP\/1\.0\\x0a$/m, 'verbose: request');
like($r->{out}, qr/^# << HTTP\/1\.1 200 OK\\x0d\\x0a$/m, 'verbose: response');

# an object alive until global destruction: as upstream, the checks come
# after Test::Builder's summary, so the count is wrong (documents the
# pitfall of using $t from a named sub)

$r = SelfTest::run_child('global');
like($r->{err}, qr/planned 3 tests but ran 1/, 'global destruction: late');

###############################################################################
