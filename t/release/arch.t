#!/usr/bin/perl

# sse-auto-install chooses the module by the architecture of the nginx binary it finds (its ELF
# header), not by the machine it runs on: in an arm64 root (--root, from this x86_64 host) it
# takes the aarch64 file of the release, here the x86_64 one. A folder with only the other
# architecture's file for that version is refused, in one line that names both, and nothing is
# copied (the root's files are byte for byte as before). (A musl-linked nginx: the installer
# in a musl root, t/release/musl-root.t.)
#
# TEST_SSE_RELEASE: the release folder (x86_64 and aarch64 files); TEST_SSE_ARM64_ROOT: an arm64
# Debian 12 root with its nginx (scripts/test/test-release.sh makes both). Runs as root (chroot).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;
use File::Copy qw/ copy /;

use FindBin;

###############################################################################

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my $dir = $ENV{TEST_SSE_RELEASE}
	or plan(skip_all => 'set TEST_SSE_RELEASE=<release folder> (make test-release)');
my $root = $ENV{TEST_SSE_ARM64_ROOT}
	or plan(skip_all => 'set TEST_SSE_ARM64_ROOT=<arm64 root> (make test-release)');
plan(skip_all => 'chroot into the root: run as root') unless $> == 0;
-x "$root/usr/sbin/nginx" or BAIL_OUT("TEST_SSE_ARM64_ROOT: no $root/usr/sbin/nginx");
plan(skip_all => 'no nginx at /usr/sbin/nginx here') unless -x '/usr/sbin/nginx';

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

my ($rootver) = `chroot '$root' /usr/sbin/nginx -v 2>&1` =~ m{nginx/(\S+)};
my ($hostver) = `/usr/sbin/nginx -v 2>&1` =~ m{nginx/(\S+)};
my $host = `uname -m` =~ s/\s+//r;
plan(skip_all => "this host is $host: the test is for an x86_64 host") unless $host eq 'x86_64';

my %need = map { $_ => 1 } ("$rootver-aarch64", "$hostver-x86_64");
my @lines = grep { !/^#/ } do { open my $fh, '<', "$dir/manifest.txt" or die "$!\n"; <$fh> };
for (@lines) {
	my ($v, $file) = (split /\t/)[1, 2];
	delete $need{"$v-$1"} if $file =~ /-(\w+)-linux-gnu\.so$/;
}
plan(skip_all => 'the release has no ' . join(' or ', sort keys %need) . ' file') if %need;

plan(tests => 7);

# a release folder with the lines (and files) of one architecture only
sub only {
	my ($arch) = @_;
	my $d = tempdir('sse-arch-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	open my $in, '<', "$dir/manifest.txt" or die "$!\n";
	open my $out, '>', "$d/manifest.txt" or die "$!\n";
	while (<$in>) {
		my $file = (split /\t/)[2];
		next unless /^#/ || $file =~ /-\Q$arch\E-linux-gnu\.so$/;
		print $out $_;
		copy("$dir/$file", "$d/$file") or die "$file: $!\n" unless /^#/;
	}
	close $out;
	return $d;
}

# what the installer could change in the root: the modules, the configuration, the packages
sub state {
	my ($r) = @_;
	return scalar `cd '$r' && find etc/nginx usr/lib/nginx var/lib/dpkg/status -type f 2>/dev/null \\
		| sort | xargs sha256sum`;
}

###############################################################################

# the right file, chosen by the binary

my ($rc, $out) = sh("$INSTALL --root '$root' --from '$dir' --dry-run");
like($out, qr/module: \S+-nginx-\Q$rootver\E-aarch64-linux-gnu\.so \(for nginx\/\Q$rootver\E on aarch64/,
	"arm64 root from this x86_64 host: the aarch64 file of $rootver") or diag($out);

($rc, $out) = sh("$INSTALL --nginx /usr/sbin/nginx --from '$dir' --dry-run");
like($out, qr/module: \S+-nginx-\Q$hostver\E-x86_64-linux-gnu\.so \(for nginx\/\Q$hostver\E on x86_64/,
	"this host's nginx: the x86_64 file of $hostver") or diag($out);

# the other architecture's file only: refused, with the reason, nothing copied

my $x86 = only('x86_64');
my $before = state($root);
($rc, $out) = sh("$INSTALL --root '$root' --from '$x86'");
isnt($rc, 0, 'arm64 nginx, x86_64 files only: refused');
like($out, qr/has nginx\/\Q$rootver\E for x86_64-linux-gnu only, and \S+ is aarch64-linux-gnu/,
	'the reason names both architectures') or diag($out);
is(state($root), $before, 'nothing in the root changed');

my $arm = only('aarch64');
($rc, $out) = sh("$INSTALL --nginx /usr/sbin/nginx --from '$arm' --dry-run");
ok($rc != 0 && $out !~ /would:/, 'x86_64 nginx, aarch64 files only: refused before any step')
	or diag($out);
like($out, qr/has nginx\/\Q$hostver\E for aarch64-linux-gnu only, and \S+ is x86_64-linux-gnu/,
	'the reason names both architectures') or diag($out);

###############################################################################
