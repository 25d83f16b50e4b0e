package Test::Nginx;

# Minimal, independent implementation of the imperative test library API used
# by nginx's own test suite (nginx-tests, lib/Test/Nginx.pm), as also used by
# ngx-rust and nginx-acme.  It is NOT OpenResty's Test::Nginx::Socket.
#
# Test files written against this module must run unchanged against the
# upstream library (put it first on @INC), so names, signatures, return
# values, plan arithmetic and output of the automatic checks follow the
# upstream behaviour.  Only core Perl modules are used; IO::Socket::SSL is
# loaded lazily when an SSL connection is requested.
#
# Environment (same meaning as in nginx-tests):
#   TEST_NGINX_BINARY        nginx to test, default ../nginx/objs/nginx
#   TEST_NGINX_MODULES       directory with dynamic modules, default the
#                            directory of TEST_NGINX_BINARY
#   TEST_NGINX_GLOBALS       extra directives for the main context
#   TEST_NGINX_GLOBALS_HTTP  extra directives for the http context
#   TEST_NGINX_GLOBALS_STREAM extra directives for the stream context
#   TEST_NGINX_VERBOSE       log requests/responses (needs prove -v)
#   TEST_NGINX_LEAVE         keep the temporary test directory
#   TEST_NGINX_CATLOG        print error.log after the test
#   TEST_NGINX_TIMEOUT_MULT  multiplier for all waits and I/O timeouts

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

our @EXPORT = qw/ log_in log_out http http_get http_head port /;
our @EXPORT_OK = qw/
	http_gzip_request http_gzip_like http_start http_end http_content
/;
our %EXPORT_TAGS = (
	gzip => [ qw/ http_gzip_request http_gzip_like / ],
);

use File::Path qw/ rmtree /;
use File::Spec;
use File::Temp qw/ tempdir /;
use IO::Socket;
use POSIX qw/ WNOHANG /;
use Test::More qw//;

###############################################################################

our $NGINX = defined $ENV{TEST_NGINX_BINARY}
	? $ENV{TEST_NGINX_BINARY} : '../nginx/objs/nginx';

# Logical port number (as written in the test, e.g. 8080) => {
#   port   => real port number handed out,
#   socket => socket of the other protocol, held open for the whole run so
#             that concurrently running tests do not pick the same port
# }
our %ports = ();

# Seconds allowed for one http_start()/http_end() step (upstream: 8).
# Extension: upstream hardcodes the value.
our $TIMEOUT = 8;

sub _mult() {
	my $m = $ENV{TEST_NGINX_TIMEOUT_MULT};
	return (defined $m && $m > 0) ? $m : 1;
}

# number of 0.1s polling rounds for a wait of $seconds
sub _rounds($) {
	my ($seconds) = @_;
	my $n = int($seconds * 10 * _mult() + 0.5);
	return $n > 0 ? $n : 1;
}

sub _nap() {
	select undef, undef, undef, 0.1;
}

###############################################################################

sub new {
	my ($class) = @_;

	my $self = bless {
		_pid => $$,	# only this process stops nginx and cleans up
		_alerts => 1,	# cleared by todo_alerts()
	}, (ref($class) || $class || __PACKAGE__);

	# Not using File::Temp's CLEANUP: it runs from an END block, which
	# may come before DESTROY (e.g. when $t is captured by a named sub),
	# and DESTROY still needs error.log for the alert checks.  DESTROY
	# removes the directory itself unless TEST_NGINX_LEAVE is set.

	my $dir = tempdir('nginx-test-XXXXXXXXXX', TMPDIR => 1)
		or die "Can't create temp directory: $!\n";

	# absolute, so that a later chdir() does not matter
	$self->{_testdir} = File::Spec->rel2abs($dir);

	# Deviation: when run as root, nginx workers run as "nobody" and
	# could not enter the 0700 directory (static files, temp files);
	# upstream expects to be run as an ordinary user.
	chmod(0755, $self->{_testdir}) if $> == 0;

	Test::More::BAIL_OUT("no $NGINX binary found")
		unless -x $NGINX;

	return $self;
}

sub DESTROY {
	my ($self) = @_;

	# waitpid() and eval below must not clobber the script's exit status
	# or an exception being propagated

	local $?;
	local $@;

	# forked daemons (run_daemon) carry a copy of the object

	return if !defined $self->{_pid} || $self->{_pid} != $$;

	$self->stop();
	$self->stop_daemons();

	# Two extra tests, accounted for by plan() adding 2; emitted only
	# when a test count was planned (not for skip_all or done_testing).

	if (Test::More->builder->expected_tests) {
		my $log = eval { $self->read_file('error.log') };

		if (!defined $log) {
			# upstream dies here (no checks emitted); just warn
			warn "Can't check error.log: $@";

		} else {
			$self->_check_log($log);
		}
	}

	if ($ENV{TEST_NGINX_CATLOG}) {
		my $log = eval { $self->read_file('error.log') };
		print $log if defined $log;
	}

	if (!$ENV{TEST_NGINX_LEAVE}) {
		eval { rmtree($self->{_testdir}); };
	}
}

sub _check_log {
	my ($self, $log) = @_;

	{
		# Test::Builder looks up $TODO in the caller's package,
		# which is this one

		local $Test::Nginx::TODO = $self->{_alerts} ? undef : 'alerts';

		# whole lines with "[alert]" somewhere inside
		my @alerts = $log =~ /^.+\[alert\].+$/gm;

		Test::More::is(join("\n", @alerts), '', 'no alerts');
	}

	{
		local $Test::Nginx::TODO;

		my @errors = $log =~ /^.+Sanitizer.+$/gm;
		Test::More::is(join("\n", @errors), '',
			'no sanitizer errors');
	}
}

###############################################################################

# Features with a module built by default: available unless configure was
# given the (prefix of the) option "--without-<value>".

my %BUILT_UNLESS = (
	(map { $_ => "http_${_}_module" } qw/
		charset gzip ssi mirror userid access auth_basic autoindex
		geo map referer rewrite proxy fastcgi uwsgi scgi grpc
		memcached limit_conn limit_req empty_gif browser split_clients
		tunnel upstream_hash upstream_ip_hash upstream_least_conn
		upstream_least_time upstream_random upstream_keepalive
		upstream_zone
	/),
	(map { $_ => "mail_${_}_module" } qw/ pop3 imap smtp /),
	(map { $_ => "${_}_module" } qw/
		stream_access stream_geo stream_limit_conn stream_map
		stream_pass stream_return stream_set stream_split_clients
		stream_upstream_hash stream_upstream_least_conn
		stream_upstream_least_time stream_upstream_random
		stream_upstream_zone
	/),
	upstream_sticky => 'http_upstream_sticky',
	cache => 'http-cache',
	pcre => 'pcre',
);

# Features which must be enabled explicitly: available if "nginx -V"
# output matches.

my %BUILT_IF = (
	(map { $_ => qr/--with-http_${_}_module/ } qw/
		flv perl auth_request realip sub json
	/),
	stream_ssl => qr/--with-stream_ssl_module/,
	control_api => qr/--with-control-api/,
	sni => qr/TLS SNI support enabled/,

	# "--with-mail" or "--with-mail=dynamic", not "--with-mail_ssl_module"
	mail => qr/--with-mail(?:=dynamic)?(?!\S)/,
	stream => qr/--with-stream(?:=dynamic)?(?!\S)/,
);

# Dynamic modules: also available if TEST_NGINX_GLOBALS loads them.

my %DYNAMIC = (
	http_geoip => 'ngx_http_geoip_module',
	image_filter => 'ngx_http_image_filter_module',
	perl => 'ngx_http_perl_module',
	xslt => 'ngx_http_xslt_filter_module',
	mail => 'ngx_mail_module',
	stream => 'ngx_stream_module',
	stream_geoip => 'ngx_stream_geoip_module',
);

# run a command, return its stdout and stderr combined

sub _capture {
	my (@cmd) = @_;

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		open STDERR, '>&', \*STDOUT;
		exec { $cmd[0] } @cmd or do {
			print "Can't exec $cmd[0]: $!\n";
			POSIX::_exit(127);
		};
	}

	local $/;
	my $out = <$fh>;
	close $fh;

	return defined $out ? $out : '';
}

sub _configure_args {
	my ($self) = @_;

	$self->{_configure_args} = _capture($NGINX, '-V')
		unless defined $self->{_configure_args};

	return $self->{_configure_args};
}

# true if version string @$have >= @$need, compared component-wise

sub _version_ge {
	my ($have, $need) = @_;
	my @have = @$have;

	for my $n (@$need) {
		my $h = shift(@have) || 0;
		return 0 if $n > $h;
		return 1 if $h > $n;
	}

	return 1;
}

sub has {
	my ($self, @features) = @_;

	for my $feature (@features) {
		next if $self->has_module($feature)
			or $self->has_feature($feature);

		Test::More::plan(skip_all => "no $feature available");
	}

	return $self;
}

# Whether nginx was built with a feature.  Known names are checked against
# the configure arguments; any other name is used as a regular expression
# on "nginx -V" output (so has('http_ssl'), has('http_v2') or
# has_module('perl\S+=dynamic') work).

sub has_module {
	my ($self, $feature) = @_;

	my $v = $self->_configure_args();

	if (defined $BUILT_UNLESS{$feature}) {
		return 1 if index($v, "--without-$BUILT_UNLESS{$feature}") < 0;

	} elsif ($feature eq 'http') {
		# "--without-http" itself, not "--without-http_..._module"
		return 1 if $v !~ /--without-http(?!\S)/;

	} elsif (defined $BUILT_IF{$feature}) {
		return 1 if $v =~ $BUILT_IF{$feature};

	} else {
		return 1 if $v =~ /$feature/;
	}

	my $module = $DYNAMIC{$feature};

	if (defined $module && defined $ENV{TEST_NGINX_GLOBALS}) {
		return 1 if $ENV{TEST_NGINX_GLOBALS}
			=~ /load_module\s+[^;]*\Q$module\E[-\w]*\.so\s*;/;
	}

	return 0;
}

# Features of the test environment rather than of the nginx binary.

sub has_feature {
	my ($self, $feature) = @_;

	if ($feature eq 'symlink' || $feature eq 'unix' || $feature eq 'udp') {
		return $^O ne 'MSWin32';
	}

	if ($feature =~ /^socket_ssl/) {
		return 0 unless eval {
			require IO::Socket::SSL;
			IO::Socket::SSL::SSL_VERIFY_NONE();
			1;
		};

		return 1 if $feature eq 'socket_ssl';

		return eval { IO::Socket::SSL->can_client_sni() } ? 1 : 0
			if $feature eq 'socket_ssl_sni';

		return eval { IO::Socket::SSL->can_alpn() } ? 1 : 0
			if $feature eq 'socket_ssl_alpn';

		return IO::Socket::SSL->can('get_sslversion')
			if $feature eq 'socket_ssl_sslversion';

		return IO::Socket::SSL->can('get_session_reused')
			if $feature eq 'socket_ssl_reused';

		return 0;
	}

	# "openssl:1.1.1", "libressl:3.5.0", "openssl:1.0.2k": library used
	# by nginx at least this version; a letter suffix compares by code

	if ($feature =~ /^(openssl|libressl):([0-9.]+)([a-z]*)/) {
		my ($library, $need, $letters) = ($1, $2, $3);

		return 0 unless $self->_configure_args()
			=~ /with $library ([0-9.]+)([a-z]*)/i;

		return _version_ge(
			[ split(/\./, $1), unpack('C*', $2) ],
			[ split(/\./, $need), unpack('C*', $letters) ]);
	}

	if ($feature eq 'cryptx') {
		return 0 unless eval { require Crypt::Misc; 1 };
		return $Crypt::Misc::VERSION >= 0.067 ? 1 : 0;
	}

	return 0;
}

# The nginx version, from "nginx version: nginx/1.27.1"; OpenResty prints
# "nginx version: openresty/1.27.1.2", whose first three components are the
# version of the nginx core it patches.

sub has_version {
	my ($self, $need) = @_;

	my $v = $self->_configure_args();
	my ($have) = $v =~ m!nginx version: nginx/([0-9.]+)!;
	($have) = $v =~ m!nginx version: openresty/(\d+\.\d+\.\d+)!
		unless defined $have;

	return _version_ge([ split(/\./, defined $have ? $have : '') ],
		[ split(/\./, $need) ]);
}

# skip_all unless the program is found (in PATH, or at the given path)

sub has_daemon {
	my ($self, $daemon) = @_;

	Test::More::plan(skip_all => "$daemon not found")
		unless _which($daemon);

	return $self;
}

sub _which {
	my ($prog) = @_;

	return -f $prog && -x _ if $prog =~ m!/!;

	for my $dir (File::Spec->path()) {
		my $path = File::Spec->catfile($dir eq '' ? '.' : $dir, $prog);
		return 1 if -f $path && -x _;
	}

	return 0;
}

###############################################################################

# The two checks done in DESTROY ("no alerts", "no sanitizer errors") are
# real tests, hence the + 2.

sub plan {
	my ($self, $plan) = @_;

	Test::More::plan(tests => $plan + 2);

	return $self;
}

# Make the "no alerts" check a TODO test.

sub todo_alerts {
	my ($self) = @_;

	$self->{_alerts} = 0;

	return $self;
}

# Extra command line arguments for nginx.

sub args {
	my ($self, @args) = @_;

	$self->{_args} = \@args;

	return $self;
}

# Command line for nginx in the test directory.  Unless the configuration
# used %%TEST_GLOBALS%%, pid and error_log are passed with -g.

sub _nginx_command {
	my ($self, @extra) = @_;
	my $dir = $self->{_testdir};

	my @globals = defined $self->{_test_globals} ? () : ('-g',
		"pid $dir/nginx.pid; error_log $dir/error.log debug;");

	# -e exists since nginx 1.19.5; before it, nginx opens logs/error.log
	# under the prefix at startup, as nginx-tests' library relied on then

	my @e = ('-e', 'error.log');

	unless ($self->has_version('1.19.5')) {
		@e = ();
		mkdir "$dir/logs" unless -d "$dir/logs";
	}

	return ($NGINX, '-p', "$dir/", '-c', 'nginx.conf',
		@e, @extra, @globals);
}

sub run {
	my ($self, $conf) = @_;
	my $dir = $self->{_testdir};

	# optional: configuration template file (path relative to cwd)

	if (defined $conf) {
		open my $fh, '<', $conf or die "Can't open $conf: $!\n";
		local $/;
		my $content = <$fh>;
		close $fh;

		$self->write_file_expand('nginx.conf', $content);
	}

	my @cmd = $self->_nginx_command(@{$self->{_args} || []});

	my $pid = fork();
	die "Unable to fork(): $!\n" unless defined $pid;

	if ($pid == 0) {
		exec { $cmd[0] } @cmd or do {
			print STDERR "Unable to exec($cmd[0]): $!\n";
			POSIX::_exit(127);
		};
	}

	# The configuration is expected to have "daemon off;", so nginx
	# stays our child; it is up once the pid file is written.

	my $ok = $self->waitforfile("$dir/nginx.pid", $pid);

	if (!$ok) {
		if (!defined $ok) {
			# timed out while still running: do not leave it behind
			_terminate($pid, 'TERM', 5);
		}

		# try_run() is quiet, it only logs with TEST_NGINX_VERBOSE

		if (!$self->{_quiet}) {
			my $log = eval { $self->read_file('error.log') };
			Test::More::diag("error.log:\n" . $log)
				if defined $log && length $log;
		}

		die "Can't start nginx";
	}

	$self->{_nginx_pid} = $pid;
	$self->{_started} = 1;

	return $self;
}

# Like run(), but skip the whole test file with $message if nginx fails to
# start (e.g. an unsupported directive).

sub try_run {
	my ($self, $message) = @_;

	# silence "nginx: [emerg] ..." printed by nginx itself

	open my $stderr, '>&', \*STDERR or die "Can't dup STDERR: $!\n";
	open STDERR, '>', File::Spec->devnull();

	my $ok = eval {
		local $self->{_quiet} = 1;
		$self->run();
		1;
	};

	open STDERR, '>&', $stderr;
	close $stderr;

	return $self if $ok;

	if ($ENV{TEST_NGINX_VERBOSE}) {
		my $log = eval { $self->read_file('error.log') };
		log_core($_) for split /^/m, defined $log ? $log : '';
	}

	Test::More::plan(skip_all => $message);

	return $self;
}

# Output of "nginx -T" for the test configuration.

sub dump_config {
	my ($self) = @_;

	return _capture($self->_nginx_command('-T'));
}

sub _nginx_pid {
	my ($self) = @_;

	my $pid = eval { $self->read_file('nginx.pid') };
	$pid = $self->{_nginx_pid} unless defined $pid && $pid =~ /\d/;

	$pid =~ s/\s+//g if defined $pid;

	return $pid;
}

sub reload {
	my ($self) = @_;

	return $self unless $self->{_started};

	# asynchronous, as upstream: callers wait for the effect themselves

	kill 'HUP', $self->_nginx_pid();

	return $self;
}

# wait up to $seconds for a child to exit; true if it did (or is not ours)

sub _reap {
	my ($pid, $seconds) = @_;

	for (1 .. _rounds($seconds)) {
		return 1 if waitpid($pid, WNOHANG) != 0;
		_nap();
	}

	return 0;
}

# Send $signal and wait up to $seconds for the child to exit.  If it does
# not, kill it unless the signal was QUIT (the caller escalates then).
# True if it exited within the time.

sub _terminate {
	my ($pid, $signal, $seconds) = @_;

	kill $signal, $pid;
	return 1 if _reap($pid, $seconds);
	return 0 if $signal eq 'QUIT';

	kill 'KILL', $pid;
	waitpid($pid, 0);

	return 0;
}

sub stop {
	my ($self) = @_;

	return $self unless $self->{_started};

	my $pid = $self->_nginx_pid();

	# graceful shutdown first, generous time for it (as upstream)

	_terminate($pid, 'QUIT', 90)
		or _terminate($pid, 'TERM', 10);

	$self->{_started} = 0;

	return $self;
}

sub stop_daemons {
	my ($self) = @_;

	while ($self->{_daemons} && @{$self->{_daemons}}) {
		my $pid = shift @{$self->{_daemons}};

		# upstream sends TERM again and waits forever
		_terminate($pid, 'TERM', 5);
	}

	return $self;
}

# Fork a backend: call the Perl sub with @args, or exec the program with
# @args.  The daemon is stopped with TERM by stop_daemons() / DESTROY.

sub run_daemon {
	my ($self, $code, @args) = @_;

	my $pid = fork();
	die "Can't fork daemon: $!\n" unless defined $pid;

	if ($pid == 0) {
		if (ref($code) eq 'CODE') {
			# never return into the test script from here
			eval { $code->(@args); };
			print STDERR "daemon died: $@" if $@;
			exit($@ ? 1 : 0);
		}

		exec { $code } $code, @args or do {
			print STDERR "Can't exec $code: $!\n";
			POSIX::_exit(127);
		};
	}

	push @{$self->{_daemons}}, $pid;

	return $self;
}

# Wait (about 5 seconds) for a file to appear.  With $pid, stop waiting
# early if that child exits.  Returns 1 (file exists), 0 (process exited)
# or undef (timeout).

sub waitforfile {
	my ($self, $file, $pid) = @_;
	my $exited;

	for (1 .. _rounds(5)) {
		return 1 if -e $file;

		# check the file once more after the process is gone,
		# it may have been created just before exit

		return 0 if $exited;
		$exited = waitpid($pid, WNOHANG) != 0 if $pid;

		_nap();
	}

	return undef;
}

# Wait (about 5 seconds) until "host:port" accepts TCP connections.
# Returns 1 or undef.

sub waitforsocket {
	my ($self, $peer) = @_;

	for (1 .. _rounds(5)) {
		my $s = IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => $peer,
		);

		return 1 if defined $s;

		_nap();
	}

	return undef;
}

###############################################################################

sub testdir {
	my ($self) = @_;

	return $self->{_testdir};
}

sub read_file {
	my ($self, $name) = @_;

	open my $fh, '<', "$self->{_testdir}/$name"
		or die "Can't open $name: $!";
	binmode $fh;

	local $/;
	my $content = <$fh>;
	close $fh;

	return defined $content ? $content : '';
}

sub write_file {
	my ($self, $name, $content) = @_;

	open my $fh, '>', "$self->{_testdir}/$name"
		or die "Can't create $name: $!";
	binmode $fh;
	print $fh $content;
	close $fh;

	return $self;
}

# write_file() after expanding:
#   %%TEST_GLOBALS%%, %%TEST_GLOBALS_HTTP%%, %%TEST_GLOBALS_STREAM%%,
#   %%TESTDIR%%, %%PORT_n%%, %%PORT_n_UDP%%, and literal "127.0.0.1:8nnn"
#   (any such address gets the port mapped through port())

sub write_file_expand {
	my ($self, $name, $content) = @_;

	$content =~ s/%%TEST_GLOBALS%%/$self->test_globals()/ge;
	$content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http()/ge;
	$content =~ s/%%TEST_GLOBALS_STREAM%%/$self->test_globals_stream()/ge;
	$content =~ s/%%TESTDIR%%/$self->{_testdir}/g;

	$content =~ s/127\.0\.0\.1:(8\d\d\d)/'127.0.0.1:' . port($1)/ge;

	$content =~ s/%%PORT_(\d+)%%/port($1)/ge;
	$content =~ s/%%PORT_(\d+)_UDP%%/port($1, udp => 1)/ge;

	return $self->write_file($name, $content);
}

# Main context: pid and error_log in the test directory (upstream does not
# add "daemon off;", tests write it themselves), then TEST_NGINX_GLOBALS
# verbatim (e.g. "load_module /abs/path/module.so;"), then load_module
# lines for modules nginx was configured with as =dynamic.  Computed once;
# its use also tells run() not to pass pid/error_log with -g.

sub test_globals {
	my ($self) = @_;

	return $self->{_test_globals} if defined $self->{_test_globals};

	my $dir = $self->{_testdir};
	my $s = "pid $dir/nginx.pid;\n"
		. "error_log $dir/error.log debug;\n";

	$s .= $ENV{TEST_NGINX_GLOBALS} if $ENV{TEST_NGINX_GLOBALS};

	$s .= $self->test_globals_modules();
	$s .= $self->test_globals_perl5lib() if $s !~ /env PERL5LIB/;

	return $self->{_test_globals} = $s;
}

sub _objs_dir() {
	my ($volume, $dir) = File::Spec->splitpath($NGINX);
	return File::Spec->rel2abs(File::Spec->catpath($volume, $dir, ''));
}

sub test_globals_modules {
	my ($self) = @_;

	my $modules = defined $ENV{TEST_NGINX_MODULES}
		? File::Spec->rel2abs($ENV{TEST_NGINX_MODULES}) : _objs_dir();

	my @dynamic = (
		[ 'http_geoip\S+=dynamic', 'ngx_http_geoip_module' ],
		[ 'image_filter\S+=dynamic', 'ngx_http_image_filter_module' ],
		[ 'perl\S+=dynamic', 'ngx_http_perl_module' ],
		[ 'xslt\S+=dynamic', 'ngx_http_xslt_filter_module' ],
		[ 'mail=dynamic', 'ngx_mail_module' ],
		[ 'stream=dynamic', 'ngx_stream_module' ],
		[ 'stream_geoip\S+=dynamic', 'ngx_stream_geoip_module' ],
	);

	my $s = '';

	for (@dynamic) {
		my ($re, $module) = @$_;
		$s .= "load_module $modules/$module.so;\n"
			if $self->has_module($re);
	}

	return $s;
}

sub test_globals_perl5lib {
	my ($self) = @_;

	return '' unless $self->has_module('perl');

	my $objs = _objs_dir();

	return "env PERL5LIB=$objs/src/http/modules/perl:"
		. "$objs/src/http/modules/perl/blib/arch;\n";
}

# http context: root, access_log and temp paths in the test directory,
# then TEST_NGINX_GLOBALS_HTTP verbatim.

sub test_globals_http {
	my ($self) = @_;

	return $self->{_test_globals_http}
		if defined $self->{_test_globals_http};

	my $dir = $self->{_testdir};

	my $s = "root $dir;\n"
		. "access_log $dir/access.log;\n"
		. "client_body_temp_path $dir/client_body_temp;\n";

	for my $m (qw/ fastcgi proxy uwsgi scgi /) {
		$s .= "${m}_temp_path $dir/${m}_temp;\n"
			if $self->has_module($m);
	}

	$s .= $ENV{TEST_NGINX_GLOBALS_HTTP} if $ENV{TEST_NGINX_GLOBALS_HTTP};

	return $self->{_test_globals_http} = $s;
}

sub test_globals_stream {
	my ($self) = @_;

	return $self->{_test_globals_stream}
		if defined $self->{_test_globals_stream};

	my $s = $ENV{TEST_NGINX_GLOBALS_STREAM} || '';

	return $self->{_test_globals_stream} = $s;
}

###############################################################################

# port($num, %opts): real port for the logical port $num, allocated on
# first use and stable for the rest of the process.  The number itself is
# tried first, then random ports in the same block of 500.  A TCP port is
# "reserved" by keeping a UDP socket bound to it (and vice versa with
# udp => 1) while a probe bind of the wanted protocol is released right
# away for nginx to use.  With socket => 1, returns that reserving socket
# instead (so a test can close() it to free the other protocol).

sub port {
	my ($num, %opts) = @_;

	if (!defined $ports{$num}) {
		my ($want, $hold) = ('tcp', 'udp');
		($want, $hold) = ($hold, $want) if $opts{udp};

		my ($port, $reserve);

		for my $try (1 .. 10) {
			$port = $try == 1 ? $num
				: int($num / 500) * 500 + int(rand(500));

			$reserve = _bind($hold, $port) or next;
			last if _bind($want, $port);

			undef $reserve;
		}

		die "Port limit exceeded" unless defined $reserve;

		$ports{$num} = { port => $port, socket => $reserve };
	}

	return $ports{$num}{socket} if $opts{socket};
	return $ports{$num}{port};
}

sub _bind {
	my ($proto, $port) = @_;

	return IO::Socket::INET->new(
		Proto => $proto,
		LocalAddr => "127.0.0.1:$port",
		$proto eq 'tcp' ? (Listen => 1, ReuseAddr => 1) : (),
	);
}

###############################################################################

# Debug output, with TEST_NGINX_VERBOSE only: each line prefixed with
# "# " and the prefix, non-printable bytes shown as \xNN, long messages
# cut at 2048 bytes.

sub log_core {
	return unless $ENV{TEST_NGINX_VERBOSE};

	my ($prefix, $msg) = @_;
	($prefix, $msg) = ('', $prefix) unless defined $msg;
	$msg = '' unless defined $msg;

	$prefix .= ' ' if length $prefix;

	if (length($msg) > 2048) {
		$msg = substr($msg, 0, 2048)
			. "(...logged only 2048 of " . length($msg) . " bytes)";
	}

	$msg =~ s/^/# $prefix/gm;

	# escape, keeping the line structure: "\n" becomes "\x0a\n"
	$msg =~ s{([^\x20-\x7e])}{
		sprintf('\\x%02x', ord($1)) . ($1 eq "\n" ? "\n" : '')
	}ge;

	$msg .= "\n" unless $msg =~ /\n\z/;

	print $msg;
}

sub log_out {
	log_core('>>', @_);
}

sub log_in {
	log_core('<<', @_);
}

###############################################################################

# HTTP client helpers.  Requests are sent exactly as given (http_get and
# http_head use bare "\n" line ends, which nginx accepts).
#
# %extra:
#   socket => $s      use this connected socket instead of connecting
#   start => 1        http(): send only, return the socket (see http_end)
#   SSL => 1          TLS (IO::Socket::SSL, no verification by default);
#                     default peer becomes port(8443) instead of port(8080)
#   body => $data     sent after the request (after "sleep")
#   sleep => $sec     pause after the request
#   aborted => 1      do not send "body"
#   anything else     passed to IO::Socket::INET->new (PeerAddr, ...) and,
#                     with SSL, to IO::Socket::SSL->start_SSL (SSL_*)
#
# Return the whole response, or undef on error/timeout (logged).

sub http_get($;%) {
	my ($url, %extra) = @_;

	return http("GET $url HTTP/1.0\nHost: localhost\n\n", %extra);
}

sub http_head($;%) {
	my ($url, %extra) = @_;

	return http("HEAD $url HTTP/1.0\nHost: localhost\n\n", %extra);
}

sub http($;%) {
	my ($request, %extra) = @_;

	my $s = http_start($request, %extra);

	return $s if $extra{start} or !defined $s;
	return http_end($s, %extra);
}

# run $code with an alarm of $TIMEOUT (scaled); false and logged on error

sub _timed {
	my ($code) = @_;

	my $ok = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };

		my $timeout = int($TIMEOUT * _mult() + 0.5);
		alarm($timeout > 0 ? $timeout : 1);	# alarm(0) means none
		$code->();
		alarm(0);
		1;
	};
	alarm(0);

	log_in("died: $@") unless $ok;

	return $ok;
}

sub http_start($;%) {
	my ($request, %extra) = @_;
	my $s;

	my $port = $extra{SSL} ? 8443 : 8080;

	_timed(sub {
		$s = $extra{socket} || IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => '127.0.0.1:' . port($port),
			%extra
		)
			or die "Can't connect to nginx: $!\n";

		if ($extra{SSL}) {
			require IO::Socket::SSL;

			IO::Socket::SSL->start_SSL($s,
				SSL_verify_mode =>
					IO::Socket::SSL::SSL_VERIFY_NONE(),
				%extra
			)
				or die IO::Socket::SSL::errstr() . "\n";

			if (!defined $extra{SSL_startHandshake}) {
				my $issuer = $s->peer_certificate('issuer');
				log_in("ssl cipher: " . $s->get_cipher());
				log_in("ssl cert: "
					. (defined $issuer ? $issuer : ''));
			}
		}

		log_out($request);
		$s->print($request);

		select undef, undef, undef, $extra{sleep} if $extra{sleep};

		if ($extra{body} && !$extra{aborted}) {
			log_out($extra{body});
			$s->print($extra{body});
		}
	})
		or return undef;

	return $s;
}

# read the response until the peer closes the connection

sub http_end($;%) {
	my ($s) = @_;
	my $reply;

	_timed(sub {
		local $/;
		$reply = $s->getline();
		$s->close();
	})
		or return undef;

	log_in($reply);

	return $reply;
}

###############################################################################

sub http_gzip_request {
	my ($url) = @_;

	return http("GET $url HTTP/1.1\nHost: localhost\n"
		. "Connection: close\nAccept-Encoding: gzip\n\n");
}

# Body of a response, with chunked transfer encoding decoded; a missing
# last (zero-size) chunk is reported by appending "[no-last-chunk]".
# undef if there is no header/body separator.

sub http_content {
	my ($text) = @_;

	return undef unless defined $text;

	my ($headers, $body) = $text =~ /^(.*?)\x0d\x0a?\x0d\x0a?(.*)\z/s
		or return undef;

	return $body if $headers !~ /Transfer-Encoding: chunked/i;

	my $content = '';
	my $size = -1;

	# chunk: [CRLF after previous data] hex-size CRLF data
	while ($body =~ /\G\x0d?\x0a?([0-9a-f]+)\x0d\x0a?/gci) {
		$size = hex($1);
		my $at = pos($body);

		$content .= substr($body, $at, $size);
		pos($body) = $at + $size;
	}

	$content .= '[no-last-chunk]' if $size != 0;

	return $content;
}

# like() on the gunzipped body of a response; skipped if
# IO::Uncompress::Gunzip is not available.

sub http_gzip_like {
	my ($text, $re, $name) = @_;

	SKIP: {
		eval { require IO::Uncompress::Gunzip; };
		Test::More::skip("IO::Uncompress::Gunzip not installed", 1)
			if $@;

		my $in = http_content($text);
		my $out;

		IO::Uncompress::Gunzip::gunzip(\$in => \$out);

		Test::More->builder->like($out, $re, $name);
	}
}

###############################################################################

1;

__END__

=head1 NAME

Test::Nginx - minimal nginx-tests compatible test library

=head1 SYNOPSIS

    use Test::More;
    BEGIN { use FindBin; chdir($FindBin::Bin); }
    use lib 'lib';
    use Test::Nginx;

    my $t = Test::Nginx->new()->has(qw/http proxy/)->plan(1)
        ->write_file_expand('nginx.conf', <<'EOF');

    %%TEST_GLOBALS%%

    daemon off;

    events {
    }

    http {
        %%TEST_GLOBALS_HTTP%%

        server {
            listen       127.0.0.1:8080;
            location / { return 200 "hello"; }
        }
    }

    EOF

    $t->run();

    like(http_get('/'), qr/hello/, 'hello');

=head1 DESCRIPTION

Implements the commonly used part of nginx-tests' F<lib/Test/Nginx.pm>.
plan($n) plans $n + 2 tests: the object's destructor adds "no alerts"
(no C<[alert]> lines in error.log; a TODO test after todo_alerts()) and
"no sanitizer errors".  Configurations must contain C<daemon off;>.

Differences from upstream: no Windows/Solaris special cases; when run as
root the test directory is made 0755 so that workers (user nobody) can use
it; an nginx
that fails to start has its error.log printed with diag() by run() (not
by try_run()), and is killed if it hangs; daemons that ignore TERM are
killed; a missing error.log in the destructor only warns;
TEST_NGINX_TIMEOUT_MULT scales every wait; $Test::Nginx::TIMEOUT holds
the I/O timeout of the http helpers.

=cut
