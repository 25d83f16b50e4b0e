#!/usr/bin/perl

# scripts/release/fetch-sources.sh, against local copies of the origins: the release-trees
# bundle for nginx's repository, ../shared/sources for OpenResty's download folder, with the
# lock of those copies (t/release/sources-local.lock). Everything pinned passes; a wrong
# sha256 or a wrong tree stops it with one line naming the file, the pin and what was found,
# and leaves nothing unchecked behind; an unpinned file is refused unless allowed. The
# project's own lock pins every nginx tag to the bundle's trees, and refuses the local
# OpenResty copies, which are not OpenResty's own tarballs.
#
# SSE_SOURCES: the folder of the copies (default ../shared/sources).

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;

use FindBin;

###############################################################################

my $REPO = "$FindBin::Bin/../..";
my $SRC = $ENV{SSE_SOURCES} || "$REPO/../shared/sources";
my $BUNDLE = "$SRC/nginx-release-trees.bundle";
my $FETCH = "$REPO/scripts/release/fetch-sources.sh";
my $LOCAL = "$FindBin::Bin/sources-local.lock";

plan(skip_all => "no $BUNDLE (SSE_SOURCES=)") unless -f $BUNDLE;
plan(skip_all => "no $SRC/openresty-1.27.1.2.tar.gz") unless -f "$SRC/openresty-1.27.1.2.tar.gz";
plan(tests => 17);

sub fetch {
	my ($out, %env) = @_;
	local $ENV{SSE_FETCH_NGINX} = $BUNDLE;
	local $ENV{SSE_FETCH_OPENRESTY} = "file://$SRC";
	local $ENV{SSE_FETCH_LOCK} = $LOCAL;
	local @ENV{keys %env} = values %env;
	defined $ENV{$_} or delete $ENV{$_} for keys %env;
	my $text = `$FETCH $out 2>&1`;
	return ($? >> 8, $text);
}

# a copy of a lock with one line changed
sub lock_with {
	my ($from, $re, $to) = @_;
	open my $fh, '<', $from or die "$!\n";
	my $s = do { local $/; <$fh> };
	$s =~ s/$re/$1$to/ or die "no $re in $from\n";
	my $file = tempdir(CLEANUP => 1) . '/sources.lock';
	open my $w, '>', $file or die "$!\n";
	print $w $s;
	close $w;
	return $file;
}

sub tree {
	my ($git, $tag) = @_;
	my $t = `git -C $git rev-parse -q --verify '$tag^{tree}' 2>/dev/null`;
	chomp $t;
	return $t;
}

my %pin = map { (split)[1] => ((split)[4] =~ s/^tree=//r) } grep { /^nginx / } do {
	open my $fh, '<', $LOCAL or die "$!\n"; <$fh> };

###############################################################################

# local origins: nginx's tags and an OpenResty bundle, each as pinned
my $out = tempdir(CLEANUP => 1);
my ($rc, $text) = fetch($out, SSE_FETCH_ONLY => 'nginx-1.18.0 nginx-1.26.2 openresty-1.27.1.2');
is($rc, 0, 'pinned sources from local origins: fetched') or diag($text);
is(tree("$out/nginx.git", 'release-1.26.2'), $pin{'1.26.2'}, 'release-1.26.2 has the pinned tree');
ok(-f "$out/openresty-1.27.1.2.tar.gz", 'openresty-1.27.1.2.tar.gz is there');

# again: what is there is checked, not fetched
($rc, $text) = fetch($out, SSE_FETCH_ONLY => 'nginx-1.26.2 openresty-1.27.1.2');
ok($rc == 0 && $text !~ /tags from|file:/, 'a second run checks what it has') or diag($text);

# a wrong checksum stops it, with a line naming the file, the pin and the sha256 found
my $bad = lock_with($LOCAL, qr/^(openresty 1\.27\.1\.2 \S+ sha256=)[0-9a-f]/m, "0");
my $out2 = tempdir(CLEANUP => 1);
($rc, $text) = fetch($out2, SSE_FETCH_LOCK => $bad, SSE_FETCH_ONLY => 'openresty-1.27.1.2');
is($rc, 1, 'a wrong sha256: the fetch fails');
like($text, qr/openresty-1\.27\.1\.2\.tar\.gz: sha256 [0-9a-f]{64}, the lock pins 0[0-9a-f]{63} \(removed\)/,
	'a wrong sha256: one line says which file, what was found and what is pinned') or diag($text);
ok(!-e "$out2/openresty-1.27.1.2.tar.gz", 'a wrong sha256: the file is not left behind');

# the same file already in the folder is checked again against a changed lock
($rc, $text) = fetch($out, SSE_FETCH_LOCK => $bad, SSE_FETCH_ONLY => 'openresty-1.27.1.2');
ok($rc == 1 && !-e "$out/openresty-1.27.1.2.tar.gz", 'a file already there fails a changed pin too');

# a wrong tree: not nginx's release, whatever the tag is called
$bad = lock_with($LOCAL, qr/^(nginx 1\.20\.1 \S+ \S+ tree=)[0-9a-f]/m, "0");
($rc, $text) = fetch($out2, SSE_FETCH_LOCK => $bad, SSE_FETCH_ONLY => 'nginx-1.20.1');
is($rc, 1, 'a wrong tree: the fetch fails');
like($text, qr/nginx 1\.20\.1: tag release-1\.20\.1 has tree [0-9a-f]{40}, the lock pins 0[0-9a-f]{39}/,
	'a wrong tree: one line says which tag and both trees') or diag($text);
is(tree("$out2/nginx.git", 'release-1.20.1'), '', 'a wrong tree: the tag is removed');

# unpinned: refused unless allowed, and then said with its sha256
my $unpinned = lock_with($LOCAL, qr/^(openresty 1\.29\.2\.5 \S+ sha256=)\S+/m, "unpinned");
($rc, $text) = fetch($out2, SSE_FETCH_LOCK => $unpinned, SSE_FETCH_ONLY => 'openresty-1.29.2.5');
ok($rc == 1 && $text =~ /openresty-1\.29\.2\.5\.tar\.gz is not pinned/ && !-e "$out2/openresty-1.29.2.5.tar.gz",
	'an unpinned file is refused') or diag($text);
($rc, $text) = fetch($out2, SSE_FETCH_LOCK => $unpinned, SSE_FETCH_ONLY => 'openresty-1.29.2.5',
	SSE_FETCH_UNPINNED => 'allow');
ok($rc == 0 && $text =~ /fetched with sha256 [0-9a-f]{64} \(pin it there\)/,
	'SSE_FETCH_UNPINNED=allow fetches it and prints its sha256') or diag($text);

# a lock that names no origin needs one
($rc, $text) = fetch($out2, SSE_FETCH_NGINX => undef, SSE_FETCH_ONLY => 'nginx-1.18.0');
ok($rc == 2 && $text =~ /names no origin/, 'no origin: said, nothing fetched') or diag($text);

# the project's lock: every nginx tag of the bundle has its pinned tree (69 releases)
my $out3 = tempdir(CLEANUP => 1);
($rc, $text) = fetch($out3, SSE_FETCH_LOCK => "$REPO/scripts/release/sources.lock",
	SSE_FETCH_ONLY => join(' ', map { "nginx-$_" } sort keys %pin));
is($rc, 0, 'the project\'s lock: ' . (keys %pin) . ' nginx tags, each with its pinned tree') or diag($text);
is(scalar(() = `git -C $out3/nginx.git tag`), 69, 'every release 1.18.0 ... 1.31.4');

# and it refuses the local OpenResty copy, which is not OpenResty's tarball
($rc, $text) = fetch($out3, SSE_FETCH_LOCK => "$REPO/scripts/release/sources.lock",
	SSE_FETCH_ONLY => 'openresty-1.27.1.2');
ok($rc == 1 && $text =~ /the lock pins 74f076f7/, 'the project\'s lock refuses an OpenResty bundle '
	. 'assembled elsewhere') or diag($text);

###############################################################################
