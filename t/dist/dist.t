#!/usr/bin/perl

# Tests for the offline source release (make dist, scripts/release/dist.sh): the tarball unpacks into
# sse-auto-<version>/ with the crates vendored and the cargo configuration that uses them;
# nginx 1.31.4 and the module build from it by nginx's own build (./configure
# --add-dynamic-module=<the unpacked tarball>, make) with no network at all (a network
# namespace of its own, unshare -n) and an empty cargo home; that nginx then streams a plain
# proxy_pass site's events with the module, and holds them with sse_auto off. Making the
# tarball again gives the same bytes.
#
# Runs when TEST_SSE_DIST=<path of the tarball> is set (make test-dist). About 4 minutes on 2
# cores (nginx and every crate are built from scratch, as a packager would).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Spec;
use File::Temp ();

BEGIN { use FindBin; chdir("$FindBin::Bin/.."); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::ModuleFor qw/ stream_conf $REPO $SOURCES /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

plan(skip_all => 'set TEST_SSE_DIST=<path of sse-auto-<version>.tar.gz> (make test-dist)')
	unless $ENV{TEST_SSE_DIST};
my $dist = File::Spec->rel2abs($ENV{TEST_SSE_DIST});
-f $dist or BAIL_OUT("TEST_SSE_DIST: no file $dist");

my $tarball = "$SOURCES/nginx-1.31.4.tar.gz";
plan(skip_all => "no $tarball (../shared/sources, or SSE_SOURCES=)") unless -f $tarball;

my ($name) = $dist =~ m{(sse-auto-[^/]+)\.tar\.gz$} or BAIL_OUT("not a sse-auto tarball: $dist");

# the build runs before Test::Nginx is pointed at its binary: a directory of its own
my $work = File::Temp::tempdir('sse-dist-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $work;

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

my ($rc, $out);

($rc, $out) = sh("tar -xzf '$dist' -C $work && tar -xzf '$tarball' -C $work");
my $src = "$work/$name";
my $ok_unpack = $rc == 0 && -d $src;

# no network: a network namespace of its own when possible (root), else cargo told to stay
# offline; either way an empty cargo home (no registry cache)
my $isolated = system('unshare -n true >/dev/null 2>&1') == 0;
mkdir "$work/cargo-home";
my $env = "CARGO_HOME=$work/cargo-home";
# the glibc 2.17 link, with the tarball's linker wrapper and the zig make test-dist installed
$env .= " SSE_AUTO_LINKER=$src/scripts/build/floor-cc SSE_AUTO_ZIG=$REPO/target/zig";
$env .= ' CARGO_NET_OFFLINE=true' unless $isolated;
my $wrap = $isolated ? 'unshare -n --' : '';

my $build_start = time();
($rc, $out) = sh("cd $work/nginx-1.31.4 && env $env $wrap sh -c "
	. "'./configure --with-compat --with-http_ssl_module --with-threads "
	. "--add-dynamic-module=$src >configure.log 2>&1 && nice -n 10 make -j2 >make.log 2>&1' "
	. "|| tail -n 40 configure.log make.log");
my ($build_rc, $build_out) = ($rc, $out);
my $build_secs = time() - $build_start;

my $nginx = "$work/nginx-1.31.4/objs/nginx";
my $so = "$work/nginx-1.31.4/objs/ngx_http_sse_auto_module.so";

$Test::Nginx::NGINX = -x $nginx ? $nginx : '/bin/false';

# a failed build fails the tests below (not a skip for a missing feature)
my $t = Test::Nginx->new();
$t->has(qw/http proxy http_ssl/)->has_daemon('openssl')->has_daemon('curl') if -x $nginx;
$t->plan(12);

###############################################################################

ok($ok_unpack, "unpacks into $name/");
ok(-f "$src/.cargo/config.toml" && -d "$src/vendor" && -f "$src/config"
	&& -f "$src/CHANGELOG.md", 'vendor/, .cargo/config.toml, config, CHANGELOG.md');
ok(!-e "$src/target" && !-e "$src/.git" && !-e "$src/t", 'no build outputs, git or tests');
like(`cat $src/.cargo/config.toml`, qr/replace-with = "vendored-sources".*offline = true/s,
	'cargo configuration: vendored sources, offline');

is($build_rc, 0, 'nginx and the module build offline'
	. ($isolated ? ' (unshare -n)' : ' (CARGO_NET_OFFLINE)') . ", $build_secs s")
	or diag($build_out);
ok(-f $so, 'module built');
like(`$src/scripts/build/glibc-floor.sh $so 2>&1`, qr/^ok: .*GLIBC_2\.(1[0-7]|[0-9])\b/m,
	'the module needs nothing newer than glibc 2.17');
ok(!glob("$work/cargo-home/registry/*"), 'nothing fetched into the cargo home');

# the same tarball again

($rc, $out) = sh("DIST_OUT_DIR=$work/again $REPO/scripts/release/dist.sh");
my ($again) = $out =~ /(\S+\.tar\.gz)\s*\z/;
ok($rc == 0 && $again && `sha256sum < '$dist'` eq `sha256sum < '$again'`, 'reproducible')
	or diag($out);

SKIP: {
skip 'nothing was built (see above)', 3 unless -x $nginx && -f $so;

$t->write_file_expand('nginx.conf', stream_conf($so));

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'offline build: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'offline build: downstream hint');
held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'offline build: sse_auto off: control');
}

###############################################################################
