#!/usr/bin/perl

# Tests for scripts/build/module-for.sh (make module-for) on nginx 1.31.4 built the way nginx.org's
# own packages (and the official Docker image, which installs them) build it: the configure
# arguments below are those that `nginx -V` prints for nginx.org's Linux packages. The module
# is built from the release tarball for that binary, loads into it (nginx -t), and a plain
# proxy_pass site streams events live, the same location with sse_auto off holds them. A
# tarball of another version is refused, and without a source the script names the one to
# download.
#
# Builds nginx once (about 2 minutes on 2 cores; cached under target/module-for/bin/).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir("$FindBin::Bin/.."); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::ModuleFor qw/ module_for build_nginx stream_conf $SOURCES /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $VERSION = '1.31.4';
my $tarball = "$SOURCES/nginx-$VERSION.tar.gz";
my $other = "$SOURCES/nginx-1.30.4.tar.gz";
plan(skip_all => "no $tarball (../shared/sources, or SSE_SOURCES=)") unless -f $tarball;

# nginx.org's packages: `nginx -V` of its Debian/Ubuntu packages and the official image
my @NGINX_ORG = (qw(
	--prefix=/etc/nginx --sbin-path=/usr/sbin/nginx --modules-path=/usr/lib/nginx/modules
	--conf-path=/etc/nginx/nginx.conf --error-log-path=/var/log/nginx/error.log
	--http-log-path=/var/log/nginx/access.log --pid-path=/run/nginx.pid
	--lock-path=/run/nginx.lock
	--http-client-body-temp-path=/var/cache/nginx/client_temp
	--http-proxy-temp-path=/var/cache/nginx/proxy_temp
	--http-fastcgi-temp-path=/var/cache/nginx/fastcgi_temp
	--http-uwsgi-temp-path=/var/cache/nginx/uwsgi_temp
	--http-scgi-temp-path=/var/cache/nginx/scgi_temp
	--user=nginx --group=nginx --with-compat --with-file-aio --with-threads
	--with-http_addition_module --with-http_auth_request_module --with-http_dav_module
	--with-http_flv_module --with-http_gunzip_module --with-http_gzip_static_module
	--with-http_mp4_module --with-http_random_index_module --with-http_realip_module
	--with-http_secure_link_module --with-http_slice_module --with-http_ssl_module
	--with-http_stub_status_module --with-http_sub_module --with-http_v2_module
	--with-http_v3_module --with-mail --with-mail_ssl_module --with-stream
	--with-stream_realip_module --with-stream_ssl_module --with-stream_ssl_preread_module),
	"--with-cc-opt=-g -O2 -ffile-prefix-map=/data/builder/debuild/nginx-$VERSION/debian/"
		. "debuild-base/nginx-$VERSION=. -fstack-protector-strong -Wformat "
		. '-Werror=format-security -Wp,-D_FORTIFY_SOURCE=2 -fPIC',
	'--with-ld-opt=-Wl,-z,relro -Wl,-z,now -Wl,--as-needed -pie');

my $nginx = build_nginx("nginx-org-$VERSION", $tarball, @NGINX_ORG);
$Test::Nginx::NGINX = $nginx;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(12);

###############################################################################

# the binary is what nginx.org ships: its arguments, with --with-cc-opt quoted by nginx

my $V = `$nginx -V 2>&1`;
like($V, qr{^nginx version: nginx/\Q$VERSION\E$}m, 'binary: version');
like($V, qr{--with-cc-opt='-g -O2 [^']*-fPIC' --with-ld-opt='[^']*-pie'}, 'binary: quoted flags');

my $m = module_for($nginx, $tarball);
is($m->{rc}, 0, 'module-for: exit 0') or diag($m->{out});
like($m->{out}, qr/nginx\/\Q$VERSION\E, with --with-compat/, 'module-for: reads --with-compat');
like($m->{out}, qr/configure: .*--with-cc-opt=-g -O2 -ffile-prefix-map=\S+ -fstack-protector/,
	'module-for: configures with the binary\'s own arguments');
like($m->{out}, qr/test is successful\n(?:.*\n)?\Q@{[ $m->{so} \/\/ 'none' ]}\E\n\z/,
	'module-for: nginx -t passed, then the path as the last line');
ok($m->{so} && -f $m->{so}, 'module-for: .so built');

# a source of another version, and no source at all

my $e = module_for($nginx, $other);
ok($e->{rc} != 0 && $e->{out} =~ /version mismatch: the source \S+ is nginx\/1\.30\.4, the binary \S+ is nginx\/\Q$VERSION\E/,
	'other version: refused') or diag($e->{out});
$e = module_for($nginx);
ok($e->{rc} != 0 && $e->{out} =~ m{Download exactly this version, https://nginx\.org/download/nginx-\Q$VERSION\E\.tar\.gz},
	'no source: names the tarball') or diag($e->{out});

# the module works in that binary

SKIP: {
skip 'the module was not built (see above)', 3 unless $m->{so};

$t->write_file_expand('nginx.conf', stream_conf($m->{so}));
make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'nginx.org build: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'nginx.org build: downstream hint');
held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'nginx.org build: sse_auto off: control');
}

###############################################################################
