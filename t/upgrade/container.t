#!/usr/bin/perl

# A container's nginx replaced by a newer image, with its configuration in a volume, as panels
# (1Panel, Nginx Proxy Manager) and docker-compose setups do: an "image" is a root holding
# only an nginx binary of one version (--prefix /usr/local/nginx) and the libraries it needs;
# its conf/ folder is the volume. sse-auto-install --root puts the module and its load line in
# the image's modules/ folder and one include glob in the volume's nginx.conf. A new image
# (another version, the same volume): nginx -t passes, nginx starts and serves, events are held
# (the module went with the old image), --check says why; the installer in the new image: live
# again, "sse_auto off" holds them (the control). The old image's binary replaced in place by
# the new version instead (a build of its own, modules/ kept): nginx -t fails, --check names the
# mismatch, the installer mends it. Uninstalled: the volume's nginx.conf byte-identical.
#
# TEST_SSE_IMAGE_A, TEST_SSE_IMAGE_B: two --with-compat nginx binaries of different versions
# (scripts/test/test-upgrade.sh: the release's builds of 1.18.0 and 1.24.0); TEST_SSE_UPGRADE_FROM:
# a release folder with modules for both. Runs as root (chroot).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Path qw/ rmtree /;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

BEGIN { $ENV{TEST_NGINX_BINARY} = $ENV{TEST_SSE_IMAGE_A} // ''; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($A, $B, $from) = @ENV{qw/ TEST_SSE_IMAGE_A TEST_SSE_IMAGE_B TEST_SSE_UPGRADE_FROM /};
plan(skip_all => 'run by scripts/test/test-upgrade.sh (two nginx binaries, a release folder)')
	unless $A && $B && $from && $> == 0;

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my $P = '/usr/local/nginx';
my ($va, $vb) = map { `$_ -v 2>&1` =~ m{nginx/(\S+)} ? $1 : die "no version of $_\n" } $A, $B;

my $t = Test::Nginx->new()->has_daemon('openssl');
my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

$t->plan(19);

###############################################################################

my ($rc, $out);

# image A, its volume with the site

my $img = image('a', $A);
mkdir "$d/volume";
system("cp $d/localhost.crt $d/localhost.key $d/volume/") == 0 or die;
write_text("$d/volume/nginx.conf", conf(''));
mount_volume($img);
my $before = read_text("$d/volume/nginx.conf");

($rc, $out) = sh("$INSTALL --root $img --nginx $P/sbin/nginx --from $from");
is($rc, 0, "image of $va: installed") or diag($out);
like($out, qr/no package's\. A new image .* brings neither/, 'says what an upgrade needs');
ok(-f "$img$P/modules/ngx_http_sse_auto_module.so"
	&& -f "$img$P/modules/ngx_http_sse_auto_module.load", 'module and load line in the image');
like(read_text("$d/volume/nginx.conf"), qr/^include \Q$P\E\/modules\/ngx_http_sse_auto_module\[\.\]load;$/m,
	'the volume\'s nginx.conf includes them through a glob');
start($img);
streams_ok(get(), "image of $va: events live");
stop($img);

# a new image, the same volume

my $new = image('b', $B);
mount_volume($new);
($rc, $out) = sh("chroot $new $P/sbin/nginx -t");
is($rc, 0, "new image ($vb), same volume: nginx -t passes") or diag($out);
start($new);
held_ok(get(), 'new image: nginx serves, without the module: events held (control)');

($rc, $out) = sh("$INSTALL --root $new --nginx $P/sbin/nginx --check");
ok($rc != 0 && $out =~ /not loaded: the module for \Q$va\E was removed when nginx became \Q$vb\E.*; run /,
	'--check: says why') or diag($out);

($rc, $out) = sh("$INSTALL --root $new --nginx $P/sbin/nginx --from $from --no-reload");
is($rc, 0, "new image: installed for $vb") or diag($out);
stop($new);
start($new);
streams_ok(get(), "new image: events live");

write_text("$d/volume/nginx.conf", read_text("$d/volume/nginx.conf") =~ s/(location \/ \{)/$1 sse_auto off;/r);
($rc, $out) = sh("chroot $new $P/sbin/nginx -s reload");
sleep(1);
held_ok(get(), 'sse_auto off: events held (control)');
write_text("$d/volume/nginx.conf", read_text("$d/volume/nginx.conf") =~ s/ sse_auto off;//r);
stop($new);

# the old image's binary replaced in place by the new version (modules/ kept, as a build of
# its own upgraded with make install): the mismatch named, then mended

my $img_a = $img;
system("cp $B $img_a$P/sbin/nginx") == 0 or die;
libs($img_a, $B);
($rc, $out) = sh("chroot $img_a $P/sbin/nginx -t");
ok($rc != 0 && $out =~ /version 1018000 instead of 1024000/, "binary replaced in place by $vb: nginx -t fails")
	or diag($out);
($rc, $out) = sh("$INSTALL --root $img_a --nginx $P/sbin/nginx --check");
ok($rc != 0 && $out =~ /not working: the module enabled here was made for nginx \Q$va\E and this nginx is \Q$vb\E/,
	'--check names the mismatch') or diag($out);
($rc, $out) = sh("$INSTALL --root $img_a --nginx $P/sbin/nginx --from $from --no-reload");
ok($rc == 0 && $out =~ /made for nginx \Q$va\E, this nginx is nginx\/\Q$vb\E: replacing it/,
	'the installer mends it') or diag($out);
($rc, $out) = sh("chroot $img_a $P/sbin/nginx -t");
is($rc, 0, 'nginx -t passes again') or diag($out);
start($img_a);
streams_ok(get(), "mended: events live");
stop($img_a);

# uninstalled: the volume as it was

($rc, $out) = sh("$INSTALL --root $img_a --nginx $P/sbin/nginx --uninstall");
is($rc, 0, 'uninstalled') or diag($out);
is(read_text("$d/volume/nginx.conf"), $before, 'the volume\'s nginx.conf byte-identical');
ok(!-e "$img_a$P/modules/ngx_http_sse_auto_module.so"
	&& !-e "$img_a$P/modules/ngx_http_sse_auto_module.load", 'module and load line gone');

# the images' error logs are the ones Test::Nginx checks for alerts
system("cat $d/image-*$P/logs/error.log > $d/error.log 2>/dev/null");
umount_all();
undef $t;

###############################################################################

# a root with the binary, its libraries and what its workers need
sub image {
	my ($name, $bin) = @_;
	my $r = "$d/image-$name";
	mkdir $r;
	mkdir "$r$_" for qw{ /etc /tmp /usr /usr/local }, $P, "$P/sbin", "$P/logs", "$P/modules";
	chmod 01777, "$r/tmp";
	mkdir "$r/dev";
	system("mknod -m 666 $r/dev/null c 1 3") == 0 or die "mknod failed\n";
	system("cp $bin $r$P/sbin/nginx") == 0 or die;
	libs($r, $bin);
	write_text("$r/etc/passwd", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
	write_text("$r/etc/group", "root:x:0:\nnogroup:x:65534:\n");
	return $r;
}

# the libraries of the binary and of the modules (an image has its whole libc)
sub libs {
	my ($r, $bin) = @_;
	for my $lib (map { `ldd $_` =~ m{(/\S+)}g } $bin, glob("$from/*.so")) {
		system("mkdir -p $r\$(dirname $lib) && cp -L $lib $r$lib") == 0 or die;
	}
}

# the volume: the image's conf/ is a link to it (a bind mount in a container)
sub mount_volume {
	my ($r) = @_;
	mkdir "$r$P/conf";
	system("mount --bind $d/volume $r$P/conf") == 0 or die "mount --bind failed\n";
	push our @mounts, "$r$P/conf";
}

sub umount_all {
	system("umount $_") for reverse our @mounts;
	@mounts = ();
}

END {
	local $?;
	umount_all();
}

sub conf {
	return <<"EOF";
# the volume's nginx.conf (t/upgrade/container.t)
user nobody nogroup;
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

        ssl_certificate      $P/conf/localhost.crt;
        ssl_certificate_key  $P/conf/localhost.key;

        location / {
            proxy_pass http://127.0.0.1:$backend;
        }
    }
}
EOF
}

sub start {
	my ($r) = @_;
	my ($rc, $out) = sh("chroot $r $P/sbin/nginx");
	die "nginx did not start in $r:\n$out" if $rc;
	$t->waitforsocket("127.0.0.1:$listen") or die "nginx does not listen on $listen\n";
}

sub stop {
	my ($r) = @_;
	sh("chroot $r $P/sbin/nginx -s quit");
	for (1 .. 100) { last unless -s "$r$P/logs/nginx.pid"; sleep(0.1); }
}

sub get {
	my $r = sse_get('/events', ssl => 1, port => $listen);
	note(summary($r));
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

###############################################################################
