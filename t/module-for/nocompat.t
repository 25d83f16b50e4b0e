#!/usr/bin/perl

# Tests for scripts/build/module-for.sh (make module-for) on an nginx built without --with-compat
# whose arguments cannot be reproduced: nginx 1.24.0 configured with a static third-party
# module (--add-module=<dir>) whose directory is gone since. Without --with-compat a module
# must be built exactly as the binary was, so the script refuses with that reason, before
# building anything; it never adds --with-compat on its own (the signature would differ).
#
# Builds a small nginx once (under a minute on 2 cores; cached under target/module-for/bin/).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir("$FindBin::Bin/.."); }

use lib 'lib';
use Test::Nginx::ModuleFor qw/ module_for build_nginx $REPO $SOURCES /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $tarball = "$SOURCES/nginx-1.24.0.tar.gz";
plan(skip_all => "no $tarball (../shared/sources, or SSE_SOURCES=)") unless -f $tarball;

# a static module of its own, present for the build only
my $addon = "$REPO/target/module-for/bin/nocompat-addon";
system('mkdir', '-p', $addon) == 0 or die "mkdir $addon\n";
open my $fh, '>', "$addon/config" or die "$addon/config: $!\n";
print $fh "ngx_addon_name=ngx_nocompat_test_addon\n";
close $fh;

my $nginx = build_nginx('nocompat-1.24.0', $tarball, '--without-http_rewrite_module',
	'--without-http_gzip_module', "--add-module=$addon");
system('rm', '-rf', $addon);

plan(tests => 4);

my $V = `$nginx -V 2>&1`;
unlike($V, qr/--with-compat/, 'binary: without --with-compat');
like($V, qr/--add-module=\Q$addon\E/, 'binary: with a static module');

my $m = module_for($nginx, $tarball);
ok($m->{rc} != 0 && $m->{out} =~ /built without --with-compat and with --add-module=\Q$addon\E, which is not here: its build cannot be reproduced/,
	'refused: the reason') or diag($m->{out});
unlike($m->{out}, qr/^configure:/m, 'refused before configuring');

###############################################################################
