package Test::Nginx::ModuleFor;

# (C) sse_auto authors
#
# Helpers for the tests of scripts/build/module-for.sh (t/module-for/):
#
#   module_for($nginx, $src)    runs the script; returns { rc, out (all it printed), so (its
#                               last line, when it succeeded) }
#   build_nginx($name, $tarball, @configure_args)
#                               builds an nginx binary from a release tarball with the given
#                               arguments (as a distribution would), cached under
#                               target/module-for/bin/<name>; returns its path
#   stream_conf($so, %opts)     an nginx.conf for the streaming check: the built module loaded
#                               by load_module, a TLS server with a plain proxy_pass and an
#                               sse_auto off control
#
# Only the public Test::Nginx API is used.

use warnings;
use strict;

use Exporter qw/ import /;
use Cwd ();
use File::Basename qw/ dirname /;
use File::Spec;

our @EXPORT_OK = qw/ module_for build_nginx stream_conf $REPO $SOURCES /;

# t/lib/Test/Nginx/ModuleFor.pm -> the repository
our $REPO = Cwd::abs_path(File::Spec->rel2abs(dirname(__FILE__) . '/../../../..'));

# the read-only source tarballs, as the matrix uses them
our $SOURCES = $ENV{SSE_SOURCES} // "$REPO/../shared/sources";

sub module_for {
	my ($nginx, $src) = @_;
	my @cmd = ("$REPO/scripts/build/module-for.sh", $nginx, defined $src ? ($src) : ());

	my $pid = open(my $fh, '-|');
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open STDERR, '>&', \*STDOUT;
		exec { $cmd[0] } @cmd or exit 127;
	}
	local $/;
	my $out = <$fh> // '';
	close $fh;
	my $rc = $? >> 8;

	my ($last) = $out =~ /([^\x0a]*)\x0a?\z/;
	return { rc => $rc, out => $out,
		so => ($rc == 0 && defined $last && $last =~ m{^/\S+\.so$} ? $last : undef) };
}

sub build_nginx {
	my ($name, $tarball, @args) = @_;
	my $dir = "$REPO/target/module-for/bin/$name";
	my $bin = "$dir/objs/nginx";
	my $stamp = join("\n", $tarball, @args) . "\n";

	if (-x $bin && open my $fh, '<', "$dir/build.flags") {
		local $/;
		return $bin if <$fh> eq $stamp;
	}

	system('rm', '-rf', $dir) == 0 or die "rm $dir failed\n";
	system('mkdir', '-p', $dir) == 0 or die "mkdir $dir failed\n";
	system('tar', '-xzf', $tarball, '-C', $dir, '--strip-components=1') == 0
		or die "tar $tarball failed\n";

	my $log = "$dir/build.log";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		chdir $dir or exit 1;
		open STDOUT, '>', $log or exit 1;
		open STDERR, '>&', \*STDOUT;
		system('./configure', @args) == 0 or exit 1;
		exec('nice', '-n', '10', 'make', '-j2') or exit 1;
	}
	waitpid($pid, 0);
	die "building $name failed, see $log\n" if $? != 0 || !-x $bin;

	open my $fh, '>', "$dir/build.flags" or die "$dir/build.flags: $!\n";
	print $fh $stamp;
	close $fh;
	return $bin;
}

# The module is loaded by the configuration itself: %%TEST_GLOBALS%% is not used, so the
# binary's other dynamic modules (which nginx -V lists and the test library would load) are
# not needed, and Test::Nginx passes pid and error_log on the command line.

sub stream_conf {
	my ($so, %opts) = @_;
	my $user = $> == 0 ? "user nobody nogroup;\n" : '';

	return <<"EOF";

load_module $so;
$user
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

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF
}

1;
