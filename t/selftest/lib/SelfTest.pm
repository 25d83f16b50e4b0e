package SelfTest;

# Helpers for the Test::Nginx self tests (not part of the library).
#
# Loading this module picks an nginx binary unless TEST_NGINX_BINARY is
# already set: the newest one built by cargo (nginx-sys, vendored), else
# Debian's /usr/sbin/nginx.  It must be loaded before Test::Nginx, which
# reads TEST_NGINX_BINARY at load time.

use warnings;
use strict;

use File::Basename qw/ dirname /;
use File::Spec;
use File::Temp qw/ tempdir /;
use POSIX qw//;

our $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
our $SELFTEST = "$ROOT/t/selftest";

if (!defined $ENV{TEST_NGINX_BINARY}) {
	my @built = sort { -M $a <=> -M $b }
		grep { -x } glob("$ROOT/target/*/build/nginx-sys-*/out/objs/nginx");

	if (@built) {
		$ENV{TEST_NGINX_BINARY} = $built[0];

	} elsif (-x '/usr/sbin/nginx') {
		$ENV{TEST_NGINX_BINARY} = '/usr/sbin/nginx';

		# Debian builds mail, stream, geoip, perl etc. as dynamic
		# modules and %%TEST_GLOBALS%% loads them (as upstream does):
		# this needs the matching libnginx-mod-* packages installed
		$ENV{TEST_NGINX_MODULES} = '/usr/lib/nginx/modules'
			unless defined $ENV{TEST_NGINX_MODULES};
	}
}

# Directory of the Test/Nginx.pm that "use Test::Nginx" picks (first in
# @INC), so child scripts test the same library as the parent.

sub lib_dir {
	for my $dir (@INC) {
		next if ref $dir;
		return File::Spec->rel2abs($dir) if -f "$dir/Test/Nginx.pm";
	}

	die "Test/Nginx.pm not found in \@INC\n";
}

# True if that library is this project's implementation (checks for the
# extensions it documents), false for upstream nginx-tests.

sub is_ours {
	open my $fh, '<', lib_dir() . '/Test/Nginx.pm' or return 0;
	local $/;
	my $src = <$fh>;
	return $src =~ /^our \$TIMEOUT\b/m ? 1 : 0;
}

# Run t/selftest/scripts/child.pl with a mode; returns a hash with exit
# status, stdout and stderr.  %env is added to the child's environment.

sub run_child {
	my ($mode, %env) = @_;

	my $dir = tempdir(CLEANUP => 1);
	my @cmd = ($^X, '-I' . lib_dir(), '-I' . "$SELFTEST/lib",
		"$SELFTEST/scripts/child.pl", $mode);

	my $pid = fork();
	die "fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		@ENV{keys %env} = values %env;
		open STDOUT, '>', "$dir/out" or POSIX::_exit(126);
		open STDERR, '>', "$dir/err" or POSIX::_exit(126);
		exec { $cmd[0] } @cmd or POSIX::_exit(127);
	}

	waitpid($pid, 0);
	my $status = $? >> 8;

	return {
		status => $status,
		out => _slurp("$dir/out"),
		err => _slurp("$dir/err"),
	};
}

sub _slurp {
	my ($file) = @_;
	open my $fh, '<', $file or return '';
	local $/;
	my $s = <$fh>;
	return defined $s ? $s : '';
}

1;
