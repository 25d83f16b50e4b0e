#!/usr/bin/perl

# The upgrade every Debian user makes, with sse_auto installed: a Debian 11 root (its nginx
# 1.18.0), sse-auto-install from a release folder, then sources.list -> bookworm and
# apt-get full-upgrade (nginx 1.22.1). apt succeeds; the local package the installer made
# (pinned to nginx-core 1.18.0: Debian 11's nginx provides no nginx-abi) goes in the same
# transaction, before nginx's maintainer scripts restart it (dpkg's log, and nginx -t run at
# each restart the nginx package asks for); nginx starts without the module and --check says why in one line. The installer again
# with the same folder (it has 1.22.1): the module is back, events are live, and "sse_auto off"
# holds them (the control; so does the upgraded nginx without the module). Uninstalled,
# /etc/nginx is as the upgrade left it.
#
# Acts on a throwaway copy of the Debian 11 root from outside (scripts/test/test-upgrade.sh runs it:
# DEBIAN_ROOT, the copy with /proc, /dev and the repository at /src mounted;
# TEST_SSE_UPGRADE_FROM, the release folder as the root sees it). TEST_SSE_UPGRADE_INSTALLER:
# another installer to try (the one of an earlier release: the control, which fails here).

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

# the nginx is the root's, run chrooted: Test::Nginx only keeps the test's folder and daemons
BEGIN { $ENV{TEST_NGINX_BINARY} = ($ENV{DEBIAN_ROOT} // '') . '/usr/sbin/nginx'; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $R = $ENV{DEBIAN_ROOT};
my $from = $ENV{TEST_SSE_UPGRADE_FROM};
plan(skip_all => 'run by scripts/test/test-upgrade.sh (a Debian 11 root to upgrade)')
	unless $R && $from && $> == 0;
plan(skip_all => "$R is not a Debian 11 root with nginx 1.18.0")
	unless `chroot $R /usr/sbin/nginx -v 2>&1` =~ m{nginx/1\.18\.0};

my $INSTALL = $ENV{TEST_SSE_UPGRADE_INSTALLER} // '/src/packaging/sse-auto-install';
my $SO = '/usr/lib/nginx/modules/ngx_http_sse_auto_module.so';
my $LOAD = '/usr/lib/nginx/modules/ngx_http_sse_auto_module.load';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-sse-auto.conf';
my $APT = 'apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef'
	. ' -o Dpkg::Options::=--force-confold';

my $t = Test::Nginx->new()->has_daemon('openssl');
my $d = $t->testdir();
my ($listen, $off, $backend) = (port(8443), port(8444), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

# the root shares this machine's network: its default site moves off :80; a site of the
# kind users have, a plain proxy_pass over TLS
in_root(q{sed -i -E -e '/listen +\[::\]:80 default_server/d'
	-e 's/listen +80 default_server/listen 127.0.0.1:8180 default_server/'
	/etc/nginx/sites-available/default});
mkdir "$R/etc/nginx/upgrade-test";
system("cp $d/localhost.crt $d/localhost.key $R/etc/nginx/upgrade-test/") == 0 or die;
write_text("$R/etc/nginx/conf.d/upgrade-test.conf", site($listen, ''));

# the restarts the nginx package's maintainer scripts ask for, in the middle of the upgrade:
# nginx -t at that moment, logged (then refused, as services in this root always are)
write_text("$R/usr/sbin/policy-rc.d", <<'EOF');
#!/bin/sh
case "$1" in
nginx) { echo "== $*"; /usr/sbin/nginx -t 2>&1; echo "rc=$?"; } >>/var/log/upgrade-restarts.log ;;
esac
exit 101
EOF
chmod 0755, "$R/usr/sbin/policy-rc.d";
unlink "$R/var/log/upgrade-restarts.log";

$t->plan(22);

###############################################################################

my ($rc, $out);

# Debian 11: installed, live

($rc, $out) = in_root("sh $INSTALL --from $from");
is($rc, 0, 'Debian 11: installed') or diag($out);
like(local_pkg() // '', qr/Depends: nginx-core \(>= 1\.18\.0\), nginx-core \(<< 1\.18\.0\.0~\)$/,
	'the local package depends on nginx-core 1.18.0 (any Debian revision)');
start();
streams_ok(get($listen), 'Debian 11: events live');

# the upgrade to Debian 12

stop();
write_text("$R/etc/apt/sources.list", `sed 's/bullseye/bookworm/g' $R/etc/apt/sources.list`);
($rc, $out) = in_root("$APT update -qq && $APT full-upgrade -y -q");
write_text("$d/upgrade.log", $out);
is($rc, 0, 'apt-get full-upgrade to bookworm: exit code 0') or diag(tail($out));
like(`chroot $R /usr/sbin/nginx -v 2>&1`, qr{nginx/1\.22\.1}, 'nginx is 1.22.1 now');
ok(!defined local_pkg() && !-e "$R$SO" && !-e "$R$LOAD",
	'the local package went in the same transaction (module and load line gone)');

# dpkg's log of the upgrade: the package went before nginx's postinst ran
my @log = split /\n/, read_text("$R/var/log/dpkg.log") // '';
my ($gone) = grep { $log[$_] =~ / remove sse-auto-local:\S+ / } 0 .. $#log;
my ($conf) = grep { $log[$_] =~ / configure nginx(-core)?:\S+ 1\.22\.1/ } 0 .. $#log;
ok(defined $gone && defined $conf && $gone < $conf,
	'removed before nginx 1.22.1 was configured (and restarted)')
	or diag(join "\n", grep { /sse-auto|nginx/ } @log);

my $restarts = read_text("$R/var/log/upgrade-restarts.log") // '';
note($restarts);
ok($restarts =~ /rc=/ && $restarts !~ /rc=[1-9]/,
	'each restart the nginx package asked for: nginx -t passed');

($rc, $out) = in_root('nginx -t');
is($rc, 0, 'after the upgrade: nginx -t passes') or diag($out);
like(read_text("$R$ENABLED") // '', qr/\[\.\]load;/, 'the include glob, matching nothing, stays');
start();
held_ok(get($listen), 'without the module, events held (control)');

($rc, $out) = in_root("sh $INSTALL --check");
ok($rc != 0 && $out =~ /not loaded: the module for 1\.18\.0 was removed when nginx became 1\.22\.1 .*; run .*--from/,
	'--check: says the upgrade removed it, and what to run') or diag($out);

my $upgraded = etc_hashes($ENABLED);

# the installer again: the 1.22.1 module

($rc, $out) = in_root("sh $INSTALL --from $from");
is($rc, 0, 'installed again, for 1.22.1') or diag($out);
like(local_pkg() // '', qr/Depends: nginx-abi-1\.22\.1-\d+$/,
	'the local package depends on nginx-abi-1.22.1');
like(read_text("$R$ENABLED") // '', qr/^# sse_auto: added by sse-auto-install for nginx\/1\.22\.1 /m,
	'the enabling lines say which nginx they were made for');
sleep(1);
streams_ok(get($listen), 'Debian 12: events live');

write_text("$R/etc/nginx/conf.d/upgrade-test-off.conf", site($off, 'sse_auto off;'));
($rc, $out) = in_root('nginx -s reload');
is($rc, 0, 'a site with sse_auto off') or diag($out);
sleep(1);
held_ok(get($off), 'sse_auto off: events held (control)');

($rc, $out) = in_root("sh $INSTALL --check");
ok($rc == 0 && $out =~ /working: .*switched/, '--check: loaded and working') or diag($out);

unlink "$R/etc/nginx/conf.d/upgrade-test-off.conf";
($rc, $out) = in_root("sh $INSTALL --uninstall");
is($rc, 0, 'uninstalled') or diag($out);
is(etc_hashes(), $upgraded, '/etc/nginx as the upgrade left it, less the enabling file');
ok(!defined local_pkg() && !-e "$R$SO" && !-e "$R$LOAD", 'no package, module or load line');

###############################################################################

stop();

# the root's error log is the one Test::Nginx checks for alerts
system("cp $R/var/log/nginx/error.log $d/error.log");
undef $t;

sub site {
	my ($port, $extra) = @_;
	return <<"EOF";
# written by t/upgrade/debian.t
server {
    listen       127.0.0.1:$port ssl;
    server_name  localhost;

    ssl_certificate      /etc/nginx/upgrade-test/localhost.crt;
    ssl_certificate_key  /etc/nginx/upgrade-test/localhost.key;

    location / {
        $extra
        proxy_pass http://127.0.0.1:$backend;
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

# every file under the root's /etc/nginx with its sha256, less those named
sub etc_hashes {
	my (@less) = @_;
	my (undef, $s) = in_root(q{find /etc/nginx \( -type f -o -type l \) -print0 | sort -z | xargs -0 sha256sum; find /etc/nginx -type l -printf '%p -> %l\n' | sort});
	return join '', grep { my $l = $_; !grep { index($l, $_) >= 0 } @less } split /^/, $s;
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
	in_root('[ ! -s /run/nginx.pid ] || nginx -s quit');
	for (1 .. 100) { last unless -s "$R/run/nginx.pid"; sleep(0.1); }
}

sub tail {
	my ($s) = @_;
	my @l = split /\n/, $s;
	return join "\n", @l > 30 ? @l[-30 .. -1] : @l;
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
