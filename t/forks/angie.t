#!/usr/bin/perl

# Tests for sse_auto and Angie (1.12.1, on the nginx 1.31.2 core): Angie's loader and nginx's
# protect each other, unlike Tengine's and OpenResty's. A module built against Angie (through
# scripts/build/angie-crates.sh) passes `nginx -t` in Angie (the control) and carries Angie's module
# header; vanilla nginx refuses it by its version field (angie_version), and Angie refuses a
# module built for vanilla nginx by its missing Angie mark.
#
# TEST_SSE_ANGIE, TEST_SSE_ANGIE_SO: Angie's binary and its module; TEST_SSE_VANILLA_BIN,
# TEST_SSE_VANILLA_BIN_SO: any vanilla nginx and its module (scripts/test/test-forks.sh: the
# vendored build of make paths).

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

my ($angie, $angie_so, $vanilla, $vanilla_so)
	= @ENV{qw/ TEST_SSE_ANGIE TEST_SSE_ANGIE_SO TEST_SSE_VANILLA_BIN TEST_SSE_VANILLA_BIN_SO /};
plan(skip_all => 'set TEST_SSE_ANGIE(_SO) and TEST_SSE_VANILLA_BIN(_SO) (make test-forks)')
	if grep { !$_ } $angie, $angie_so, $vanilla, $vanilla_so;

plan(tests => 5);

like(`$angie -v 2>&1`, qr{^Angie version: Angie/1\.12\.1\b}m, 'Angie 1.12.1');

my ($rc, $out) = nginx_t($angie, $angie_so);
ok($rc == 0 && $out =~ /test is successful/, 'Angie module in Angie: nginx -t passes')
	or diag($out);

($rc, $out) = nginx_t($vanilla, $angie_so);
ok($rc != 0 && $out =~ /\[emerg\] module "\Q$angie_so\E" version 1012001 instead of \d+/,
	'Angie module in vanilla nginx: refused by nginx (version)') or diag($out);

($rc, $out) = nginx_t($angie, $vanilla_so);
ok($rc != 0 && $out =~ /\[emerg\] module "\Q$vanilla_so\E" is built not for Angie/,
	'vanilla module in Angie: refused by Angie') or diag($out);

($rc, $out) = nginx_t($vanilla, $vanilla_so);
is($rc, 0, 'vanilla module in vanilla nginx: nginx -t passes (the control)') or diag($out);

###############################################################################
