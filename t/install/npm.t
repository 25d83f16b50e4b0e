#!/usr/bin/perl

# sse-auto-install in an image laid out as Nginx Proxy Manager's: OpenResty configured with
# its paths (--prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --modules-path=/usr/lib/nginx/modules
# --conf-path=/etc/nginx/nginx.conf, OpenResty's packaging flags otherwise), an nginx.conf that
# includes /data/nginx/custom/root_top[.]conf before events{}, and the persisted /data volume
# holding the sites. The release's module for that OpenResty version (built with OpenResty's
# packaging flags, not these paths) is picked by its version line; the installer puts the
# module and its load line in the image's modules folder and one include glob in
# root_top.conf. Before: events held; installed: live, and "sse_auto off" in the site holds
# them (the control); a folder without this version names the nearest ones it has;
# uninstalled, the volume is byte-identical and events are held again.
#
# TEST_SSE_NPM_IMAGE: a root where OpenResty was installed with those paths (make install
# DESTDIR=, scripts/test/test-panels.sh); TEST_SSE_INSTALL_FROM: a release folder with its
# module. Runs as root (chroot, mount --bind).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

BEGIN { $ENV{TEST_NGINX_BINARY} = ($ENV{TEST_SSE_NPM_IMAGE} // '') . '/usr/sbin/nginx'; }

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($IMAGE, $from) = @ENV{qw/ TEST_SSE_NPM_IMAGE TEST_SSE_INSTALL_FROM /};
plan(skip_all => 'run by scripts/test/test-panels.sh (an OpenResty image in NPM\'s layout, a release folder)')
	unless $IMAGE && $from && $> == 0;

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my $BIN = '/usr/sbin/nginx';
my $MODULES = '/usr/lib/nginx/modules';
# outside the image its LuaJIT is found through the image's library folder
my $luajit = "$IMAGE/etc/nginx/luajit/lib";
my $ver = `LD_LIBRARY_PATH=$luajit $IMAGE$BIN -v 2>&1` =~ m{openresty/(\S+)} ? $1
	: plan(skip_all => "$IMAGE$BIN is not OpenResty");

my $t = Test::Nginx->new()->has_daemon('openssl');
my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

$t->plan(12);

###############################################################################

my ($rc, $out);

my $img = image();
my $data = "$d/data";
mkdir $_ for $data, "$data/nginx", "$data/nginx/custom", "$data/nginx/proxy_host", "$data/logs";
system("cp $d/localhost.crt $d/localhost.key $data/nginx/") == 0 or die;
write_text("$data/nginx/proxy_host/1.conf", site(''));
mount_data($img);
my $volume = hashes($data, 'logs');

($rc, $out) = sh("chroot $img $BIN -t");
is($rc, 0, "Nginx Proxy Manager's layout, OpenResty $ver: nginx -t before installing") or diag($out);
start();
held_ok(get(), 'before installing: events held');

# a folder without this version: refused, naming the versions it has and the nearest

my $other = other_folder();
SKIP: {
	skip "the release folder has no other OpenResty version", 1 unless $other;
	($rc, $out) = sh("$INSTALL --root $img --nginx $BIN --from $other --no-reload");
	ok($rc != 0 && $out =~ m{no module for openresty/\Q$ver\E in }
		&& $out =~ m{nearest: openresty/\d} && hashes($data, 'logs') eq $volume,
		'no module for this version: the nearest named, nothing changed') or diag($out);
}

# installed: the release's module, chosen by the version line

($rc, $out) = sh("$INSTALL --root $img --nginx $BIN --from $from --no-reload");
is($rc, 0, 'installed') or diag($out);
like($out, qr{module: \S+-openresty-\Q$ver\E-\S+\.so \(for openresty/\Q$ver\E}, "the file of openresty/$ver")
	or diag($out);
ok(-f "$img$MODULES/ngx_http_sse_auto_module.so" && -f "$img$MODULES/ngx_http_sse_auto_module.load",
	'module and load line in the image\'s modules folder');
like(read_text("$data/nginx/custom/root_top.conf") // '',
	qr{^include \Q$MODULES\E/ngx_http_sse_auto_module\[\.\]load;$}m,
	'enabled by an include glob in the volume\'s root_top.conf');

reload();
streams_ok(get(), 'installed: events live', ms => 50);

write_text("$data/nginx/proxy_host/1.conf", site('sse_auto off;'));
reload();
held_ok(get(), 'sse_auto off in the site: events held (control)');
write_text("$data/nginx/proxy_host/1.conf", site(''));

# uninstalled: the volume byte-identical, held again

($rc, $out) = sh("$INSTALL --root $img --nginx $BIN --uninstall --no-reload");
is($rc, 0, 'uninstalled') or diag($out);
ok(hashes($data, 'logs') eq $volume && !-e "$img$MODULES/ngx_http_sse_auto_module.so",
	'the volume byte-identical, the module gone') or diag(hashes($data, 'logs') . "\nbefore:\n$volume");
reload();
held_ok(get(), 'uninstalled: events held again');

stop();
system("cat $data/logs/error.log > $d/error.log 2>/dev/null");
umount_all();
undef $t;

###############################################################################

# the image: a copy of the installed OpenResty root, the libraries of its binary and of the
# release's modules, and what the workers need
sub image {
	my $r = "$d/image";
	system("cp -a $IMAGE $r") == 0 or die "cp -a $IMAGE failed\n";
	# NPM's image has no sse_auto: the one nginx's make install copied goes
	unlink "$r$MODULES/ngx_http_sse_auto_module.so";
	mkdir "$r$_" for qw{ /etc /tmp /dev /run /run/nginx /var /var/log /var/log/nginx /data };
	chmod 01777, "$r/tmp";
	system("mknod -m 666 $r/dev/null c 1 3") == 0 or die "mknod failed\n";
	for my $lib (map { `LD_LIBRARY_PATH=$luajit ldd $_` =~ m{(/\S+)}g } "$r$BIN", glob("$from/*openresty*.so")) {
		next if $lib =~ m{^\Q$r\E};
		system("mkdir -p $r\$(dirname $lib) && cp -L $lib $r$lib") == 0 or die;
	}
	write_text("$r/etc/passwd", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
	write_text("$r/etc/group", "root:x:0:\nnogroup:x:65534:\n");
	write_text("$r/etc/nginx/nginx.conf", <<"EOF");
# the image's nginx.conf, as Nginx Proxy Manager's (t/install/npm.t)
user nobody nogroup;
worker_processes 1;
pid /run/nginx/nginx.pid;
error_log /data/logs/error.log info;

include /etc/nginx/modules/*.conf;
include /data/nginx/custom/root_top[.]conf;

events {
}

http {
    access_log off;
    include /data/nginx/proxy_host/*.conf;
}
EOF
	mkdir "$r/etc/nginx/modules";
	return $r;
}

sub site {
	my ($extra) = @_;
	return <<"EOF";
# a proxy host as Nginx Proxy Manager generates it (t/install/npm.t)
server {
    listen       127.0.0.1:$listen ssl;
    server_name  localhost;

    ssl_certificate      /data/nginx/localhost.crt;
    ssl_certificate_key  /data/nginx/localhost.key;

    location / {
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_http_version 1.1;
        $extra
        proxy_pass http://127.0.0.1:$backend;
    }
}
EOF
}

# a release folder whose manifest has the other OpenResty versions only
sub other_folder {
	open my $fh, '<', "$from/manifest.txt" or return;
	my @lines = grep { !/^#/ && (split /\t/)[0] eq 'openresty' && (split /\t/)[1] ne $ver } <$fh>;
	return unless @lines;
	my $dir = tempdir('sse-npm-other-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	write_text("$dir/manifest.txt", "# sse_auto test folder\n" . join('', @lines));
	return $dir;
}

# every file of a folder with its sha256 (those under the named subfolders left out)
sub hashes {
	my ($dir, @skip) = @_;
	my $prune = join(' -o ', map { "-path $dir/$_" } @skip);
	$prune = $prune ? "\\( $prune \\) -prune -o" : '';
	return `find $dir $prune -type f -print0 | sort -z | xargs -0 sha256sum`;
}

sub mount_data {
	my ($r) = @_;
	system("mount --bind $data $r/data") == 0 or die "mount --bind failed\n";
	push our @mounts, "$r/data";
}

sub umount_all {
	system("umount $_") for reverse our @mounts;
	@mounts = ();
}

END {
	local $?;
	umount_all();
}

sub start {
	my ($rc, $out) = sh("chroot $img $BIN");
	die "nginx did not start:\n$out" if $rc;
	$t->waitforsocket("127.0.0.1:$listen") or die "nginx does not listen on $listen\n";
}

sub reload {
	my ($rc, $out) = sh("chroot $img $BIN -s reload");
	die "reload failed:\n$out" if $rc;
	sleep(1);
}

sub stop {
	sh("chroot $img $BIN -s quit");
	for (1 .. 100) { last unless -s "$img/run/nginx/nginx.pid"; sleep(0.1); }
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
