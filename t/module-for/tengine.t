#!/usr/bin/perl

# Tests for scripts/build/module-for.sh (make module-for) on Tengine 3.1.0 (BT/aaPanel's alternative
# to nginx; the nginx 1.24.0 core), built from ../shared/sources by the matrix entry
# tengine-3.1 or make test-forks (or SSE_TENGINE=<its binary>): from Tengine's tarball, the
# module is built against Tengine's tree with the binary's arguments, loads into it (nginx -t),
# and a plain proxy_pass site streams events live, held with sse_auto off. Vanilla nginx
# 1.24.0's tarball, the same nginx version, is refused for this binary.

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

my $VERSION = '3.1.0';
my $tarball = $ENV{SSE_TENGINE_SRC} // "$SOURCES/tengine-$VERSION.tar.gz";
my $nginx = $ENV{SSE_TENGINE} // "$REPO/target/nginx-build/tengine-$VERSION/objs/nginx";

plan(skip_all => "no Tengine $VERSION binary at $nginx: make test-forks (or make "
	. 'test-matrix MATRIX=tengine-3.1) builds it (or set SSE_TENGINE=<binary>)') unless -x $nginx;
plan(skip_all => "no $tarball (SSE_TENGINE_SRC=)") unless -e $tarball;

$Test::Nginx::NGINX = $nginx;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(8);

###############################################################################

my $m = module_for($nginx, $tarball);
is($m->{rc}, 0, 'module-for: exit 0') or diag($m->{out});
like($m->{out}, qr{^binary: .*: Tengine/\Q$VERSION\E on nginx/1\.24\.0, with --with-compat$}m,
	'module-for: reads Tengine\'s version');
like($m->{out}, qr{^source: .*/tengine-\Q$VERSION\E \(Tengine/\Q$VERSION\E, nginx/1\.24\.0\)$}m,
	'module-for: Tengine\'s tree');
like($m->{out}, qr/test is successful\n(?:.*\n)?\Q@{[ $m->{so} \/\/ 'none' ]}\E\n\z/,
	'module-for: nginx -t passed, then the path as the last line');

# vanilla nginx of the same version is the wrong source

my $e = module_for($nginx, "$SOURCES/nginx-1.24.0.tar.gz");
ok($e->{rc} != 0 && $e->{out} =~ m{version mismatch: the source \S+ is nginx/1\.24\.0, the binary \S+ is Tengine/\Q$VERSION\E on nginx/1\.24\.0\b.*tengine-\Q$VERSION\E\.tar\.gz}s,
	'vanilla source: refused, Tengine\'s tarball named') or diag($e->{out});

SKIP: {
skip 'the module was not built (see above)', 3 unless $m->{so};

$t->write_file_expand('nginx.conf', stream_conf($m->{so}));
make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'Tengine: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'Tengine: downstream hint');
held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'Tengine: sse_auto off: control');
}

###############################################################################
