#!/usr/bin/perl

# Tests for sse_auto in Tengine (Alibaba's fork on the nginx 1.24.0 core, offered by
# BT/aaPanel): a module built against vanilla nginx 1.24.0 and one built against Tengine 3.1.0
# have the same nginx version and module signature, so nginx's load_module takes either in
# either binary; their structures differ. Each module refuses the other core: `nginx -t` fails
# with one [emerg] line that says what it was built for, what it is loaded into and how to
# rebuild. The controls: each module in its own core passes.
#
# TEST_SSE_TENGINE, TEST_SSE_TENGINE_SO: Tengine's binary and its module; TEST_SSE_VANILLA,
# TEST_SSE_VANILLA_SO: vanilla nginx 1.24.0 and its module (scripts/test/test-forks.sh builds
# both with the same configure flags).

###############################################################################

use warnings;
use strict;

use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::Nginx::LoadTest qw/ nginx_t /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my %bin = (tengine => $ENV{TEST_SSE_TENGINE}, vanilla => $ENV{TEST_SSE_VANILLA});
my %so = (tengine => $ENV{TEST_SSE_TENGINE_SO}, vanilla => $ENV{TEST_SSE_VANILLA_SO});
plan(skip_all => 'set TEST_SSE_TENGINE(_SO) and TEST_SSE_VANILLA(_SO) (make test-forks)')
	if grep { !$_ } values %bin, values %so;

like(`$bin{tengine} -v 2>&1`,
	qr{^Tengine version: Tengine/3\.1\.0\nnginx version: nginx/1\.24\.0$}m,
	'Tengine 3.1.0 on the nginx 1.24.0 core');
like(`$bin{vanilla} -v 2>&1`, qr{^nginx version: nginx/1\.24\.0$}m, 'vanilla nginx 1.24.0');
is(signature($so{tengine}), signature($so{vanilla}), 'both modules: the same module signature');

my %into = (
	tengine => "but is loaded into Tengine's patched nginx 1.24.0; their structures differ, "
		. 'so it cannot work: rebuild it against the source of the Tengine you run '
		. '(nginx -V prints its version and arguments), see "Forks" in docs/BUILDING.md',
	vanilla => 'but is loaded into an nginx 1.24.0 without Tengine\'s patches; their '
		. 'structures differ, so it cannot work: rebuild it against the source of the nginx '
		. 'you run (nginx -V), see "Forks" in docs/BUILDING.md',
);
my %built = (
	vanilla => 'vanilla nginx 1.24.0',
	tengine => "Tengine's patched nginx 1.24.0 (Tengine/3.1.0)",
);

for my $core (qw/ tengine vanilla /) {
	for my $module (qw/ tengine vanilla /) {
		my ($rc, $out) = nginx_t($bin{$core}, $so{$module});
		if ($core eq $module) {
			ok($rc == 0 && $out =~ /test is successful/ && $out !~ /sse_auto: this module/,
				"$module module in $core: nginx -t passes (the control)") or diag($out);
			next;
		}
		isnt($rc, 0, "$module module in $core: nginx -t fails");
		my @emerg = $out =~ /^.*\[emerg\].*$/mg;
		my $message = "sse_auto: this module was built against $built{$module} $into{$core}";
		ok(@emerg == 1 && $emerg[0] =~ /\[emerg\] \Q$message\E in \S+nginx\.conf:\d+$/,
			"$module module in $core: one [emerg] line, what, where, how to rebuild")
			or diag($out);
	}
}

done_testing();

###############################################################################

# "8,4,8,0000111111010111001110101111000110" of a module: what nginx compares at load_module
sub signature {
	my ($so) = @_;
	my ($sig) = `grep -a -o -E '[0-9]+,[0-9]+,[0-9]+,[01]{30,}' '$so'` =~ /^(\S+)/;
	return $sig // '';
}

###############################################################################
