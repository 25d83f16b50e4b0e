#!/usr/bin/perl

# Child script for t/selftest/harness.t: a small test file in the style of
# nginx-tests whose TAP output and exit status the parent inspects.
# Usage: child.pl MODE

use warnings;
use strict;

use Test::More;

use SelfTest;
use Test::Nginx;

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $mode = shift @ARGV or die "usage: $0 MODE\n";

my $good = <<'EOF';

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
            return 200 "child";
        }
    }
}

EOF

(my $bad = $good) =~ s/(return 200)/no_such_directive_xyz on;\n            $1/;

my $t = Test::Nginx->new();

# tell the parent what to check after we are gone
diag("testdir: " . $t->testdir());

if ($mode eq 'no-feature') {
	$t->has(qw/http no_such_feature_xyz/);

} elsif ($mode eq 'no-daemon') {
	$t->has_daemon('no-such-program-xyz');

} elsif ($mode eq 'bad-run') {
	$t->write_file_expand('nginx.conf', $bad);
	$t->plan(1)->run();
	ok(0, 'not reached');
	exit 0;

} elsif ($mode eq 'try-run') {
	$t->write_file_expand('nginx.conf', $bad);
	$t->try_run('no no_such_directive_xyz')->plan(1);
	ok(0, 'not reached');
	exit 0;
}

$t->write_file_expand('nginx.conf', $good);

if ($mode eq 'daemons') {
	# a program and a Perl sub, both must be gone after the test
	$t->run_daemon('sleep', '300');
	$t->run_daemon(sub { sleep 300; });
	diag("daemon: $_") for @{$t->{_daemons}};
}

$t->todo_alerts() if $mode eq 'todo-alert';

if ($mode eq 'conf-file') {
	# run($file): template read from a file, expanded into nginx.conf;
	# args(): extra command line arguments
	my $template = $t->testdir() . '/template.conf';
	open my $fh, '>', $template or die "$!";
	print $fh $good;
	close $fh;

	$t->write_file('nginx.conf', '');
	$t->plan(1)->args('-g', 'worker_processes 2;')->run($template);

} elsif ($mode eq 'try-ok') {
	$t->try_run('not expected')->plan(1);

} else {
	$t->plan(1)->run();
}

diag("nginx: " . $t->read_file('nginx.pid'));

like(http_get('/'), qr/^HTTP\/1\.1 200 .*child$/s, 'request');

# nginx is still running here: append as a worker would

append($t, "2000/01/01 00:00:00 [alert] 1#1: selftest alert\n")
	if $mode =~ /alert/;

append($t, "==1==ERROR: AddressSanitizer: heap-use-after-free\n")
	if $mode eq 'sanitizer';

# Kept alive until global destruction (as when a named sub uses $t), so
# DESTROY runs after Test::Builder has finished: upstream then reports a
# wrong test count too; tests should pass $t to subs as an argument.

our $keep;
$keep = $t if $mode eq 'global';

sub append {
	my ($t, $line) = @_;
	open my $fh, '>>', $t->testdir() . '/error.log' or die "$!";
	print $fh $line;
	close $fh;
}
