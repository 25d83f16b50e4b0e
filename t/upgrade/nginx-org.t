#!/usr/bin/perl

# An nginx.org-style package update with sse_auto installed: two packages made here of the
# vanilla --with-compat builds, named and versioned as nginx.org's are (nginx
# <version>-1~bookworm, Provides: nginx-r<version>, nginx.conf a conffile, a postinst that
# runs while the package is configured), served by a local apt repository to a Debian 12 root.
# The installer pins its local package to nginx-r<old version>. `apt-get upgrade` holds nginx
# back (nginx keeps its module and streams); `apt-get full-upgrade` removes the local package
# with the old nginx, before the new one's postinst runs, and nginx starts; --check says why;
# the installer again for the new version: live, and "sse_auto off" holds (the control).
#
# scripts/test/test-upgrade.sh nginx-org runs it: DEBIAN_ROOT (a copy of a bookworm root, mounts
# up), TEST_SSE_ORG_OLD / TEST_SSE_ORG_NEW (the two binaries), TEST_SSE_UPGRADE_FROM (a
# release folder with modules for both, as the root sees it). Needs dpkg-deb and
# dpkg-scanpackages here.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

BEGIN { $ENV{TEST_NGINX_BINARY} = $ENV{TEST_SSE_ORG_OLD} // ''; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($R, $old, $new, $from) = @ENV{qw/ DEBIAN_ROOT TEST_SSE_ORG_OLD TEST_SSE_ORG_NEW TEST_SSE_UPGRADE_FROM /};
plan(skip_all => 'run by scripts/test/test-upgrade.sh nginx-org')
	unless $R && $old && $new && $from && $> == 0;

my $INSTALL = '/src/packaging/sse-auto-install';
my $P = '/usr/local/nginx';
my $APT = 'apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef'
	. ' -o Dpkg::Options::=--force-confold';
my ($vo, $vn) = map { `$_ -v 2>&1` =~ m{nginx/(\S+)} ? $1 : die "no version of $_\n" } $old, $new;

my $t = Test::Nginx->new()->has_daemon('openssl')->has_daemon('dpkg-scanpackages');
my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

# the repository: the old version first
mkdir "$R/repo";
make_package($old, $vo);
repo();
write_text("$R/etc/apt/sources.list.d/nginx-org-style.list", "deb [trusted=yes] file:/repo ./\n");
unlink "$R/var/log/upgrade-restarts.log";

$t->plan(19);

###############################################################################

my ($rc, $out);

mkdir "$R/etc/nginx-test";
system("cp $d/localhost.crt $d/localhost.key $R/etc/nginx-test/") == 0 or die;
($rc, $out) = in_root("$APT update -qq && $APT install -y -q nginx");
is($rc, 0, "apt-get install nginx ($vo-1~bookworm)") or diag($out);

($rc, $out) = in_root("sh $INSTALL --from $from");
is($rc, 0, 'installed') or diag($out);
like(local_pkg() // '', qr/Depends: nginx-r\Q$vo\E$/, "the local package depends on nginx-r$vo");
start();
streams_ok(get($listen), "$vo: events live");

# the new version in the repository

make_package($new, $vn);
repo();
($rc, $out) = in_root("$APT update -qq && $APT upgrade -y -q");
ok($rc == 0 && $out =~ /kept back:\s+nginx/, 'apt-get upgrade: nginx kept back') or diag($out);
like(`chroot $R nginx -v 2>&1`, qr{nginx/\Q$vo\E}, "still $vo");
stop();
start();
streams_ok(get($listen), "held back, restarted: events live");
stop();

($rc, $out) = in_root("$APT full-upgrade -y -q");
is($rc, 0, 'apt-get full-upgrade: exit code 0') or diag($out);
like(`chroot $R nginx -v 2>&1`, qr{nginx/\Q$vn\E}, "nginx is $vn");
ok(!defined local_pkg(), 'the local package went with the old nginx');
my $restarts = read_text("$R/var/log/upgrade-restarts.log") // '';
note($restarts);
ok($restarts =~ /== postinst configure \Q$vo\E.*?\nrc=0\n/s && $restarts !~ /rc=[1-9]/,
	"the new package's postinst (configure, from $vo): nginx -t passed");
start();
held_ok(get($listen), 'nginx starts, without the module: events held (control)');

($rc, $out) = in_root("sh $INSTALL --check");
ok($rc != 0 && $out =~ /not loaded: the module for \Q$vo\E was removed when nginx became \Q$vn\E/,
	'--check: says why') or diag($out);

($rc, $out) = in_root("sh $INSTALL --from $from");
is($rc, 0, "installed again, for $vn") or diag($out);
like(local_pkg() // '', qr/Depends: nginx-r\Q$vn\E$/, "the local package depends on nginx-r$vn");
sleep(1);
streams_ok(get($listen), "$vn: events live");

write_text("$R$P/conf/nginx.conf", read_text("$R$P/conf/nginx.conf") =~ s/(location \/ \{)/$1 sse_auto off;/r);
($rc, $out) = in_root('nginx -s reload');
sleep(1);
held_ok(get($listen), 'sse_auto off: events held (control)');

# a site names an sse_auto directive: uninstalling would break it, so it is refused and the
# package put back; without the directive, uninstalled
($rc, $out) = in_root("sh $INSTALL --uninstall");
ok($rc != 0 && $out =~ /unknown directive "sse_auto"/ && local_pkg() =~ /nginx-r\Q$vn\E$/,
	'uninstall with a site using sse_auto: refused, package put back') or diag($out);
write_text("$R$P/conf/nginx.conf", read_text("$R$P/conf/nginx.conf") =~ s/ sse_auto off;//r);
($rc, $out) = in_root("sh $INSTALL --uninstall");
ok($rc == 0 && !defined local_pkg() && !-e "$R$P/modules/ngx_http_sse_auto_module.so",
	'uninstalled') or diag($out);

###############################################################################

stop();
system("cp $R$P/logs/error.log $d/error.log");
undef $t;

# a package of the binary, as nginx.org names and versions them
sub make_package {
	my ($bin, $v) = @_;
	my $p = "$d/pkg-$v";
	system("mkdir -p $p/DEBIAN $p$P/sbin $p$P/conf $p$P/logs $p/usr/sbin") == 0 or die;
	system("cp $bin $p$P/sbin/nginx") == 0 or die;
	symlink("$P/sbin/nginx", "$p/usr/sbin/nginx") or die;
	write_text("$p$P/conf/nginx.conf", conf(''));
	write_text("$p/DEBIAN/conffiles", "$P/conf/nginx.conf\n");
	write_text("$p/DEBIAN/control", <<"EOF");
Package: nginx
Version: $v-1~bookworm
Architecture: amd64
Maintainer: t/upgrade/nginx-org.t <root\@localhost>
Provides: httpd, nginx-r$v
Depends: libc6, libcrypt1, libpcre2-8-0, libssl3, zlib1g
Section: httpd
Priority: optional
Description: nginx $v, packaged as nginx.org packages it (a test's stand-in)
EOF
	# what nginx.org's postinst does while configured (an upgrade of the running
	# master): here nginx -t at that moment, logged
	write_text("$p/DEBIAN/postinst", <<'EOF');
#!/bin/sh
{ echo "== postinst $*"; /usr/sbin/nginx -t 2>&1; echo "rc=$?"; } >>/var/log/upgrade-restarts.log
exit 0
EOF
	chmod 0755, "$p/DEBIAN/postinst";
	system("dpkg-deb -Zgzip --build $p $R/repo/nginx_$v-1~bookworm_amd64.deb >/dev/null") == 0
		or die "dpkg-deb failed\n";
}

sub repo {
	system("cd $R/repo && dpkg-scanpackages . /dev/null > Packages 2>/dev/null") == 0
		or die "dpkg-scanpackages failed\n";
}

sub conf {
	return <<"EOF";
# nginx.conf (t/upgrade/nginx-org.t)
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;

events {
}

http {
    access_log off;

    server {
        listen       127.0.0.1:$listen ssl;
        server_name  localhost;

        ssl_certificate      /etc/nginx-test/localhost.crt;
        ssl_certificate_key  /etc/nginx-test/localhost.key;

        location / {
            proxy_pass http://127.0.0.1:$backend;
        }
    }
}
EOF
}

sub in_root {
	my ($cmd) = @_;
	$cmd =~ s/'/'\\''/g;
	my $out = `chroot $R /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive sh -c '$cmd' 2>&1`;
	return ($? >> 8, $out);
}

sub local_pkg {
	my (undef, $s) = in_root(q{dpkg-query -W -f='${db:Status-Abbrev}|${Version} Depends: ${Depends}' sse-auto-local 2>/dev/null});
	return $s =~ /^ii *\|(.*)/ ? $1 : undef;
}

sub get {
	my ($port) = @_;
	my $r = sse_get('/events', ssl => 1, port => $port);
	note(summary($r));
	return $r;
}

sub start {
	my ($rc, $out) = in_root('nginx');
	die "nginx did not start in the root:\n$out" if $rc;
	$t->waitforsocket("127.0.0.1:$listen") or die "nginx does not listen on $listen\n";
}

sub stop {
	in_root("[ ! -s $P/logs/nginx.pid ] || nginx -s quit");
	for (1 .. 100) { last unless -s "$R$P/logs/nginx.pid"; sleep(0.1); }
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

###############################################################################
