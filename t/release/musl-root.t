#!/usr/bin/perl

# sse-auto-install on a musl system (Alpine, the nginx:alpine images): a root that has only
# musl's loader, BusyBox (Alpine's shell and tools; Debian's static build), /etc/passwd and a
# musl-linked nginx at /usr/sbin/nginx, run chrooted. Before: an existing site's plain
# proxy_pass holds events (stock nginx; a close-delimited upstream, held for every client: the
# control). The installer, run inside with BusyBox's sh (as `docker exec` or a Dockerfile's RUN
# would), takes the release's file of this nginx's version and CPU, which the manifest says
# serves musl, and nginx -t passes; after a restart the same site streams them live.
# --uninstall from the host (--root, as on a container's volume) leaves the root's files as
# they were, and the events are held again. A folder whose manifest does not say musl (releases
# before 0.2.0) is refused first, with the reason, and changes nothing.
#
# TEST_SSE_RELEASE: a release folder with a file for the musl nginx's version;
# TEST_SSE_MUSL_NGINX: a musl-linked nginx (scripts/build/nginx-release.sh <version>
# musl-nossl). Runs as root (chroot).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Path qw/ make_path /;
use File::Copy qw/ copy /;
use File::Temp qw/ tempdir /;

use FindBin;
use lib "$FindBin::Bin/../lib";

# Test::Nginx gives the ports and the backend; the nginx under test is the root's
BEGIN { $ENV{TEST_NGINX_BINARY} //= $ENV{TEST_SSE_MUSL_NGINX} if $ENV{TEST_SSE_MUSL_NGINX}; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my $dir = $ENV{TEST_SSE_RELEASE}
	or plan(skip_all => 'set TEST_SSE_RELEASE=<release folder> (make test-release)');
my $musl = $ENV{TEST_SSE_MUSL_NGINX}
	or plan(skip_all => 'set TEST_SSE_MUSL_NGINX=<a musl nginx> (make test-release)');
plan(skip_all => 'chroot into the root: run as root') unless $> == 0;

my ($interp) = `readelf -l '$musl' 2>&1` =~ /program interpreter: (\S+)\]/;
plan(skip_all => "$musl is not musl-linked (interpreter: " . ($interp // 'none') . ')')
	unless ($interp // '') =~ m!/ld-musl-!;
plan(skip_all => "no $interp on this machine (Debian: musl)") unless -e $interp;

my ($ver) = `$musl -v 2>&1` =~ m{nginx/(\S+)};
my ($prefix) = `$musl -V 2>&1` =~ /--prefix=(\S+)/;
$prefix //= '/usr/local/nginx';

my $busybox = '/bin/busybox';
plan(skip_all => 'no static BusyBox at /bin/busybox (Debian: busybox-static)')
	unless -x $busybox && `readelf -l $busybox 2>&1` !~ /program interpreter/;

my $t = Test::Nginx->new()->has_daemon('curl')->has_daemon('readelf')->plan(12);
# (the testdir's error.log, which Test::Nginx checks for alerts: this nginx writes the root's)
write_file($t->testdir() . '/error.log', '');

$t->run_daemon(\&sse_daemon, port(8081));
$t->waitforsocket('127.0.0.1:' . port(8081)) or die "no SSE backend\n";

# the root: musl's loader (which is its libc too), /dev/null, the users nginx switches to, nginx
my $root = tempdir('sse-musl-root-XXXXXXXX', TMPDIR => 1, CLEANUP => !$ENV{TEST_NGINX_LEAVE});
make_path("$root/usr/sbin", "$root/etc", "$root/dev", "$root/bin", "$root/tmp", "$root$prefix/conf", "$root$prefix/logs",
	"$root/" . ($interp =~ s!/[^/]+$!!r));
copy($interp, "$root$interp") or die "$interp: $!\n";
copy($musl, "$root/usr/sbin/nginx") or die "$musl: $!\n";
chmod 0755, "$root$interp", "$root/usr/sbin/nginx";
system('mknod', "$root/dev/null", 'c', 1, 3) == 0 or die "mknod /dev/null failed\n";
copy($busybox, "$root/bin/busybox") or die "$busybox: $!\n";
chmod 0755, "$root/bin/busybox";
system('chroot', $root, '/bin/busybox', '--install', '-s', '/bin') == 0 or die "busybox --install\n";
write_file("$root/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n");
write_file("$root/etc/group", "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n");

# an existing site: a plain proxy_pass, nothing about streams
my $p8080 = port(8080);
my $p8081 = port(8081);
write_file("$root$prefix/conf/nginx.conf", <<"EOF");
pid logs/nginx.pid;
error_log logs/error.log;

events {
}

http {
    access_log off;

    server {
        listen       127.0.0.1:$p8080;

        location / {
            proxy_pass http://127.0.0.1:$p8081;
        }
    }
}
EOF

sub write_file {
	my ($name, $content) = @_;
	open my $fh, '>', $name or die "$name: $!\n";
	print $fh $content;
	close $fh;
}

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

# what the installer may change: every file of the root (but nginx's logs, and /tmp with the
# release folders)
sub state {
	return scalar `cd '$root' && find . \\( -path '.$prefix/logs' -o -path ./tmp \\) -prune -o -type f -print | sort | xargs sha256sum`;
}

# the root's nginx, started and stopped as its own init would (given the test object: a named
# sub that captured it would keep it, and its two closing checks, past Test::More's end)
sub start {
	my ($t) = @_;
	my ($rc, $out) = sh("chroot '$root' /usr/sbin/nginx");
	die "nginx in the root does not start: $out" if $rc;
	$t->waitforsocket("127.0.0.1:$p8080") or die "nginx in the root does not listen\n";
}

sub stop {
	sh("chroot '$root' /usr/sbin/nginx -s stop");
	for (1 .. 50) {
		last unless -e "$root$prefix/logs/nginx.pid";
		select undef, undef, undef, 0.1;
	}
}

my $q = '?n=3&gap=300&ct=text/event-stream';

###############################################################################

my $before = state();

# the release folder, as a Dockerfile's COPY or docker cp would put it (removed after)
my $in = "$root/tmp/sse-auto";
make_path($in);
copy("$dir/manifest.txt", "$in/manifest.txt") or die "manifest.txt: $!\n";
copy($INSTALL, "$in/sse-auto-install") or die "$INSTALL: $!\n";
for (glob("$dir/*-nginx-$ver-*.so")) {
	copy($_, "$in/" . (m!([^/]+)$!)[0]) or die "$_: $!\n";
}

# the same folder as a release before 0.2.0 had it: no C library column in the manifest
my $old = "$root/tmp/sse-auto-old";
system('cp', '-a', $in, $old) == 0 or die "cp $in\n";
system("sed -i -E 's/\\t[a-z,]+\$//' '$old/manifest.txt'") == 0 or die "sed\n";

start($t);
held_ok(sse_get("/events$q", port => $p8080), 'stock musl nginx: events held (the control)');
stop();

my ($rc, $out) = sh("chroot '$root' /bin/sh /tmp/sse-auto/sse-auto-install --from /tmp/sse-auto-old"
	. ' --yes --no-reload');
ok($rc != 0 && $out =~ /modules for glibc only .* linked with musl/,
	'a folder from before 0.2.0: refused, the reason is musl') or diag($out);
system('rm', '-rf', $old);
is(state(), $before, 'refused: nothing changed');

($rc, $out) = sh("chroot '$root' /bin/sh /tmp/sse-auto/sse-auto-install --from /tmp/sse-auto"
	. ' --yes --no-reload');
is($rc, 0, 'sse-auto-install, run by BusyBox sh in the musl root') or diag($out);
system('rm', '-rf', $in);
like($out, qr/module: \S+-nginx-\Q$ver\E-\w+-linux-gnu\.so \(for nginx\/\Q$ver\E on \w+-linux-musl/,
	"the release's file of $ver, for musl") or diag($out);

($rc, $out) = sh("chroot '$root' /usr/sbin/nginx -t");
like($out, qr/test is successful/, 'nginx -t in the root, with the module') or diag($out);

start($t);
my $r = sse_get("/events$q", port => $p8080);
is(scalar @{$r->{records}}, 3, 'with sse_auto: all events arrive');
streams_ok($r, 'with sse_auto: live, the same site unchanged');
stop();

($rc, $out) = sh("$INSTALL --root '$root' --uninstall --yes --no-reload");
is($rc, 0, 'sse-auto-install --uninstall --root, from the host') or diag($out);
is(state(), $before, 'the root\'s files are as before');

start($t);
held_ok(sse_get("/events$q", port => $p8080), 'uninstalled: held again');
stop();

my $log = do { local $/; open my $fh, '<', "$root$prefix/logs/error.log" or die "$!\n"; <$fh> };
unlike($log, qr/\[(alert|emerg|crit)\]/, 'no alerts in the root\'s error log');

###############################################################################
