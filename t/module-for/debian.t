#!/usr/bin/perl

# Tests for scripts/build/module-for.sh (make module-for) on Debian's own nginx (/usr/sbin/nginx):
# with no source given it takes the tree of that very package (nginx-dev), configures it with
# the binary's arguments, proves the module loads (nginx -t) and prints its path last; the
# stock binary then streams a plain proxy_pass site's events live with that module, and holds
# them with sse_auto off. Nothing of the system's nginx configuration is touched.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir("$FindBin::Bin/.."); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;
use Test::Nginx::ModuleFor qw/ module_for stream_conf /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $nginx = '/usr/sbin/nginx';

sub query_version {
	my ($pkg) = @_;
	my $v = `dpkg-query -W -f='\${Version}' $pkg 2>/dev/null`;
	return $? == 0 ? $v : '';
}

my $owner = `dpkg-query -S $nginx 2>/dev/null` =~ /^([^:]+):/ ? $1 : '';
plan(skip_all => "no Debian-packaged $nginx (apt-get install nginx nginx-dev)") unless $owner;
plan(skip_all => "nginx-dev of Debian's nginx " . query_version($owner) . ' not installed')
	unless query_version('nginx-dev') eq query_version($owner);

$Test::Nginx::NGINX = $nginx;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(8);

###############################################################################

my ($version) = `$nginx -v 2>&1` =~ m{nginx/([\d.]+)};

my $m = module_for($nginx);
is($m->{rc}, 0, 'module-for: exit 0') or diag($m->{out});
like($m->{out}, qr/^Debian package \Q$owner\E /m, 'module-for: sees Debian\'s binary');
like($m->{out}, qr{^source:  /usr/share/nginx/src \(nginx/\Q$version\E\)$}m,
	'module-for: builds against nginx-dev\'s tree');
like($m->{out}, qr/test is successful\n(?:.*\n)?\Q@{[ $m->{so} \/\/ 'none' ]}\E\n\z/,
	'module-for: nginx -t passed, then the path as the last line');
ok(!-e '/etc/nginx/modules-enabled/50-mod-http-sse-auto.conf'
	|| `dpkg-query -W -f='\${Status}' libnginx-mod-http-sse-auto 2>/dev/null` =~ /installed/,
	'module-for: nothing enabled in the system nginx');

SKIP: {
skip 'the module was not built (see above)', 3 unless $m->{so};

$t->write_file_expand('nginx.conf', stream_conf($m->{so}));
make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'Debian nginx: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'Debian nginx: downstream hint');
held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'Debian nginx: sse_auto off: control');
}

###############################################################################
