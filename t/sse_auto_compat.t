#!/usr/bin/perl

# Tests for sse_auto: a module built for another kind of nginx core (vanilla nginx, OpenResty's
# or Tengine's patched one) is refused when the configuration is loaded, with one [emerg] line
# that says what it was built for, what it is loaded into and where the README says how to
# rebuild; `nginx -t` fails. A module built for the running core loads.
#
# The module tells the forks' cores by globals only that core defines. Each direction is
# exercised with a real binary whose core markers are changed:
#
# - a vanilla-built module in an OpenResty or a Tengine core: the running vanilla nginx gets
#   OpenResty's ngx_is_privileged_agent, or Tengine's ngx_http_top_input_body_filter, from a
#   tiny preloaded library, as those binaries define them;
# - a fork-built module in a vanilla core: TEST_SSE_UNMARKED_NGINX names the fork's binary
#   relinked with its core markers hidden from the dynamic symbol table (the OpenResty and
#   Tengine entries of scripts/test/matrix.sh make it).
#
# t/forks/tengine.t does it with real binaries both ways: vanilla nginx 1.24.0 and Tengine.

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

# the preloaded libraries are compiled for nginx's architecture: an aarch64 nginx tested on an
# x86_64 machine (make test-matrix MATRIX=nginx-1.30-aarch64, through qemu) needs the cross
# compiler's, as the dynamic loader skips a library of another architecture
my $CC = 'cc';
$CC = 'aarch64-linux-gnu-gcc'
	if `readelf -h $Test::Nginx::NGINX 2>/dev/null` =~ /Machine:\s*AArch64/
	&& `uname -m` !~ /aarch64/;

my $t = Test::Nginx->new()->has(qw/http/)->has_daemon($CC);

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

# the globals the forks' cores define (OpenResty's ngx_process_cycle.c, Tengine's ngx_http.c)
for my $m (['openresty', 'unsigned long ngx_is_privileged_agent;'],
	['tengine', 'void *ngx_http_top_input_body_filter;'])
{
	my ($name, $c) = @$m;
	$t->write_file("$name.c", "/* what that core defines; vanilla nginx does not */\n$c\n");
	system("$CC -shared -fPIC -o $d/$name.so $d/$name.c >$d/cc.log 2>&1") == 0
		or die "Can't build $name.so: " . $t->read_file('cc.log');
}

my $V = `$Test::Nginx::NGINX -V 2>&1`;
my $fork = $V =~ m!nginx version: openresty/! ? 'OpenResty'
	: $V =~ m!^Tengine version: !m ? 'Tengine' : undef;
# "nginx/1.28.3", "openresty/1.27.1.2", "Tengine/3.1.0": the fork's version and nginx's one
my ($version) = $V =~ m!nginx version: \w+/(\d+\.\d+\.\d+)!;
my ($ver) = $V =~ m!^(?:Tengine version: |nginx version: )(\w+/[\d.]+)!m;

my %rebuild = (
	OpenResty => 'rebuild it against the source bundle of the OpenResty you run '
		. '(openresty -V), see "OpenResty, 1Panel, Nginx Proxy Manager" in docs/BUILDING.md',
	Tengine => 'rebuild it against the source of the Tengine you run (nginx -V prints its '
		. 'version and arguments), see "Forks" in docs/BUILDING.md',
);
my %section = (OpenResty => 'OpenResty, 1Panel, Nginx Proxy Manager', Tengine => 'Forks');

$t->plan(11);

###############################################################################

my ($rc, $out) = test_conf();
is($rc, 0, 'built for the running core: nginx -t passes');
unlike($out, qr/sse_auto: this module/, 'built for the running core: no refusal');

for my $into (qw/ OpenResty Tengine /) {
	SKIP: {
		skip "the module is built for $fork", 3 if $fork;

		($rc, $out) = test_conf("$d/" . lc($into) . '.so');
		isnt($rc, 0, "vanilla build in a $into core: nginx -t fails");

		my @emerg = $out =~ /^.*\[emerg\].*$/mg;
		is(scalar @emerg, 1, "vanilla build in a $into core: one [emerg] line");
		my $message = "sse_auto: this module was built against vanilla nginx $version "
			. "but is loaded into ${into}'s patched nginx $version; their structures "
			. "differ, so it cannot work: $rebuild{$into}";
		like($emerg[0] // '', qr/\[emerg\] \Q$message\E in \S+nginx\.conf:\d+$/,
			"vanilla build in a $into core: what, where, how to rebuild");
	}
}

SKIP: {
	skip 'the module is built for vanilla nginx', 3 unless $fork;
	skip "no $fork binary with its core markers hidden (TEST_SSE_UNMARKED_NGINX)", 3
		unless defined $ENV{TEST_SSE_UNMARKED_NGINX};

	($rc, $out) = test_conf(undef, $ENV{TEST_SSE_UNMARKED_NGINX});
	isnt($rc, 0, "$fork build in a vanilla core: nginx -t fails");

	my @emerg = $out =~ /^.*\[emerg\].*$/mg;
	is(scalar @emerg, 1, "$fork build in a vanilla core: one [emerg] line");
	my $message = "sse_auto: this module was built against ${fork}'s patched nginx "
		. "$version ($ver) but is loaded into an nginx $version "
		. "without ${fork}'s patches; their structures differ, so it cannot work: rebuild "
		. "it against the source of the nginx you run (nginx -V), see \"$section{$fork}\" "
		. 'in docs/BUILDING.md';
	like($emerg[0] // '', qr/\[emerg\] .*\Q$message\E in \S+nginx\.conf:\d+$/,
		"$fork build in a vanilla core: what, where, how to rebuild");
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
