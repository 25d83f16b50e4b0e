#!/usr/bin/perl

# Self test of Test::Nginx against a real nginx, written like an nginx-tests
# test file: %%TEST_GLOBALS%% / %%TEST_GLOBALS_HTTP%% / %%PORT_n%% /
# %%TESTDIR%% expansion, a run_daemon() Perl backend behind proxy_pass,
# SSL, chunked and gzipped responses, reload and stop.

###############################################################################

use warnings;
use strict;

use Test::More;

use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib", "$FindBin::Bin/../lib"; }

use POSIX qw//;
use SelfTest;			# picks TEST_NGINX_BINARY, before Test::Nginx
use Test::Nginx qw/ :DEFAULT :gzip http_start http_end http_content /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# composed into %%TEST_GLOBALS%% and %%TEST_GLOBALS_HTTP%%
$ENV{TEST_NGINX_GLOBALS} = 'env SELFTEST_MARKER=1;';
$ENV{TEST_NGINX_GLOBALS_HTTP} = 'add_header X-Globals-Http yes always;';

my $t = Test::Nginx->new()->has(qw/http proxy rewrite gzip http_ssl/)
	->has(qw/socket_ssl/)->has_daemon('openssl');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    resolver 127.0.0.1:%%PORT_8980_UDP%%;

    server {
        listen       127.0.0.1:8080;
        listen       127.0.0.1:%%PORT_8443%% ssl;
        server_name  localhost;

        ssl_certificate     localhost.crt;
        ssl_certificate_key localhost.key;

        location / {
            return 200 "hello";
        }

        location /proxy/ {
            proxy_pass http://127.0.0.1:%%PORT_8081%%;
        }

        location /gzip {
            gzip on;
            gzip_min_length 0;
            gzip_types text/plain;
            return 200 "compressible compressible compressible";
        }

        location /files/ {
            alias %%TESTDIR%%/files/;
        }
    }
}

EOF

my $d = $t->testdir();

system('openssl req -x509 -new -newkey rsa:2048 -nodes -days 1 '
	. "-subj /CN=localhost/ -out $d/localhost.crt -keyout $d/localhost.key "
	. ">>$d/openssl.out 2>&1") == 0
	or die "Can't create certificate: $!\n";

mkdir("$d/files") or die "Can't create $d/files: $!\n";
$t->write_file('files/static.txt', 'static content');

$t->run_daemon(\&backend, port(8081));
$t->waitforsocket('127.0.0.1:' . port(8081)) or die "no backend";

$t->plan(30)->run();

###############################################################################

# environment

ok($t->has_version('1.19.5'), 'has_version old');
ok(!$t->has_version('999.0'), 'has_version future');
ok($t->has_module('http') && !$t->has_module('no_such_module_xyz'),
	'has_module');

# OpenResty's version line names the nginx core as its first three
# components (upstream's library reads only "nginx/")
SKIP: {
	skip 'upstream library', 1 unless SelfTest::is_ours();

	my $or = bless { _configure_args =>
		"nginx version: openresty/1.27.1.2\nbuilt by gcc 12.2.0\n" },
		'Test::Nginx';
	ok($or->has_version('1.27.1') && $or->has_version('1.25.1')
		&& !$or->has_version('1.27.2') && !$or->has_version('1.28'),
		'has_version openresty');
}

# Tengine says its own version first, then the nginx core's; upstream's library reads the
# second line as well
{
	my $tg = bless { _configure_args => "Tengine version: Tengine/3.1.0\n"
		. "nginx version: nginx/1.24.0\nbuilt by gcc 12.2.0\n" }, 'Test::Nginx';
	ok($tg->has_version('1.24.0') && $tg->has_version('1.19.5')
		&& !$tg->has_version('1.24.1') && !$tg->has_version('3.1'),
		'has_version tengine: the nginx core');
}

# expansion

my $conf = $t->read_file('nginx.conf');
my $p = port(8080);

ok($p == port(8080) && $p != port(8081) && $p != port(8443), 'port map');
ok(index($conf, "listen       127.0.0.1:$p;") >= 0
	&& index($conf, "127.0.0.1:" . port(8443) . " ssl;") >= 0
	&& index($conf, "proxy_pass http://127.0.0.1:" . port(8081) . ";") >= 0
	&& $conf !~ /%%/, 'ports expanded');
like($conf, qr/^pid \Q$d\E\/nginx\.pid;\nerror_log \Q$d\E\/error\.log debug;\nenv SELFTEST_MARKER=1;/m,
	'test globals');
like($conf, qr/^\s*proxy_temp_path \Q$d\E\/proxy_temp;/m,
	'test globals http');
like($conf, qr!alias \Q$d\E/files/;!, 'testdir expanded');

# UDP port: reserved by holding TCP; socket => 1 returns that socket
my $u = port(8980, udp => 1);
like($conf, qr/resolver 127\.0\.0\.1:$u;/, 'udp port expanded');
is(port(8980, socket => 1)->sockport(), $u, 'port socket');

ok($t->has_feature('openssl:1.0.2') && !$t->has_feature('openssl:99.0'),
	'has_feature openssl version');

my $pid = fork() // die "fork: $!";
POSIX::_exit(0) if $pid == 0;
is($t->waitforfile("$d/no-such-file", $pid), 0, 'waitforfile exited');

# requests

like(http_get('/'), qr/^HTTP\/1\.1 200 OK\x0d\x0a.*\x0d\x0a\x0d\x0ahello$/s,
	'http_get');
like(http_get('/'), qr/^X-Globals-Http: yes\x0d$/m, 'globals http applied');
like(http_head('/'), qr/^HTTP\/1\.1 200 OK.*\x0d\x0a\x0d\x0a$/s, 'http_head');
SKIP: {
	# upstream leaves the directory 0700, workers run as nobody as root
	skip 'testdir not accessible to nginx workers', 1
		if $> == 0 && ((stat $d)[2] & 0005) != 0005;

	like(http_get('/files/static.txt'),
		qr/\x0d\x0a\x0d\x0astatic content$/, 'static file');
}

like(http_get('/proxy/x'), qr/backend: GET \/proxy\/x body \[\]$/,
	'proxy to run_daemon backend');

like(http(<<EOF, body => 'abc', sleep => 0.1),
POST /proxy/post HTTP/1.0
Host: localhost
Content-Length: 3

EOF
	qr/backend: POST \/proxy\/post body \[abc\]$/, 'http with body');

my $s = http_get('/', start => 1);
ok(ref $s && $s->can('getline'), 'start returns socket');
like(http_end($s), qr/hello$/, 'http_end');

like(http_get('/', SSL => 1), qr/^HTTP\/1\.1 200 .*hello$/s, 'ssl');

is(http_get('/', PeerAddr => '127.0.0.1:1'), undef, 'connect error undef');

# chunked: backend has no length, HTTP/1.1 client gets chunked

my $r = http(<<EOF);
GET /proxy/nolength HTTP/1.1
Host: localhost
Connection: close

EOF

like($r, qr/^Transfer-Encoding: chunked/mi, 'chunked response');
is(http_content($r), 'first part, second part', 'http_content chunked');
is(http_content("HTTP/1.1 200 OK\x0d\x0aTransfer-Encoding: chunked\x0d\x0a\x0d\x0a"
	. "3\x0d\x0aabc\x0d\x0a"), 'abc[no-last-chunk]', 'http_content truncated');

http_gzip_like(http_gzip_request('/gzip'), qr/^(compressible ){2}compressible$/,
	'http_gzip_like');

# reload picks up a rewritten configuration

$conf =~ s/return 200 "hello"/return 200 "reloaded"/;
$t->write_file('nginx.conf', $conf);
$t->reload();

my $reloaded;
for (1 .. 50) {
	last if ($reloaded = http_get('/')) =~ /reloaded$/;
	select undef, undef, undef, 0.1;
}
like($reloaded, qr/reloaded$/, 'reload');

like($t->dump_config(), qr/return 200 "reloaded";/, 'dump_config');

###############################################################################

# HTTP/1.0 backend: echoes method, URI and body; /proxy/nolength is sent
# in two parts without Content-Length

sub backend {
	my ($port) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => "127.0.0.1:$port",
		Listen => 5,
		ReuseAddr => 1,
	)
		or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';

	while (my $client = $server->accept()) {
		$client->autoflush(1);

		my $headers = '';
		while (<$client>) {
			$headers .= $_;
			last if /^\x0d?\x0a?$/;
		}

		# e.g. the waitforsocket() probe
		next if $headers eq '';

		my ($method, $uri) = $headers =~ /^(\S+) (\S+)/;
		my ($length) = $headers =~ /^Content-Length: (\d+)/mi;

		my $body = '';
		$client->read($body, $length) if $length;

		print $client "HTTP/1.0 200 OK\x0d\x0a"
			. "Content-Type: text/plain\x0d\x0a\x0d\x0a";

		if ($uri eq '/proxy/nolength') {
			print $client 'first part, ';
			select undef, undef, undef, 0.1;
			print $client 'second part';

		} else {
			print $client "backend: $method $uri body [$body]";
		}

		close $client;
	}
}

###############################################################################
