#!/usr/bin/perl

# Soft streaming latency: how late each chunk of a buffered response without a length reaches
# the client, with sse_auto_soft on and off, over TLS (HTTP/1.1 and HTTP/2). A line every
# 300 ms from the test upstream; ROUNDS runs per case (default 20).
#
#   TEST_NGINX_BINARY=... TEST_NGINX_GLOBALS="load_module ...;" perl bench/soft_lag.pl [rounds]
#
# Prints one line per case: median and max lateness per chunk, in ms.

use warnings;
use strict;

BEGIN { use FindBin; chdir("$FindBin::Bin/../t"); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

my $rounds = shift // 20;

my $t = Test::Nginx->new();
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

        location /           { proxy_pass http://127.0.0.1:8081; }
        location /off/       { sse_auto_soft off; proxy_pass http://127.0.0.1:8081; }
        location /chunked/   { proxy_http_version 1.1; proxy_pass http://127.0.0.1:8081; }
        location /chunked/off/ {
            sse_auto_soft off; proxy_http_version 1.1; proxy_pass http://127.0.0.1:8081;
        }
        location /gzip/      { gzip on; gzip_min_length 0; proxy_pass http://127.0.0.1:8081; }
        location /gzip/off/  {
            sse_auto_soft off; gzip on; gzip_min_length 0; proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run();
$t->waitforsocket('127.0.0.1:' . port(8081));

my $q = query(ct => 'text/html', fmt => 'line', n => 5, gap => 300);

my @cases = (
	[ 'close-delimited, TLS HTTP/1.1', '/page', {} ],
	[ 'chunked, TLS HTTP/1.1', '/chunked/page', { chunked => 1 } ],
	[ 'close-delimited, HTTP/2', '/page', { http2 => 1 } ],
	[ 'gzip, TLS HTTP/1.1', '/gzip/page', { gzip => 1 } ],
);

printf "%-32s %-4s %8s %8s %8s\n", 'case', 'soft', 'chunks', 'median', 'max';

for my $case (@cases) {
	my ($name, $uri, $o) = @$case;
	for my $soft ('on', 'off') {
		my $path = $soft eq 'on' ? $uri : ($uri eq '/page' ? '/off/page'
			: $uri =~ s{/page$}{/off/page}r);
		my $query = $o->{chunked} ? "$q&chunked=1" : $q;
		my @d;
		for (1 .. $rounds) {
			my $r = sse_get("$path$query", ssl => 1, port => port(8443),
				http2 => $o->{http2}, gzip => $o->{gzip});
			push @d, map { $_->{delay_ms} } @{$r->{records}};
		}
		@d = sort { $a <=> $b } @d;
		printf "%-32s %-4s %8d %8.0f %8.0f\n", $name, $soft, scalar @d,
			$d[$#d / 2] // -1, $d[-1] // -1;
	}
}

$t->stop();
