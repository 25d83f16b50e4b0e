#!/usr/bin/perl

# A prebuilt module of the release (make release) in a distribution's own nginx: run inside a
# root of that release (scripts/test/test-release.sh: Debian 11 with its nginx 1.18.0, Debian 13
# with its 1.26.3), where the module was not built; and in a --with-compat nginx of each release
# built from nginx's tag (scripts/test/test-release-all.sh). nginx -t passes with it loaded, and an
# existing site's plain proxy_pass streams events live, each within 50 ms; the same location
# with "sse_auto off" holds them (the control; TLS downstream, which holds on every nginx).
#
# TEST_NGINX_BINARY: the distribution's (or a release's) nginx; TEST_SSE_RELEASE_SO: the
# release's .so for it.

###############################################################################

use warnings;
use strict;

use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $so = $ENV{TEST_SSE_RELEASE_SO};
plan(skip_all => 'set TEST_SSE_RELEASE_SO=<a release .so> (scripts/test/test-release.sh)')
	unless $so;
-f $so or BAIL_OUT("TEST_SSE_RELEASE_SO: no file $so");

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl')->plan(6);

# the one line a user adds; the distribution's other dynamic modules are not needed here
$t->write_file_expand('nginx.conf', <<"EOF");

load_module $so;

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate     localhost.crt;
        ssl_certificate_key localhost.key;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->waitforsocket('127.0.0.1:' . port(8081)) or die "no SSE backend\n";

###############################################################################

my $v = `$Test::Nginx::NGINX -V 2>&1`;
like($v, qr/--with-compat/, 'a --with-compat nginx: ' . (split /\n/, $v)[0]);

my $d = $t->testdir();
my $e = $t->has_version('1.19.5') ? '-e error.log' : '';
mkdir "$d/logs";
like(`$Test::Nginx::NGINX -t -p $d/ -c nginx.conf $e 2>&1`, qr/test is successful/,
	'nginx -t with the release module loaded');

$t->run();

my $q = '?n=4&gap=300&ct=text/event-stream';
my $on = sse_get("/events$q", port => port(8443), ssl => 1);
my $off = sse_get("/off/events$q", port => port(8443), ssl => 1);

my $worst = sub {
	my ($r) = @_;
	my @ms = map { $_->{delay_ms} } @{$r->{records}};
	return @ms == 4 ? (sort { $b <=> $a } @ms)[0] : 1e9;
};

is(scalar @{$on->{records}}, 4, 'all events arrive');
cmp_ok($worst->($on), '<', 50, 'live: every event within 50 ms (worst '
	. sprintf('%.1f', $worst->($on)) . ' ms)');
is(scalar @{$off->{records}}, 4, 'sse_auto off: all events arrive');
cmp_ok($worst->($off), '>=', 50, 'control, sse_auto off: held (worst '
	. sprintf('%.1f', $worst->($off)) . ' ms)');

###############################################################################
