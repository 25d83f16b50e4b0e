#!/usr/bin/perl

# Tests for sse_auto: early hints (early_hints, nginx 1.29.0 and later). An upstream sends
# "103 Early Hints" with a Link header before its event stream: the 103 reaches the client as
# it came (it goes through nginx's early hints filters, not the header filters), and the
# stream that follows still switches. Over TLS HTTP/1.1 and HTTP/2, each with its sse_auto off
# control (held: a close-delimited upstream is held for both by stock nginx).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl http_v2/)
	->has_daemon('openssl')->has_daemon('curl');

plan(skip_all => 'early hints (early_hints) need nginx 1.29.0 or later')
	unless $t->has_version('1.29.0');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8443 ssl;
        http2        on;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        early_hints 1;
        proxy_http_version 1.1;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(12);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $LINK = '</style.css>; rel=preload; as=style';
my $q = query(hints => 1);

# the interim response curl printed before the final one: status and Link header

sub hints {
	my ($r) = @_;
	my ($block) = ($r->{raw} // '') =~ m{\A(HTTP/[\d.]+ 103\b.*?)\x0d?\x0a\x0d?\x0a}s
		or return 'none';
	my ($link) = $block =~ /^link:\s*([^\x0d\x0a]*)/im;
	return '103 ' . ($link // 'no link');
}

for my $h2 (0, 1) {
	my $p = $h2 ? 'HTTP/2' : 'HTTP/1.1';
	my $r = sse_get("/events$q", ssl => 1, http2 => $h2, port => port(8443));

	is(hints($r), "103 $LINK", "$p: 103 passed unchanged");
	is($r->{status}, 200, "$p: final status");
	streams_ok($r, "$p: events after the 103 arrive live");
	is($r->{headers}{'x-accel-buffering'}, 'no', "$p: downstream hint");

	$r = sse_get("/off/events$q", ssl => 1, http2 => $h2, port => port(8443));
	is(hints($r), "103 $LINK", "$p: sse_auto off: 103 passed too");
	held_ok($r, "$p: sse_auto off: control");
}

###############################################################################
