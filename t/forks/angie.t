#!/usr/bin/perl

# Tests for sse_auto and Angie (1.12.1, on the nginx 1.31.2 core): Angie's loader and nginx's
# protect each other, unlike Tengine's and OpenResty's. A module built against Angie (through
# scripts/angie-crates.sh) passes `nginx -t` in Angie (the control) and carries Angie's module
# header; vanilla nginx refuses it by its version field (angie_version), and Angie refuses a
# module built for vanilla nginx by its missing Angie mark.
#
# TEST_SSE_ANGIE, TEST_SSE_ANGIE_SO: Angie's binary and its module; TEST_SSE_VANILLA_BIN,
# TEST_SSE_VANILLA_BIN_SO: any vanilla nginx and its module (scripts/test-forks.sh: the
# vendored build of make paths).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my ($angie, $angie_so, $vanilla, $vanilla_so)
	= @ENV{qw/ TEST_SSE_ANGIE TEST_SSE_ANGIE_SO TEST_SSE_VANILLA_BIN TEST_SSE_VANILLA_BIN_SO /};
plan(skip_all => 'set TEST_SSE_ANGIE(_SO) and TEST_SSE_VANILLA_BIN(_SO) (make test-forks)')
	if grep { !$_ } $angie, $angie_so, $vanilla, $vanilla_so;

plan(tests => 5);

like(`$angie -v 2>&1`, qr{^Angie version: Angie/1\.12\.1\b}m, 'Angie 1.12.1');

my ($rc, $out) = test_conf($angie, $angie_so);
ok($rc == 0 && $out =~ /test is successful/, 'Angie module in Angie: nginx -t passes')
	or diag($out);

($rc, $out) = test_conf($vanilla, $angie_so);
ok($rc != 0 && $out =~ /\[emerg\] module "\Q$angie_so\E" version 1012001 instead of \d+/,
	'Angie module in vanilla nginx: refused by nginx (version)') or diag($out);

($rc, $out) = test_conf($angie, $vanilla_so);
ok($rc != 0 && $out =~ /\[emerg\] module "\Q$vanilla_so\E" is built not for Angie/,
	'vanilla module in Angie: refused by Angie') or diag($out);

($rc, $out) = test_conf($vanilla, $vanilla_so);
is($rc, 0, 'vanilla module in vanilla nginx: nginx -t passes (the control)') or diag($out);

###############################################################################

# nginx -t of a configuration that loads the module and uses it
sub test_conf {
	my ($nginx, $so) = @_;
	my $d = tempdir('sse-forks-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	mkdir "$d/logs";
	open my $fh, '>', "$d/nginx.conf" or die "Can't write $d/nginx.conf: $!\n";
	print $fh <<"EOF";
load_module $so;
error_log $d/error.log;
pid $d/nginx.pid;
events {
}
http {
    access_log off;
    sse_auto on;
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://127.0.0.1:8081;
        }
    }
}
EOF
	close $fh;
	my $out = `$nginx -p $d/ -c $d/nginx.conf -e $d/error.log -t 2>&1`;
	return ($? >> 8, $out);
}

###############################################################################
