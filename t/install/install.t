#!/usr/bin/perl

# Tests for sse-auto-install in the REAL system nginx (Debian's, /usr/sbin/nginx): installed
# from a release folder as a local package pinned to this nginx (sse-auto-local, Depends:
# nginx-abi-*, or nginx's package at this version where it provides no ABI) that owns the module and its load line, reached through an include glob;
# nginx -t passes, nginx is reloaded and an existing site's plain proxy_pass streams events
# live; uninstalled, /etc/nginx is byte for byte as before (hashes), the package is gone and
# the same request is held again (the control; held before installing too). Around that:
# a second install changes nothing; --dry-run (which shows the package) and a user without
# write access change nothing; a configuration that fails nginx -t already is refused
# untouched; a module of another nginx version that fails to load is rolled back with nginx's
# message, package and all; the Debian
# package, installed first, is seen and the module is not loaded twice.
#
# Modifies the system: runs only as root with TEST_SSE_INSTALL_FROM=<release folder with the
# module for this nginx> (make test-install); TEST_SSE_DEB=<.deb> adds the Debian package case.
# Adds /etc/nginx/conf.d/sse-auto-install-test.conf (removed at the end); starts nginx when it
# is not running (stopped at the end). The site uses free ports, never :80.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

BEGIN { $ENV{TEST_NGINX_BINARY} = '/usr/sbin/nginx'; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my $SO = '/usr/lib/nginx/modules/ngx_http_sse_auto_module.so';
my $LOAD = '/usr/lib/nginx/modules/ngx_http_sse_auto_module.load';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-sse-auto.conf';
my $SITE = '/etc/nginx/conf.d/sse-auto-install-test.conf';
my $BROKEN = '/etc/nginx/conf.d/sse-auto-install-broken.conf';
my $PIDFILE = '/run/nginx.pid';
my $APT = 'apt-get -o DPkg::Lock::Timeout=300';

my ($MAIN, $armed, $cleaned) = ($$, 0, 0);

plan(skip_all => 'changes the system nginx: run as root') unless $> == 0;
my $from = $ENV{TEST_SSE_INSTALL_FROM}
	or plan(skip_all => 'set TEST_SSE_INSTALL_FROM=<release folder> (make test-install)');
plan(skip_all => 'no Debian nginx at /usr/sbin/nginx') unless -x '/usr/sbin/nginx';
plan(skip_all => 'the Debian package libnginx-mod-http-sse-auto is installed')
	if `dpkg-query -W -f='\${Status}' libnginx-mod-http-sse-auto 2>/dev/null` =~ /ok installed/;

my $was_running = master_pid();

# the default site listens on :80 (unless moved, as test-release does in its root); a nginx
# started here needs that port free
plan(skip_all => 'nginx is not running and port 80, which its default site needs, is taken')
	if !$was_running && system(q{grep -rEqs 'listen +(\[::\]:)?80( |;)' /etc/nginx/sites-enabled})
		== 0 && !IO::Socket::INET->new(LocalAddr => '0.0.0.0:80', Listen => 1, ReuseAddr => 1);

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');
my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

$armed = 1;

write_text($SITE, <<"EOF");
# written by t/install/install.t, removed when it ends
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

$t->plan(39);

###############################################################################

my ($rc, $out);

start_or_reload();
my $before = etc_hashes();
held_ok(get(), 'before install: events held');

# --dry-run: every step printed, nothing changed

($rc, $out) = sh("$INSTALL --from $from --dry-run");
ok($rc == 0 && $out =~ /would: make the package sse-auto-local \S+ of \Q$SO\E and \Q$LOAD\E/
	&& $out =~ /would: enable it: \Q$ENABLED\E/, '--dry-run: says what it would do') or diag($out);
my $GUARD = guard_re();
like($out, qr/^ +Depends: $GUARD$/m, '--dry-run: shows the package, pinned to this nginx');
ok(etc_hashes() eq $before && !-e $SO && !local_pkg(), '--dry-run: nothing changed');

# a user without write access: refused, nothing changed

($rc, $out) = sh("setpriv --reuid=nobody --regid=nogroup --clear-groups $INSTALL --from $from");
ok($rc != 0 && $out =~ /no write access/, 'no write access: refused') or diag($out);
ok(etc_hashes() eq $before && !-e $SO, 'no write access: nothing changed');

# a configuration that already fails nginx -t: refused, nothing changed

write_text($BROKEN, "this is not nginx configuration;\n");
my $broken = etc_hashes();
($rc, $out) = sh("$INSTALL --from $from");
ok($rc != 0 && $out =~ /fix this first/ && $out =~ /unknown directive "this"/,
	'broken configuration: refused with nginx\'s message') or diag($out);
ok(etc_hashes() eq $broken && !-e $SO, 'broken configuration: nothing changed');
unlink $BROKEN;

# a module of another nginx version (a folder whose manifest names it for this nginx):
# nginx -t fails, everything is rolled back, nginx's message is shown

my $wrong = wrong_folder();
SKIP: {
	skip 'no module of another version in the release folder', 3 unless $wrong;
	($rc, $out) = sh("$INSTALL --from $wrong");
	isnt($rc, 0, 'module of another version: exit code non-zero');
	like($out, qr/module "[^"]+" version \d+ instead of \d+/, 'nginx\'s message shown')
		or diag($out);
	ok(etc_hashes() eq $before && !-e $SO && !-e $LOAD && !local_pkg(),
		'rolled back: configuration byte-identical, no module, no package');
}

# a folder with no module for this version (only others): refused before anything is
# touched, naming this version, the nearest ones the folder has and the command that builds one

my $other = other_folder();
SKIP: {
	skip 'no module of another version in the release folder', 2 unless $other;
	($rc, $out) = sh("$INSTALL --from $other->[0]");
	ok($rc != 0 && $out =~ /no module for nginx\/\Q$other->[1]\E (?:\(\S+\) )?in /
		&& $out =~ /nearest: nginx\/\Q$other->[2]\E/
		&& $out =~ /make (?:-C \S+ )?module-for NGINX=/,
		'no module for this version: refused, the nearest named, how to build one') or diag($out);
	ok(etc_hashes() eq $before && !-e $SO && !local_pkg(), 'no module for this version: nothing changed');
}

# install

my @old = workers();
($rc, $out) = sh("$INSTALL --from $from");
is($rc, 0, 'install') or diag($out);
like($out, qr/nginx -t: the configuration with sse_auto is ok/, 'install: nginx -t');
like($out, qr/reloaded/, 'install: says it reloaded nginx');
ok(replaced(@old), 'install: nginx reloaded');
ok(-f $SO && -f $ENABLED && !-l $ENABLED, 'module and the modules-enabled file in place');
my $glob = 'include /usr/lib/nginx/modules/ngx_http_sse_auto_module[.]load;';
ok(index(read_text($ENABLED) // '', "\n$glob\n") >= 0, 'enabled by an include glob');
like(read_text($LOAD) // '', qr/^load_module \Q$SO\E;$/m, 'its load line next to the module');
like(local_pkg() // '', qr/^\S+\+nginx[\d.]+ Depends: $GUARD$/,
	'the local package, pinned to this nginx');
like(`dpkg-query -S $SO $LOAD 2>&1`, qr/^sse-auto-local: \Q$SO\E\nsse-auto-local: \Q$LOAD\E$/m,
	'the package owns the module and its load line');
my $installed = etc_hashes();

my $r = get_live();
streams_ok($r, 'installed: events arrive live', ms => 50);

# twice: nothing changes

($rc, $out) = sh("$INSTALL --from $from");
ok($rc == 0 && $out =~ /nothing to do/, 'install again: nothing to do') or diag($out);
ok(etc_hashes() eq $installed, 'install again: nothing changed');

($rc, $out) = sh("$INSTALL --check");
ok($rc == 0 && $out =~ /working: .*switched/, '--check: loaded and working') or diag($out);

# uninstall: byte-identical configuration, events held again

($rc, $out) = sh("$INSTALL --uninstall --dry-run");
ok($rc == 0 && etc_hashes() eq $installed && -f $SO, 'uninstall --dry-run: nothing changed')
	or diag($out);

@old = workers();
($rc, $out) = sh("$INSTALL --uninstall");
is($rc, 0, 'uninstall') or diag($out);
ok(replaced(@old), 'uninstall: nginx reloaded');
is(etc_hashes(), $before, 'uninstalled: /etc/nginx byte-identical to before');
ok(!-e $SO && !-e $LOAD && !local_pkg(), 'uninstalled: module, load line and package gone');
held_ok(get(), 'uninstalled: events held again');

($rc, $out) = sh("$INSTALL --uninstall");
ok($rc == 0 && $out =~ /nothing to do/, 'uninstall again: nothing to do') or diag($out);

($rc, $out) = sh("$INSTALL --check");
ok($rc != 0 && $out =~ /not loaded/, '--check: not loaded') or diag($out);

# an install of the installer before it made packages (the module as a loose file, a
# load_module line): converted to the package and the include line, then uninstalled

my $file = this_file();
system('mkdir', '-p', '/usr/lib/nginx/modules') == 0 or die "cannot make the modules folder\n";
system('cp', "$from/$file", $SO) == 0 or die "cannot copy $file\n";
write_text($ENABLED, "# sse_auto: added by sse-auto-install (sse-auto-install --uninstall"
	. " removes this file)\nload_module $SO;\n");
($rc, $out) = sh("$INSTALL --from $from");
ok($rc == 0 && defined local_pkg() && index(read_text($ENABLED) // '', "\n$glob\n") >= 0,
	'an earlier loose install: converted to the package and the include line') or diag($out);
($rc, $out) = sh("$INSTALL --uninstall");
ok($rc == 0 && etc_hashes() eq $before && !-e $SO && !local_pkg(),
	'converted, then uninstalled: byte-identical, nothing left') or diag($out);

# the Debian package installed first: seen, the module is not loaded twice

SKIP: {
	my $deb = $ENV{TEST_SSE_DEB};
	skip 'no TEST_SSE_DEB', 3 unless $deb;
	($rc, $out) = sh("$APT install -y -q '$deb'");
	is($rc, 0, 'the Debian package installed') or diag($out);
	my $with_pkg = etc_hashes();
	($rc, $out) = sh("$INSTALL --from $from");
	ok($rc != 0 && $out =~ /loaded already, by the Debian package/,
		'installer: the Debian package is seen') or diag($out);
	is(etc_hashes(), $with_pkg, 'nothing changed, one load_module');
	sh("$APT purge -y -q libnginx-mod-http-sse-auto");
}

###############################################################################

cleanup();
undef $t;

sub cleanup {
	return if !$armed || $cleaned++ || $$ != $MAIN;

	sh("$INSTALL --uninstall") if -f $ENABLED;
	unlink $SITE, $BROKEN;
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

# the local package's version and Depends when it is installed
# what the local package must depend on: the ABI nginx's package provides (Debian 12 on,
# Ubuntu), else that package at this nginx version, any revision (Debian 11's nginx-core)
sub guard_re {
	my $bin = readlink('/usr/sbin/nginx') // '/usr/sbin/nginx';
	$bin = "/usr/sbin/$bin" unless $bin =~ m{^/};
	my $pkg = `dpkg-query -S $bin 2>/dev/null` =~ /^([^:\s]+):/ ? $1 : return qr/(?!)/;
	my $provides = `dpkg-query -W -f='\${Provides}' $pkg 2>/dev/null`;
	return qr/nginx-abi-[\d.]+-\d+/ if $provides =~ /nginx-abi-/;
	return qr/\Q$pkg\E \(>= [\d:.]+\), \Q$pkg\E \(<< [\d:.]+\.0~\)/;
}

sub local_pkg {
	my $s = `dpkg-query -W -f='\${db:Status-Abbrev}|\${Version} Depends: \${Depends}' sse-auto-local 2>/dev/null`;
	return $s =~ /^ii *\|(.*)/ ? $1 : undef;
}

# every file under /etc/nginx with its sha256 (links by their target)
sub etc_hashes {
	return `find /etc/nginx \\( -type f -o -type l \\) -print0 | sort -z | xargs -0 sha256sum 2>&1; find /etc/nginx -type l -printf '%p -> %l\\n' | sort`;
}

# the release folder's lines for this machine's architecture (a release has x86_64 and aarch64
# files; the file name ends in the architecture)
sub manifest_lines {
	my $arch = `uname -m` =~ s/\s+//r;
	open my $fh, '<', "$from/manifest.txt" or return ();
	return grep { !/^#/ && (split /\t/)[2] =~ /-\Q$arch\E-linux-gnu\.so$/ } <$fh>;
}

# the release folder's module for this nginx
sub this_file {
	my $v = `nginx -v 2>&1` =~ m{nginx/(\S+)} ? $1 : return;
	my ($l) = grep { (split /\t/)[0] eq 'nginx' && (split /\t/)[1] eq $v } manifest_lines();
	return $l ? (split /\t/, $l)[2] : undef;
}

# a copy of the release folder whose manifest gives this nginx a module of another version
sub wrong_folder {
	my $v = `nginx -v 2>&1` =~ m{nginx/(\S+)} ? $1 : return;
	my $sig = (`grep -a -o -E '[0-9]+,[0-9]+,[0-9]+,[01]{30,}' /usr/sbin/nginx` =~ /^(\S+)/)[0];
	my ($other) = grep { (split /\t/)[1] ne $v && (split /\t/)[0] eq 'nginx' } manifest_lines();
	return unless $other && $sig;
	my @c = split /\t/, $other;
	my $dir = tempdir('sse-install-wrong-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	system('cp', "$from/$c[2]", "$dir/$c[2]") == 0 or return;
	write_text("$dir/manifest.txt", join("\t", 'nginx', $v, $c[2], $sig, $c[4], "nginx version: nginx/$v") . "\n");
	return $dir;
}

# a release folder whose manifest has the other versions only: [folder, this version, nearest]
sub other_folder {
	my $v = `nginx -v 2>&1` =~ m{nginx/(\S+)} ? $1 : return;
	my @lines = grep { (split /\t/)[1] ne $v } manifest_lines();
	my @vers = sort { vcmp($a, $b) } map { (split /\t/)[1] } grep { (split /\t/)[0] eq 'nginx' } @lines;
	return unless @vers;
	my ($below) = reverse grep { vcmp($_, $v) < 0 } @vers;
	my ($above) = grep { vcmp($_, $v) > 0 } @vers;
	my $dir = tempdir('sse-install-other-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	write_text("$dir/manifest.txt", "# sse_auto test folder\n" . join('', @lines));
	return [$dir, $v, $below // $above];
}

sub vcmp {
	my @a = split /\./, shift;
	my @b = split /\./, shift;
	while (@a || @b) {
		my $c = (shift(@a) // 0) <=> (shift(@b) // 0);
		return $c if $c;
	}
	return 0;
}

sub get {
	my $r = sse_get('/events', ssl => 1, port => $listen);
	note(summary($r));
	return $r;
}

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
	if (master_pid()) {
		my @old = workers();
		my ($rc, $out) = sh('nginx -s reload');
		die "nginx -s reload failed:\n$out" if $rc;
		replaced(@old) or die "nginx did not reload\n";
	} else {
		my ($rc, $out) = sh('nginx');
		die "nginx did not start:\n$out" if $rc;
	}
	$t->waitforsocket("127.0.0.1:$listen") or die "nginx does not listen on $listen\n";
}

###############################################################################
