#!/usr/bin/perl

# Tests for sse-auto-install in an OpenResty installation (prefix layout, no modules-enabled
# folder): it adds a marked load_module line at the top of the main nginx.conf, proves it with
# nginx -t, reloads the running OpenResty, and an event stream through its proxy_pass is live;
# --uninstall leaves nginx.conf byte-identical and the stream is held again (the control, as
# before installing). The release folder is made here from the module built against that
# very OpenResty tree (a matrix entry's: openresty-1.31 in CI): its manifest line, sha256 and
# signature as make release writes them.
#
# TEST_SSE_OPENRESTY_PREFIX: an OpenResty prefix (bin in nginx/sbin, module in nginx/modules,
# as scripts/build/openresty.sh --prefix installs it). Its nginx.conf is replaced for the test and
# put back at the end.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Temp qw/ tempdir /;
use Time::HiRes qw/ sleep /;

use FindBin;
use lib "$FindBin::Bin/../lib";

my $prefix;
BEGIN {
	$prefix = $ENV{TEST_SSE_OPENRESTY_PREFIX} // '';
	$ENV{TEST_NGINX_BINARY} = "$prefix/nginx/sbin/nginx" if $prefix;
}

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

plan(skip_all => 'set TEST_SSE_OPENRESTY_PREFIX=<OpenResty prefix> (make test-install)')
	unless $prefix;
my $bin = "$prefix/nginx/sbin/nginx";
my $so = "$prefix/nginx/modules/ngx_http_sse_auto_module.so";
my $conf = "$prefix/nginx/conf/nginx.conf";
plan(skip_all => "no OpenResty with the module at $prefix") unless -x $bin && -f $so;

my $INSTALL = "$FindBin::Bin/../../packaging/sse-auto-install";
my ($MAIN, $armed, $cleaned) = ($$, 0, 0);

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(13);
my $d = $t->testdir();
my ($listen, $backend) = (port(8443), port(8081));

make_cert($t);
$t->run_daemon(\&sse_daemon, $backend);
$t->waitforsocket("127.0.0.1:$backend") or die "no SSE backend\n";

# the release folder: the module, moved out of the modules folder the installer fills

my $from = "$d/release";
mkdir $from;
my ($ver) = `$bin -v 2>&1` =~ m{openresty/(\S+)};
my $file = "ngx_http_sse_auto_module-test-openresty-$ver-x86_64-linux-gnu.so";
system('mv', $so, "$from/$file") == 0 or die "cannot move $so\n";
my $sig = (`grep -a -o -E '[0-9]+,[0-9]+,[0-9]+,[01]{30,}' $from/$file` =~ /^(\S+)/)[0];
my $sum = (split ' ', `sha256sum $from/$file`)[0];
write_text("$from/manifest.txt", "openresty\t$ver\t$file\t$sig\t$sum\tnginx version: openresty/$ver\n");

system('cp', '-p', $conf, "$d/nginx.conf.orig") == 0 or die "cannot save $conf\n";
$armed = 1;

write_text($conf, <<"EOF");
# written by t/install/openresty.t, put back when it ends
pid $d/openresty.pid;
error_log $d/error.log;
events {
}
http {
    access_log off;
    server {
        listen       127.0.0.1:$listen ssl;
        server_name  localhost;
        ssl_certificate      $d/localhost.crt;
        ssl_certificate_key  $d/localhost.key;
        location / {
            proxy_pass http://127.0.0.1:$backend;
        }
    }
}
EOF
my $before = sha($conf);

my ($rc, $out) = sh("$bin -c $conf");
$rc == 0 or die "OpenResty did not start:\n$out";
$t->waitforsocket("127.0.0.1:$listen") or die "OpenResty does not listen on $listen\n";

###############################################################################

held_ok(get(), 'before install: events held');

($rc, $out) = sh("$INSTALL --nginx $bin --from $from");
is($rc, 0, 'install') or diag($out);
(my $load = $so) =~ s/\.so$/.load/;
(my $glob = $so) =~ s/\.so$/[.]load/;
like($out, qr/enable it: 'include \Q$glob\E;' at the top of \Q$conf\E/,
	'enabled by an include glob at the top of nginx.conf');
like($out, qr/reloaded: \S+ -s reload/, 'the running OpenResty reloaded');
my @lines = split /\n/, read_text($conf);
like($lines[0], qr/^# sse_auto: added by sse-auto-install/, 'the line is marked');
is($lines[1], "include $glob;", 'and includes the load line next to the module');
like(read_text($load) // '', qr/^load_module \Q$so\E;$/m, 'which loads it');

sleep(1);
streams_ok(get_live(), 'installed: events arrive live', ms => 50);

my $installed = sha($conf);
($rc, $out) = sh("$INSTALL --nginx $bin --from $from");
ok($rc == 0 && sha($conf) eq $installed && $out =~ /nothing to do/, 'twice: nothing changed')
	or diag($out);

($rc, $out) = sh("$INSTALL --nginx $bin --uninstall");
is($rc, 0, 'uninstall') or diag($out);
is(sha($conf), $before, 'uninstalled: nginx.conf byte-identical');
ok(!-e $so && !-e $load, 'uninstalled: module and load line gone');
sleep(1);
held_ok(get(), 'uninstalled: events held again');

###############################################################################

cleanup();
undef $t;

sub cleanup {
	return if !$armed || $cleaned++ || $$ != $MAIN;
	sh("$bin -c $conf -s stop") if -f "$d/openresty.pid";
	for (1 .. 50) { last unless -f "$d/openresty.pid"; sleep(0.1); }
	system('cp', '-p', "$d/nginx.conf.orig", $conf);
	system('mv', "$from/$file", $so) if -f "$from/$file";
}

END {
	local $?;
	cleanup();
}

sub sha { return (split ' ', `sha256sum '$_[0]'`)[0] // ''; }

sub get {
	my $r = sse_get('/events', ssl => 1, port => $listen);
	note(summary($r));
	return $r;
}

sub get_live {
	my $r;
	for (1 .. 3) {
		$r = get();
		last if live($r, ms => 50);
	}
	return $r;
}

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

sub read_text {
	my ($file) = @_;
	open my $fh, '<', $file or return undef;
	local $/;
	return scalar <$fh>;
}

sub write_text {
	my ($file, $content) = @_;
	open my $fh, '>', $file or die "Can't write $file: $!\n";
	print $fh $content;
	close $fh;
}

###############################################################################
