#!/usr/bin/perl

# The module in a minimal --with-compat nginx: built without SSL, or --without-http-cache, or
# linked against musl (scripts/build/nginx-release.sh nossl, nocache, musl-nossl, musl).
#
# Without SSL: the release's file of that version (built against a tree with SSL and the cache)
# loads, since it finds nginx's TLS functions when it reads the configuration, not when it is
# loaded. Without the cache: nginx itself refuses every module built with the cache (the
# cache is part of the signature it compares, --with-compat or not), with its own message, not
# a failed dlopen(); the module built against that tree (nginx's own build) loads instead.
# musl (Alpine's C library, the nginx:alpine images): the release's file, built on glibc, is the
# one for musl too; it names no library but those musl's loader takes as itself.
# Either way an existing site's plain proxy_pass then streams events live; the same location
# with "sse_auto off" holds them (the control: a close-delimited upstream, which stock nginx
# holds for every client on every version).
#
# TEST_NGINX_BINARY: the minimal nginx; TEST_SSE_RELEASE_SO: the release's .so of its version;
# TEST_SSE_BUILT_SO: the module built against that nginx's own tree (needed without the cache).

###############################################################################

use warnings;
use strict;

use Test::More;
use Cwd ();

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $so = $ENV{TEST_SSE_RELEASE_SO};
plan(skip_all => 'set TEST_SSE_RELEASE_SO=<a release .so> (scripts/test/test-release.sh)')
	unless $so;
-f $so or BAIL_OUT("TEST_SSE_RELEASE_SO: no file $so");
$so = Cwd::abs_path($so);

my $v = `$ENV{TEST_NGINX_BINARY} -V 2>&1`;
my $cache = $v !~ /--without-http-cache/;
my $stream_so = $cache ? $so : $ENV{TEST_SSE_BUILT_SO};
-f ($stream_so // '') or BAIL_OUT('nginx without the cache: set TEST_SSE_BUILT_SO=<the module '
	. 'built against its tree> (scripts/build/nginx-release.sh <version> nocache module)');

$stream_so = Cwd::abs_path($stream_so);

# a musl-linked binary names musl's loader as its interpreter
open my $fh, '<:raw', $ENV{TEST_NGINX_BINARY} or die "$ENV{TEST_NGINX_BINARY}: $!\n";
read $fh, my $head, 65536;
close $fh;
my ($musl) = $head =~ m!(/lib/ld-musl-[\w.-]+\.so\.1)!;

my $t = Test::Nginx->new()->has(qw/http proxy/)->has_daemon('curl');
$t->has_daemon('readelf') if $musl;
$t->plan($musl ? 8 : 7);

$t->write_file('release.conf', <<"EOF");
load_module $so;
error_log release.log;
events {
}
EOF

$t->write_file_expand('nginx.conf', <<"EOF");

load_module $stream_so;

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

$t->run_daemon(\&sse_daemon, port(8081));
$t->waitforsocket('127.0.0.1:' . port(8081)) or die "no SSE backend\n";

###############################################################################

# what this binary lacks, from its configure line
my @lacks = (($v !~ /--with-http_ssl_module/ ? 'SSL' : ()),
	($v =~ /--without-http-cache/ ? 'the HTTP cache' : ()));
ok((@lacks || $musl) && $v =~ /--with-compat/, 'a minimal --with-compat nginx: '
	. join(', ', ($musl ? "linked against musl ($musl)" : ()),
		(@lacks ? 'without ' . join(' and ', @lacks) : ()))) or diag($v);

if ($musl) {
	# musl's loader is libc, libdl, libm, libpthread, librt, libutil and libxnet itself
	my @needed = `readelf -d $so` =~ /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g;
	is(join(' ', grep { !/^lib(c|dl|m|pthread|rt|util|xnet)\.so(\.\d+)*$/ } @needed), '',
		'the release\'s file needs no library musl lacks (' . join(' ', @needed) . ')');
}

my $d = $t->testdir();
my $e = $t->has_version('1.19.5') ? '-e error.log' : '';
mkdir "$d/logs";
my $release = `$Test::Nginx::NGINX -t -p $d/ -c release.conf $e 2>&1`;
if ($cache) {
	like($release, qr/test is successful/, 'the release\'s file: nginx -t passes');
} else {
	like($release, qr/is not binary compatible/,
		'the release\'s file: refused by nginx\'s signature check (the cache is in it)');
}
like(`$Test::Nginx::NGINX -t -p $d/ -c nginx.conf $e 2>&1`, qr/test is successful/,
	'nginx -t with ' . ($cache ? 'the release\'s file' : 'the module built for it'));

$t->run();

my $q = '?n=3&gap=300&ct=text/event-stream';
my $on = sse_get("/events$q");
my $off = sse_get("/off/events$q");

is(scalar @{$on->{records}}, 3, 'all events arrive');
streams_ok($on, 'live: every event as it is sent');
is(scalar @{$off->{records}}, 3, 'sse_auto off: all events arrive');
held_ok($off, 'control, sse_auto off: held');

###############################################################################
