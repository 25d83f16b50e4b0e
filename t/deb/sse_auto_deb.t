#!/usr/bin/perl

# Tests for the Debian package (scripts/package/deb.sh) in the REAL system nginx: installed, the
# package enables the module and reloads nginx, and an existing site with a plain proxy_pass
# and no sse_auto directive streams events live; removed and purged, the same request is held
# again (the control) and nothing of the package is left. Before installing, the same request
# is held too, and a copy of the package that asks for another nginx ABI is refused by apt.
#
# Modifies the system, so it runs only as root and when TEST_SSE_DEB=<path of the .deb> is set:
# installs nginx if missing, installs, removes, reinstalls and purges libnginx-mod-http-sse-auto,
# adds /etc/nginx/conf.d/sse-auto-deb-test.conf (removed at the end), and starts nginx if it
# is not running (stopped at the end) or reloads it. The site uses free ports, never :80.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Spec;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

# the system nginx is the one under test; Test::Nginx reads this when loaded
BEGIN { $ENV{TEST_NGINX_BINARY} = '/usr/sbin/nginx'; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $PKG = 'libnginx-mod-http-sse-auto';
my $SO = '/usr/lib/nginx/modules/ngx_http_sse_auto_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-sse-auto.conf';
my $LINK = '/etc/nginx/modules-enabled/50-mod-http-sse-auto.conf';
my $SITE = '/etc/nginx/conf.d/sse-auto-deb-test.conf';
my $PIDFILE = '/run/nginx.pid';

# waits for the dpkg lock rather than failing when another apt runs
my $APT = 'apt-get -o DPkg::Lock::Timeout=300';

# what cleanup() undoes is done from here on, and in this process only (END runs in forked
# children too: the SSE backend's)
my ($MAIN, $armed, $cleaned) = ($$, 0, 0);

plan(skip_all => 'installs a package into the system: run as root') unless $> == 0;
plan(skip_all => 'set TEST_SSE_DEB=<path of the .deb> (make deb)') unless $ENV{TEST_SSE_DEB};
plan(skip_all => 'not a Debian system') unless -x '/usr/bin/apt-get' && -x '/usr/bin/dpkg-deb';

my $deb = File::Spec->rel2abs($ENV{TEST_SSE_DEB});
-f $deb or BAIL_OUT("TEST_SSE_DEB: no file $deb");

$ENV{DEBIAN_FRONTEND} = 'noninteractive';

my $was_running = master_pid();

# the default site listens on :80; a nginx started here needs that port free
plan(skip_all => 'nginx is not running and port 80, which its default site needs, is taken')
	if !$was_running && port_taken(80);

unless (installed('nginx')) {
	my ($rc, $out) = sh("$APT install -y -q nginx");
	BAIL_OUT("apt-get install nginx failed:\n$out") if $rc;
}

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

$armed = 1;

# an ordinary site: TLS, HTTP/1.1, plain proxy_pass, nothing about sse_auto or buffering

write_text($SITE, <<"EOF");
# written by t/deb/sse_auto_deb.t, removed when it ends
server {
    listen       127.0.0.1:$listen ssl;
    server_name  localhost;

    ssl_certificate      $d/localhost.crt;
    ssl_certificate_key  $d/localhost.key;

    error_log   $d/error.log info;
    access_log  $d/access.log;

    location / {
        proxy_pass http://127.0.0.1:$backend;
    }
}
EOF

$t->plan(29);

###############################################################################

my ($rc, $out, @old);

# the package asks for the nginx ABI that the installed nginx provides

my ($abi) = deb_field($deb, 'Depends') =~ /\b(nginx-abi-[\w.+~-]+)/;
my $provides = query_field('nginx', 'Provides');
ok($abi && grep({ $_ eq $abi } split /,\s*/, $provides), "depends on the ABI nginx provides")
	or diag("package: " . deb_field($deb, 'Depends'));

# a copy of the package asking for another ABI is refused (apt-get simulates only)

my $other = abi_variant($deb, 'nginx-abi-0.0.0-0');
($rc, $out) = sh("$APT install -s -q " . quote($other));
ok($rc != 0 && $out =~ /Depends: nginx-abi-0\.0\.0-0 but it is not installable/,
	'other nginx ABI: apt-get refuses') or diag($out);

# stock Debian nginx holds the events until the stream ends

start_or_reload();
held_ok(get(), 'before install: events held');

# install: the module is enabled and nginx reloaded by the package

@old = workers();
($rc, $out) = sh("$APT install -y -q " . quote($deb));
is($rc, 0, 'apt-get install') or diag($out);
ok(installed($PKG), 'package installed');
ok(-f $SO, 'module installed');
is(read_text($AVAILABLE), "load_module modules/ngx_http_sse_auto_module.so;\n",
	'modules-available load file');
is(readlink($LINK), $AVAILABLE, 'modules-enabled link');
ok(replaced(@old), 'install: nginx reloaded');

($rc, $out) = sh('nginx -t');
ok($rc == 0 && $out =~ /test is successful/, 'nginx -t') or diag($out);

my ($version) = query_field('nginx', 'Version') =~ /^(?:\d+:)?([^-]+)/;
($rc, $out) = sh('nginx -V');
ok($rc == 0 && $out =~ m{nginx version: nginx/\Q$version\E\n}
	&& $out =~ /--with-compat/, "nginx -V: $version, --with-compat") or diag($out);

my $r = get_live();
streams_ok($r, 'installed: events arrive live', ms => 50);
is($r->{headers}{'x-accel-buffering'}, 'no', 'installed: downstream hint');

# remove: disabled (Debian's "<link>.removed" marker), nginx reloaded, events held again

@old = workers();
($rc, $out) = sh("$APT remove -y -q $PKG");
is($rc, 0, 'apt-get remove') or diag($out);
ok(!-e $LINK && !-l $LINK, 'removed: link gone');
ok(-l "$LINK.removed", 'removed: marker for a reinstall');
ok(!-e $SO, 'removed: module gone');
ok(replaced(@old), 'remove: nginx reloaded');
held_ok(get(), 'removed: events held');

# reinstall after remove: enabled again

@old = workers();
($rc, $out) = sh("$APT install -y -q " . quote($deb));
is($rc, 0, 'apt-get install again') or diag($out);
ok(readlink($LINK) && replaced(@old), 'reinstalled: enabled again, nginx reloaded');
streams_ok(get_live(), 'reinstalled: events arrive live', ms => 50);

# purge: nothing left, events held (the control)

@old = workers();
($rc, $out) = sh("$APT purge -y -q $PKG");
is($rc, 0, 'apt-get purge') or diag($out);
ok(!present($PKG), 'purged: package gone')
	or diag(query_field($PKG, 'Status'));
ok(!-l $LINK && !-l "$LINK.removed", 'purged: link and marker gone');
ok(!-e $SO && !-e $AVAILABLE, 'purged: module and load file gone');
ok(replaced(@old), 'purge: nginx reloaded');
held_ok(get(), 'purged: events held');

($rc, $out) = sh('nginx -t');
is($rc, 0, 'purged: nginx -t') or diag($out);

###############################################################################

# leave the system as found: no package, no site, nginx running only if it was; on a die,
# from END

cleanup();
undef $t;	# Test::Nginx's own checks, before Test::More counts the tests

sub cleanup {
	return if !$armed || $cleaned++ || $$ != $MAIN;

	sh("$APT purge -y -q $PKG") if present($PKG);
	unlink $SITE if -f $SITE;

	if (!$was_running && master_pid()) {
		sh('nginx -s quit');
		for (1 .. 100) { last unless master_pid(); sleep(0.1); }
	} elsif ($was_running) {
		sh('nginx -s reload');
	}
}

END {
	local $?;
	cleanup();
}

###############################################################################

# the same request every time, its timing noted (prove -v)
sub get {
	my $r = sse_get('/events', ssl => 1, port => $listen);
	note(summary($r));
	return $r;
}

# Streaming is asserted on the first of up to 3 tries that is live: on a busy 2-core machine one
# event now and then reaches curl late. A held response can never pass (its first event comes
# hundreds of ms late, at the end of the stream), so the retries do not weaken the control.
sub get_live {
	my $r;
	for (1 .. 3) {
		$r = get();
		last if live($r, ms => 50);
	}
	return $r;
}

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

sub quote {
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

sub query_field {
	my ($pkg, $field) = @_;
	my $v = `dpkg-query -W -f='\${$field}' $pkg 2>/dev/null`;
	return $? ? '' : $v;
}

sub installed {
	return query_field($_[0], 'Status') eq 'install ok installed';
}

# installed, half-installed or with configuration files left
sub present {
	return query_field($_[0], 'Status') !~ /^(?:\S+ ok not-installed)?$/;
}

sub deb_field {
	my ($file, $field) = @_;
	my $v = `dpkg-deb -f ${\ quote($file)} $field`;
	chomp $v;
	return $v;
}

# A copy of the .deb whose nginx-abi dependency is $abi.
sub abi_variant {
	my ($file, $abi) = @_;
	my $tree = "$d/abi-variant";
	system('dpkg-deb', '-R', $file, $tree) == 0 or die "dpkg-deb -R failed\n";
	my $control = read_text("$tree/DEBIAN/control");
	$control =~ s/\bnginx-abi-[\w.+~-]+/$abi/ or die "no nginx-abi in $file\n";
	write_text("$tree/DEBIAN/control", $control);
	my (undef, $out) = sh("dpkg-deb -b $tree $d/abi-variant.deb");
	-f "$d/abi-variant.deb" or die "dpkg-deb -b failed: $out\n";
	return "$d/abi-variant.deb";
}

sub read_text {
	my ($file) = @_;
	open my $fh, '<', $file or return undef;
	local $/;
	return scalar <$fh>;
}

sub write_text {
	my ($file, $content) = @_;
	open my $fh, '>', $file or die "Can't write $file: $!\n";
	print $fh $content;
	close $fh;
}

sub port_taken {
	my ($port) = @_;
	my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0:$port", Listen => 1, ReuseAddr => 1);
	return !$s;
}

# the master of the system nginx (Debian's pid file), if it runs
sub master_pid {
	my $pid = read_text($PIDFILE);
	return undef unless defined $pid && $pid =~ /^(\d+)/;
	return kill(0, $1) ? $1 : undef;
}

sub workers {
	my $master = master_pid() or return ();
	my @pids;
	for my $stat (glob '/proc/[0-9]*/stat') {
		my $s = read_text($stat) // next;
		my ($pid, $ppid) = $s =~ /^(\d+) \(.*\) \S+ (\d+)/s or next;
		push @pids, $pid if $ppid == $master;
	}
	return @pids;
}

# A reload is done when the workers running before it have exited.
sub replaced {
	my (@old) = @_;
	return 0 unless @old;
	for (1 .. 100) {
		return 1 unless grep { kill(0, $_) } @old;
		sleep(0.1);
	}
	return 0;
}

sub start_or_reload {
	my $start = "$d/nginx-start.out";
	if (master_pid()) {
		my @old = workers();
		my ($rc, $out) = sh('nginx -s reload');
		die "nginx -s reload failed:\n$out" if $rc;
		replaced(@old) or die "nginx did not reload\n";
	} else {
		system("nginx >$start 2>&1") == 0
			or die "nginx did not start:\n" . (read_text($start) // '');
	}
	$t->waitforsocket("127.0.0.1:$listen") or die "nginx does not listen on $listen\n";
}

###############################################################################
