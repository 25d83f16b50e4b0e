#!/usr/bin/perl

# Tests for scripts/build/module-for.sh (make module-for) on OpenResty 1.27.1.2 (1Panel, Nginx Proxy
# Manager) built with OpenResty's packaging flags from ../shared/sources (the matrix entry
# openresty-1.27, or SSE_OPENRESTY=<its nginx binary>): from the source bundle, the module is
# built against the bundle's patched nginx tree with the binary's arguments, loads into it
# (nginx -t), and a plain proxy_pass site streams events live (a vanilla-built module would
# be refused, or switch nothing), held with sse_auto off. A vanilla nginx tarball is refused
# for this binary.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir("$FindBin::Bin/.."); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::ModuleFor qw/ module_for stream_conf $REPO $SOURCES /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $VERSION = '1.27.1.2';
my $bundle = $ENV{SSE_OPENRESTY_SRC} // "$SOURCES/openresty-$VERSION.tar.gz";
my $nginx = $ENV{SSE_OPENRESTY}
	// "$REPO/target/matrix/openresty-1.27/prefix/nginx/sbin/nginx";

plan(skip_all => "no OpenResty $VERSION binary at $nginx: make test-matrix "
	. 'MATRIX=openresty-1.27 builds it (or set SSE_OPENRESTY=<nginx binary>)') unless -x $nginx;
plan(skip_all => "no $bundle (SSE_OPENRESTY_SRC=)") unless -e $bundle;

$Test::Nginx::NGINX = $nginx;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(8);

###############################################################################

my $m = module_for($nginx, $bundle);
is($m->{rc}, 0, 'module-for: exit 0') or diag($m->{out});
like($m->{out}, qr{^binary: .*: openresty/\Q$VERSION\E, with --with-compat$}m,
	'module-for: reads OpenResty\'s version');
like($m->{out}, qr{^source: .*/openresty-\Q$VERSION\E \(openresty/\Q$VERSION\E\)$}m,
	'module-for: the bundle\'s patched tree');
like($m->{out}, qr/test is successful\n(?:.*\n)?\Q@{[ $m->{so} \/\/ 'none' ]}\E\n\z/,
	'module-for: nginx -t passed, then the path as the last line');

# a vanilla nginx tarball is the wrong source

my $e = module_for($nginx, "$SOURCES/nginx-1.30.4.tar.gz");
ok($e->{rc} != 0 && $e->{out} =~ m{version mismatch: the source \S+ is nginx/1\.30\.4, the binary \S+ is openresty/\Q$VERSION\E\b.*https://openresty\.org/download/openresty-\Q$VERSION\E\.tar\.gz}s,
	'vanilla source: refused, the bundle to download named') or diag($e->{out});

SKIP: {
skip 'the module was not built (see above)', 3 unless $m->{so};

$t->write_file_expand('nginx.conf', stream_conf($m->{so}));
make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'OpenResty: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'OpenResty: downstream hint');
held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'OpenResty: sse_auto off: control');
}

###############################################################################
