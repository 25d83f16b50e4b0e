#!/usr/bin/perl

# Tests for sse_auto: a module built for the other kind of nginx core (vanilla nginx or
# OpenResty's patched one) is refused when the configuration is loaded, with one [emerg] line
# that says what it was built for, what it is loaded into and where the README says how to
# rebuild; `nginx -t` fails. A module built for the running core loads.
#
# The module tells OpenResty's core by the globals only that core defines. No vanilla nginx of
# an OpenResty bundle's nginx version is at hand, so each direction is exercised with a real
# binary whose core markers are changed:
#
# - a vanilla-built module in an OpenResty core: the running vanilla nginx gets OpenResty's
#   ngx_is_privileged_agent from a tiny preloaded library, as OpenResty's binary defines it;
# - an OpenResty-built module in a vanilla core: TEST_SSE_UNMARKED_NGINX names OpenResty's
#   binary relinked with its core markers hidden from the dynamic symbol table (the OpenResty
#   entries of scripts/matrix.sh make it).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon('cc');

plan(skip_all => 'the module is linked into nginx (no load_module)')
	unless ($ENV{TEST_NGINX_GLOBALS} // '') =~ /load_module\s+[^;]*sse_auto/;

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    sse_auto on;
}

EOF

my $d = $t->testdir();

# -e since nginx 1.19.5; before it the startup log is logs/error.log
my $E = $t->has_version('1.19.5') ? '-e error.log' : '';
mkdir "$d/logs";

$t->write_file('marker.c', <<'EOF');
/* OpenResty's core defines this (ngx_process_cycle.c); vanilla nginx does not */
unsigned long ngx_is_privileged_agent;
EOF
system("cc -shared -fPIC -o $d/marker.so $d/marker.c >$d/cc.log 2>&1") == 0
	or die "Can't build marker.so: " . $t->read_file('cc.log');

my $openresty = $t->has_module('nginx version: openresty/');
# "nginx/1.28.3", "openresty/1.27.1.2": the full version and the nginx one
my ($full, $version) = `$Test::Nginx::NGINX -v 2>&1` =~ m!/((\d+\.\d+\.\d+)[\d.]*)!;

$t->plan(8);

###############################################################################

my ($rc, $out) = test_conf();
is($rc, 0, 'built for the running core: nginx -t passes');
unlike($out, qr/sse_auto: this module/, 'built for the running core: no refusal');

($rc, $out) = test_conf("$d/marker.so");

SKIP: {
	skip 'OpenResty: its own marker is already there', 3 if $openresty;

	isnt($rc, 0, 'vanilla build in an OpenResty core: nginx -t fails');

	my @emerg = $out =~ /^.*\[emerg\].*$/mg;
	is(scalar @emerg, 1, 'vanilla build in an OpenResty core: one [emerg] line');
	my $message = "sse_auto: this module was built against vanilla nginx $version "
		. "but is loaded into OpenResty's patched nginx $version; their structures "
		. 'differ, so it cannot work: rebuild it against the source bundle of the '
		. 'OpenResty you run (openresty -V), see "OpenResty, 1Panel, Nginx Proxy '
		. 'Manager" in the README';
	like($emerg[0] // '', qr/\[emerg\] \Q$message\E in \S+nginx\.conf:\d+$/,
		'vanilla build in an OpenResty core: what, where, how to rebuild');
}

SKIP: {
	skip 'the module is built for vanilla nginx', 3 unless $openresty;
	skip 'no OpenResty binary with its core markers hidden (TEST_SSE_UNMARKED_NGINX)', 3
		unless defined $ENV{TEST_SSE_UNMARKED_NGINX};

	($rc, $out) = test_conf(undef, $ENV{TEST_SSE_UNMARKED_NGINX});
	isnt($rc, 0, 'OpenResty build in a vanilla core: nginx -t fails');

	my @emerg = $out =~ /^.*\[emerg\].*$/mg;
	is(scalar @emerg, 1, 'OpenResty build in a vanilla core: one [emerg] line');
	my $message = "sse_auto: this module was built against OpenResty's patched nginx "
		. "$version (openresty/$full) but is loaded into an nginx $version "
		. "without OpenResty's patches; their structures differ, so it cannot work: rebuild "
		. 'it against the source of the nginx you run (nginx -V), see "OpenResty, 1Panel, '
		. 'Nginx Proxy Manager" in the README';
	like($emerg[0] // '', qr/\[emerg\] .*\Q$message\E in \S+nginx\.conf:\d+$/,
		'OpenResty build in a vanilla core: what, where, how to rebuild');
}

###############################################################################

# nginx -t in the test directory, with $preload preloaded; exit code and output
sub test_conf {
	my ($preload, $nginx) = @_;
	$nginx //= $Test::Nginx::NGINX;

	local $ENV{LD_PRELOAD} = $preload if defined $preload;
	# AddressSanitizer builds want their runtime first among preloaded libraries
	local $ENV{ASAN_OPTIONS} = join ':', grep { $_ }
		$ENV{ASAN_OPTIONS}, 'verify_asan_link_order=0';

	my $out = `$nginx -p $d/ -c nginx.conf $E -t 2>&1`;
	return ($? >> 8, $out);
}

###############################################################################
