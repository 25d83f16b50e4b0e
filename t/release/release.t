#!/usr/bin/perl

# The release folder (make release): every prebuilt .so is listed in SHA256SUMS and in the
# manifest with the signature nginx compares and its sha256; none needs a glibc symbol newer
# than 2.17 (and the same check fails on the same objects linked by the host's own linker:
# the control); each loads into a --with-compat nginx of its version built here (nginx -t); a
# module of one version is refused by another version's nginx, with nginx's own message; a
# second build in other directories gives the same bytes; no file carries a run path or a path
# of the build machine; every OpenResty file names its exact version. Every file is of the
# architecture its name says (x86_64, aarch64), and the aarch64 ones were compiled against an
# aarch64 configuration of their tree (struct stat as aarch64 has it); the floor check's
# control fails for aarch64's objects too. Every file serves glibc and musl (the manifest says
# so, and it names no library musl's loader is not: make test-release-all loads them there).
#
# TEST_SSE_RELEASE: the folder; TEST_SSE_RELEASE_WORK: its build trees (RELEASE_WORK);
# TEST_SSE_RELEASE_AGAIN: the folder of a second build (optional: the reproducibility test).

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;
use File::Temp qw/ tempdir /;
use Cwd ();

use FindBin;

###############################################################################

my $REPO = "$FindBin::Bin/../..";
my $dir = $ENV{TEST_SSE_RELEASE}
	or plan(skip_all => 'set TEST_SSE_RELEASE=<release folder> (make test-release)');
my $work = $ENV{TEST_SSE_RELEASE_WORK} || "$REPO/target/release-build";
-d $dir or BAIL_OUT("TEST_SSE_RELEASE: no folder $dir");

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

my $manifest = eval {
	local $/;
	open my $fh, '<', "$dir/manifest.json" or die "$!\n";
	decode_json(<$fh>);
};
my @files = $manifest ? @{$manifest->{files}} : ();
my @so = map { $_ =~ s{.*/}{}r } glob("$dir/*.so");

# the architecture of a file (x86_64, aarch64) and the suffix of its build folders there
sub arch { (($_[0]{arch} // 'x86_64') =~ /^([a-z0-9_]+?)-/)[0] // 'x86_64' }
sub suffix { arch($_[0]) eq 'x86_64' ? '' : '.' . arch($_[0]) }
my $HOST = `uname -m` =~ s/\s+//r;

# the binary each target loads into, where one was built here (another architecture's runs
# through qemu)
sub binary {
	my ($f) = @_;
	my $id = $f->{target} . suffix($f);
	return "$work/$id/prefix/nginx/sbin/nginx" if $f->{flavour} eq 'openresty';
	return "$work/$id/nginx-$f->{nginx_version}/objs/nginx"
		if $f->{source} !~ /^Debian /;
	# a Debian target: this host's nginx when it is that package (else in a root: t/release-root)
	my ($pkgver) = $f->{source} =~ /nginx-dev (\S+)$/;
	my $have = `dpkg-query -W -f='\${Version}' nginx 2>/dev/null`;
	return $pkgver && $have eq $pkgver && arch($f) eq $HOST ? '/usr/sbin/nginx' : undef;
}

my @loadable = grep { my $b = binary($_); $b && -x $b } @files;
my @openresty = grep { $_->{flavour} eq 'openresty' } @files;
my @cross = grep { arch($_) ne 'x86_64' && -f "$work/$_->{target}" . suffix($_) . '.bindings.rs' } @files;

plan(tests => 7 + 7 * @files + @loadable + @openresty + @cross);

###############################################################################

ok($manifest, 'manifest.json parses') or diag($@);
is_deeply([ sort map { $_->{file} } @files ], [ sort @so ], 'one manifest entry per .so');
my ($rc, $out) = sh("cd '$dir' && sha256sum -c SHA256SUMS");
is($rc, 0, 'SHA256SUMS checks every .so') or diag($out);

my %txt;
if (open my $fh, '<', "$dir/manifest.txt") {
	for (<$fh>) {
		next if /^#/;
		chomp;
		my @c = split /\t/;
		$txt{$c[2]} = \@c;
	}
}

for my $f (@files) {
	my $path = "$dir/$f->{file}";
	my $sum = (split ' ', `sha256sum '$path'`)[0] // '';
	is($sum, $f->{sha256}, "$f->{file}: sha256 as in the manifest");

	# the signature nginx compares at load_module is in the module's data
	my $strings = `strings -n 20 '$path'`;
	like($strings, qr/^\Q$f->{signature}\E$/m, "$f->{target}: signature $f->{signature}");

	($rc, $out) = sh("$REPO/scripts/build/glibc-floor.sh '$path'");
	is($rc, 0, "$f->{target}: nothing newer than GLIBC_2.17 ($f->{newest_glibc_symbol})")
		or diag($out);

	# nothing of the build machine: no run path (OpenResty's build adds LuaJIT's to every
	# link), no path of the build trees
	my $dyn = `readelf -d '$path' 2>&1`;
	my $abs = Cwd::abs_path($work) // $work;
	ok($dyn !~ /\((?:RPATH|RUNPATH)\)/ && index($strings . `strings -n 8 '$path'`, $abs) < 0,
		"$f->{target}: no run path, no build path") or diag(($dyn =~ /^(.*PATH.*)$/m)[0] // $abs);

	is_deeply($txt{$f->{file}}, [ $f->{flavour}, $f->{nginx_version}, $f->{file},
		$f->{signature}, $f->{sha256}, $f->{version_line}, $f->{arch},
		join(',', @{$f->{libc} // []}) ], "$f->{target}: manifest.txt says the same");

	# one file for glibc and musl (Alpine): it names no library but those musl's loader takes
	# as itself, not glibc's loader nor libgcc_s (what a module linked with Rust's std needs)
	my @needed = $dyn =~ /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g;
	my @alien = grep { !/^lib(c|dl|m|pthread|rt|util|xnet)\.so(\.\d+)*$/ } @needed;
	ok("@{$f->{libc} // []}" eq 'gnu musl' && !@alien,
		"$f->{target}: serves glibc and musl (needs " . join(' ', @needed) . ')')
		or diag("libc: @{$f->{libc} // []}; musl lacks: @alien");

	# the machine in the ELF header is the one the name and the manifest say
	my %machine = (x86_64 => 'Advanced Micro Devices X86-64', aarch64 => 'AArch64');
	my ($m) = `readelf -h '$path'` =~ /^\s*Machine:\s*(.*?)\s*$/m;
	ok($f->{file} =~ /-\Q$f->{arch}\E\.so$/ && ($m // '') eq ($machine{arch($f)} // '?'),
		"$f->{target}: an " . arch($f) . " file ($f->{arch})") or diag($m);
}

# what the aarch64 trees were compiled against is aarch64's: nginx-sys' bindings of each (the
# headers of that configure run) have aarch64's struct stat (nginx's ngx_file_info_t: st_mode
# before st_nlink, __pad1 and __pad2; x86_64's has __pad0) and aarch64's system calls

for my $f (@cross) {
	my $b = bindings("$work/$f->{target}" . suffix($f) . '.bindings.rs');
	my $stat = $b->{stat} // '';
	ok($stat =~ /st_mode\b.*st_nlink\b.*__pad1\b.*__pad2\b/s && $stat !~ /__pad0/
		&& ($b->{__NR_fstat} // '') =~ /=\s*80\s*;/,
		"$f->{target} ($f->{arch}): compiled against an aarch64 configuration (struct stat, fstat)")
		or diag("stat: $stat");
}

# the control: the same objects, linked by this host's own linker (and, for aarch64, by
# Debian's cross compiler: arm64 glibc 2.36), need a newer glibc

floor_control('control: a plain host link fails the check, naming the symbol',
	'cc', 'no release build tree here', "$work/cargo/release",
	grep { !m{\.aarch64/} } glob("$work/nginx-*/nginx-*"));
floor_control('control, aarch64: a plain cross link fails the check, naming the symbol',
	'aarch64-linux-gnu-gcc', 'no aarch64 release build tree here',
	"$work/cargo.aarch64/aarch64-unknown-linux-gnu/release", glob("$work/nginx-*.aarch64/nginx-*"));

sub floor_control {
	my ($name, $cc, $why, $libdir, @trees) = @_;
	SKIP: {
		my ($tree) = grep { -f "$_/objs/ngx_http_sse_auto_module_modules.o" } @trees;
		my $lib = "$libdir/libngx_http_sse_auto_module.a";
		skip $why, 1 unless $tree && -f $lib && `sh -c 'command -v $cc'`;

		my $tmp = tempdir('sse-release-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
		my ($rc, $out) = sh("$cc -shared -o $tmp/plain.so "
			. "$tree/objs/ngx_http_sse_auto_module_modules.o $lib -lpthread -ldl -lm -lgcc_s"
			. " && $REPO/scripts/build/glibc-floor.sh $tmp/plain.so");
		like($out, qr/^FAIL: \S+ needs \S+\@GLIBC_2\.(1[89]|[2-9]\d)/m, $name) or diag($out);
	}
}

# every OpenResty file names its exact version: its target, file name, both manifests, the
# version string it was built with (NGINX_VER of the bundle) and the binary it loaded into

for my $f (@openresty) {
	my $v = $f->{nginx_version};
	my $bin = binary($f);
	my @wrong = grep { $_ } (
		$f->{target} ne "openresty-$v" && "target $f->{target}",
		$f->{file} !~ /-openresty-\Q$v\E-/ && "file $f->{file}",
		$f->{version_line} ne "nginx version: openresty/$v" && "version line $f->{version_line}",
		(($txt{$f->{file}} // [])->[1] // '') ne $v && 'manifest.txt',
		`strings -n 8 '$dir/$f->{file}'` !~ m{openresty/\Q$v\E(?![\d.])} && 'built from another bundle',
		$bin && -x $bin && `$bin -v 2>&1` !~ m{openresty/\Q$v\E$}m && "binary $bin");
	ok(!@wrong, "$f->{target}: every name says openresty/$v") or diag(join(', ', @wrong));
}

# point releases on one nginx core: do they have the same structures? The check is what the
# module was compiled against: nginx-sys' bindings of each tree (release.sh keeps them beside
# the build), compared without their string constants (version, paths, configure line). Each
# release keeps a file of its own either way; this says whether one would serve both.
my %core;
push @{$core{ $_->{nginx_version} =~ s/\.\d+$//r }}, $_ for @openresty;
for my $c (sort keys %core) {
	my @g = grep { -f "$work/$_->{target}.bindings.rs" } @{$core{$c}};
	next if @g < 2;
	my %types = map { $_->{target} => bindings("$work/$_->{target}.bindings.rs") } @g;
	my $differ = sub {
		my ($a, $b) = @types{@_};
		return grep { ($a->{$_} // '') ne ($b->{$_} // '') } sort keys %{{ %$a, %$b }};
	};
	# releases with the same structures, together
	my @sets;
	for my $f (@g) {
		my ($set) = grep { !$differ->($_->[0]{target}, $f->{target}) } @sets;
		$set ? push(@$set, $f) : push(@sets, [$f]);
	}
	note(sprintf('OpenResty on nginx %s: %s', $c, join('; ', map {
		join(', ', map { $_->{nginx_version} } @$_) . (@$_ > 1 ? ': the same structures' : '') } @sets)));
	for my $i (1 .. $#sets) {
		my @diff = $differ->($sets[$i - 1][0]{target}, $sets[$i][0]{target});
		note(sprintf('  %s -> %s: %s', $sets[$i - 1][-1]{nginx_version}, $sets[$i][0]{nginx_version},
			join(', ', @diff[0 .. ($#diff > 5 ? 5 : $#diff)]) . (@diff > 6 ? ', ...' : '')));
	}
}

# nginx-sys' bindings as a map of item name -> definition, string constants left out
sub bindings {
	my ($file) = @_;
	open my $fh, '<', $file or return {};
	local $/;
	my $s = <$fh>;
	$s =~ s/pub\s+const\s+\w+\s*:\s*&\s*::\s*core\s*::\s*ffi\s*::\s*CStr\s*=\s*c"[^"]*"\s*;//g;
	my %items;
	while ($s =~ /^pub (?:struct|union|type|const|enum) (\w+)\b(.*?)(?=^pub |^#\[|\z)/msg) {
		$items{$1} .= $2;
	}
	return \%items;
}

# each loads into nginx of its version, and the check at load_module is nginx's own

sub nginx_t {
	my ($nginx, $so) = @_;
	my $tmp = tempdir('sse-release-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	chmod 0755, $tmp;
	mkdir "$tmp/logs";
	my $user = $> == 0 ? 'user root root;' : '';
	open my $fh, '>', "$tmp/nginx.conf" or die "$!\n";
	print $fh "load_module $so;\n$user\npid $tmp/nginx.pid;\nerror_log $tmp/error.log;\n"
		. "events { }\nhttp { access_log off; sse_auto on;\n"
		. join('', map { "  ${_}_temp_path $tmp/$_;\n" }
			qw/client_body proxy fastcgi uwsgi scgi/)
		. "}\n";
	close $fh;
	return sh("$nginx -t -p $tmp/ -c $tmp/nginx.conf");
}

for my $f (@loadable) {
	my $nginx = binary($f);
	($rc, $out) = nginx_t($nginx, "$dir/$f->{file}");
	ok($rc == 0 && $out =~ /test is successful/, "$f->{target}: loads into $nginx")
		or diag($out);
}

SKIP: {
	# a module and an nginx of another version: one built here, the host's, the suite's
	my $ver = sub { (`$_[0] -v 2>&1` =~ m{nginx version: \w+/(\S+)})[0] // '' };
	my @bins = grep { defined && -x } (map { binary($_) } @loadable), '/usr/sbin/nginx',
		$ENV{TEST_NGINX_BINARY};
	my ($f) = grep { $_->{flavour} eq 'nginx' && arch($_) eq $HOST } @files;
	my ($other) = $f ? grep { $ver->($_) ne $f->{nginx_version} } @bins : ();
	skip 'no nginx of another version here', 1 unless $other;

	($rc, $out) = nginx_t($other, "$dir/$f->{file}");
	like($out, qr/\[emerg\] (?:\d+#\d+: )?module "[^"]+" version \d+ instead of \d+/,
		"nginx " . $ver->($other) . " refuses the module of $f->{nginx_version}");
	note("what users see: $1") if $out =~ /(nginx: \[emerg\][^\n]*)/;
}

SKIP: {
	my $again = $ENV{TEST_SSE_RELEASE_AGAIN};
	skip 'no second build (TEST_SSE_RELEASE_AGAIN)', 1 unless $again;

	my $read = sub { local $/; open my $fh, '<', $_[0] or return ''; <$fh> };
	my ($one, $two) = ($read->("$dir/SHA256SUMS"), $read->("$again/SHA256SUMS"));
	ok($one ne '' && $one eq $two, 'reproducible: a second build in other directories, same bytes')
		or diag("first:\n$one\nsecond:\n$two");
}

###############################################################################
