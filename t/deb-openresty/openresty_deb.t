#!/usr/bin/perl

# Tests for the OpenResty package (scripts/package/deb-openresty.sh), installed with apt over a
# stand-in of OpenResty's official deb (scripts/package/openresty-standin.sh: OpenResty's layout in
# /usr/local/openresty, package "openresty" of that version). The package is lintian-clean and
# built reproducibly; apt refuses it without that OpenResty, and a copy asking for another
# OpenResty version. Installed, it puts the module in OpenResty's modules folder and changes
# no configuration; with README's one line at the top of OpenResty's own nginx.conf, a plain
# proxy_pass streams events live, and the same location with "sse_auto off" holds them (the
# control; TLS downstream). sse-auto-install enables the package's module instead of copying
# one, and its --uninstall leaves the module to the package. apt-get remove takes the module
# and leaves the configuration as it is, warning that nginx.conf still loads it.
#
# Modifies the system: runs only as root, when no OpenResty is installed, with
# TEST_SSE_OPENRESTY_DEB=<openresty-sse-auto .deb> and TEST_SSE_OPENRESTY_STANDIN=<stand-in
# .deb> (make test-deb-openresty); TEST_SSE_OPENRESTY_DEB_AGAIN=<the same package built in
# other directories> adds the reproducibility case. Both packages are purged at the end.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

my $PREFIX = '/usr/local/openresty';
BEGIN { $ENV{TEST_NGINX_BINARY} = '/usr/local/openresty/nginx/sbin/nginx'; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $SO = "$PREFIX/nginx/modules/ngx_http_sse_auto_module.so";
my $CONF = "$PREFIX/nginx/conf/nginx.conf";
my $APT = 'apt-get -o DPkg::Lock::Timeout=300';
my $PKG = 'openresty-sse-auto';
my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";

plan(skip_all => 'installs packages: run as root') unless $> == 0;
my ($deb, $standin) = @ENV{qw/ TEST_SSE_OPENRESTY_DEB TEST_SSE_OPENRESTY_STANDIN /};
plan(skip_all => 'set TEST_SSE_OPENRESTY_DEB and TEST_SSE_OPENRESTY_STANDIN '
	. '(make test-deb-openresty)') unless $deb && $standin;
plan(skip_all => "an OpenResty is installed already ($PREFIX)") if -e $PREFIX
	|| `dpkg-query -W -f='\${Status}' openresty 2>/dev/null` =~ /installed/;

my ($ver) = deb_field($standin, 'Version') =~ /^([0-9.]+)-/;
my ($MAIN, $armed, $cleaned) = ($$, 1, 0);
my ($rc, $out);

# Test::Nginx wants the binary, there only once the stand-in is installed: the plan is
# made here, with the two tests its destructor adds ("no alerts", "no sanitizer errors")
plan(tests => 22 + 2);
my ($t, $d);
my ($listen, $backend) = (port(8443), port(8081));

###############################################################################

# the package itself

SKIP: {
	skip 'no lintian', 1 unless `which lintian` =~ /lintian/;
	($rc, $out) = sh("lintian --fail-on error,warning '$deb'");
	ok($rc == 0 && $out !~ /^[EW]: /m, 'lintian: no error, no warning') or diag($out);
}

SKIP: {
	my $again = $ENV{TEST_SSE_OPENRESTY_DEB_AGAIN};
	skip 'no TEST_SSE_OPENRESTY_DEB_AGAIN', 1 unless $again;
	is(sha($again), sha($deb), 'reproducible: built in other directories, the same bytes');
}

my $next = join '.', (split /\./, $ver)[0 .. 2], (split /\./, $ver)[3] + 1;
is(deb_field($deb, 'Depends') =~ s/.*?(openresty \(.*)/$1/r,
	"openresty (>= $ver~), openresty (<< $next~)", 'Depends: this OpenResty version');

# without OpenResty, apt refuses it (the control of the next case)

($rc, $out) = sh("$APT install -s -q '$deb'");
ok($rc != 0 && $out =~ /openresty/, 'without OpenResty: refused by apt') or diag($out);

# the stand-in of OpenResty's deb

($rc, $out) = sh("dpkg -i '$standin'");
is($rc, 0, "OpenResty $ver installed (stand-in)") or diag($out);
like(`openresty -v 2>&1`, qr{^nginx version: openresty/\Q$ver\E$}m, 'openresty -v');
my $before = conf_hashes();

($rc, $out) = sh("$APT install -s -q '" . other_openresty($deb) . "'");
ok($rc != 0 && $out =~ /openresty/, 'a package for another OpenResty version: refused by apt')
	or diag($out);

# installed: the module where OpenResty loads modules from, no configuration changed

($rc, $out) = sh("$APT install -y -q '$deb'");
is($rc, 0, "$PKG installed") or diag($out);
ok(-f $SO, "module in $PREFIX/nginx/modules");
is(conf_hashes(), $before, 'OpenResty\'s configuration unchanged');

# README's one line at the top of OpenResty's own nginx.conf

$t = Test::Nginx->new()->has(qw/http proxy http_ssl/)->has_daemon('openssl')
	->has_daemon('curl');
$d = $t->testdir();
make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

system('cp', '-p', $CONF, "$d/nginx.conf.orig") == 0 or die "cannot save $CONF\n";
my $site = <<"EOF";
# written by t/deb-openresty/openresty_deb.t, put back when it ends
pid $d/openresty.pid;
error_log $d/error.log;
events {
}
http {
    access_log off;
    server {
        listen       127.0.0.1:$listen ssl;
        server_name  localhost;
        ssl_certificate      $d/localhost.crt;
        ssl_certificate_key  $d/localhost.key;
        location / {
            proxy_pass http://127.0.0.1:$backend;
        }
        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:$backend/;
        }
    }
}
EOF
my $README = "load_module modules/ngx_http_sse_auto_module.so;\n\n";
write_text($CONF, $README . $site);

($rc, $out) = sh('openresty -t');
ok($rc == 0 && $out =~ /test is successful/, 'openresty -t with README\'s line') or diag($out);
($rc, $out) = sh('openresty');
is($rc, 0, 'OpenResty started') or diag($out);
$t->waitforsocket("127.0.0.1:$listen") or die "OpenResty does not listen on $listen\n";

streams_ok(get_live('/events'), 'events arrive live', ms => 50);
held_ok(get('/off/events'), 'sse_auto off: events held (the control)');

sh("openresty -s stop");
for (1 .. 50) { last unless -f "$d/openresty.pid"; sleep(0.1); }

# or the installer: it enables the package's module (never replaces it) and takes that back

# (the site without its sse_auto directive: the installer refuses a configuration that fails
# nginx -t before it loads the module)
write_text($CONF, $site =~ s{\n +location /off/ \{.*?\}}{}sr);
my $site_only = sha($CONF);
($rc, $out) = sh("$INSTALL --nginx $PREFIX/nginx/sbin/nginx");
ok($rc == 0 && $out =~ /installed by the package \Q$PKG\E/
	&& $out =~ /nginx -t: the configuration with sse_auto is ok/,
	'sse-auto-install enables the package\'s module') or diag($out);
($rc, $out) = sh("$INSTALL --nginx $PREFIX/nginx/sbin/nginx --uninstall");
ok($rc == 0 && sha($CONF) eq $site_only && -f $SO,
	'--uninstall: nginx.conf byte-identical, the package\'s module stays') or diag($out);
write_text($CONF, $README . $site);

# removed: the module goes, the configuration stays as it is, and apt says it still loads it

my $with_line = sha($CONF);
($rc, $out) = sh("$APT remove -y -q $PKG");
is($rc, 0, "$PKG removed") or diag($out);
ok(!-e $SO, 'module gone');
is(sha($CONF), $with_line, 'nginx.conf unchanged by apt-get remove');
like($out, qr/\Q$CONF\E still loads the module/, 'apt-get remove says nginx.conf still loads it');

system('cp', '-p', "$d/nginx.conf.orig", $CONF) == 0 or die "cannot put back $CONF\n";
is(conf_hashes(), $before, 'OpenResty\'s configuration as OpenResty installed it');

($rc, $out) = sh("$APT install -y -q '$deb' && $APT purge -y -q $PKG");
ok($rc == 0 && !-e $SO && conf_hashes() eq $before, 'installed and purged: nothing left')
	or diag($out);

###############################################################################

cleanup();
undef $t;

sub cleanup {
	return if !$armed || $cleaned++ || $$ != $MAIN;
	if (defined $d) {
		sh('openresty -s stop') if -x '/usr/bin/openresty' && -f "$d/openresty.pid";
		system('cp', '-p', "$d/nginx.conf.orig", $CONF) if -f "$d/nginx.conf.orig";
	}
	sh("$APT purge -y -q $PKG") if present($PKG);
	if (present('openresty')) {
		sh('dpkg --purge openresty');
		# what OpenResty made when it ran (logs/, *_temp/): the folder was not there before
		sh("rm -rf $PREFIX") unless present('openresty');
	}
}

END {
	local $?;
	cleanup();
}

###############################################################################

# every file under OpenResty's conf folder with its sha256
sub conf_hashes {
	return `find $PREFIX/nginx/conf -type f -print0 | sort -z | xargs -0 -r sha256sum 2>&1`;
}

# a copy of the package whose Depends: names another OpenResty version
sub other_openresty {
	my ($deb) = @_;
	my $dir = tempdir('sse-or-deb-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	system("dpkg-deb -R '$deb' $dir/x") == 0 or die "dpkg-deb -R failed\n";
	system('sed', '-i', '-E', 's/openresty \(>= [0-9.]+~\), openresty \(<< [0-9.]+~\)/'
		. 'openresty (>= 9.9.9.9~), openresty (<< 9.9.9.10~)/',
		"$dir/x/DEBIAN/control") == 0 or die "sed failed\n";
	system("dpkg-deb -b $dir/x $dir/other.deb >/dev/null") == 0 or die "dpkg-deb -b failed\n";
	return "$dir/other.deb";
}

sub deb_field { my ($deb, $f) = @_; return `dpkg-deb -f '$deb' $f` =~ s/\s+\z//r; }

sub present { return `dpkg-query -W -f='\${Status}' $_[0] 2>/dev/null` =~ /installed|config-files/; }

sub sha { return (split ' ', `sha256sum '$_[0]'`)[0] // ''; }

sub get {
	my ($path) = @_;
	my $r = sse_get($path, ssl => 1, port => $listen);
	note(summary($r));
	return $r;
}

sub get_live {
	my ($path) = @_;
	my $r;
	for (1 .. 3) {
		$r = get($path);
		last if live($r, ms => 50);
	}
	return $r;
}

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

sub write_text {
	my ($file, $content) = @_;
	open my $fh, '>', $file or die "Can't write $file: $!\n";
	print $fh $content;
	close $fh;
}

###############################################################################
