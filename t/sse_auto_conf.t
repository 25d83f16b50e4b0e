#!/usr/bin/perl

# Tests for sse_auto: "sse_auto" inherits like any nginx flag (http, server, location, if);
# "sse_auto_types" replaces the default list of stream media types, and is replaced, not
# merged, by inner levels.

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

my $t = Test::Nginx->new()->has(qw/http proxy rewrite http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # what is a stream, and what is left alone: soft streaming of buffered responses
    # without a length is t/sse_auto_soft.t's
    sse_auto_soft off;

    ssl_certificate      localhost.crt;
    ssl_certificate_key  localhost.key;

    sse_auto off;

    # inherits "off" from http
    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8444 ssl;
        server_name  localhost;

        sse_auto on;
        sse_auto_types text/html;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /if/ {
            if ($arg_buffer) {
                sse_auto off;
            }
            proxy_pass http://127.0.0.1:8081;
        }

        location /ndjson/ {
            sse_auto_types application/x-ndjson Application/X-NDJSON;
            proxy_pass http://127.0.0.1:8081;
        }
    }

    server {
        listen       127.0.0.1:8445 ssl;
        server_name  localhost;

        location / {
            sse_auto on;
            proxy_pass http://127.0.0.1:8081;
        }
    }
}

EOF

make_cert($t);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(18);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

sub get {
	my ($port, $uri) = @_;
	return sse_get($uri, ssl => 1, port => port($port));
}

my $ndjson = query(ct => 'application/x-ndjson', fmt => 'ndjson');
my $html = query(ct => 'text/html; charset=utf-8', fmt => 'line');

# sse_auto at http, server, location and if levels

held_ok(get(8443, '/events'), 'http level off');
streams_ok(get(8444, '/events'), 'server level on');
held_ok(get(8444, '/off/events'), 'location level off');
streams_ok(get(8445, '/events'), 'location level on');
streams_ok(get(8444, '/if/events'), 'if not taken: on');
held_ok(get(8444, '/if/events?buffer=1'), 'if taken: off');

# sse_auto_types: a list replaces the default one; text/event-stream is always there

streams_ok(get(8444, "/events$html"), 'text/html set at server level');
held_ok(get(8445, "/events$html"), 'text/html elsewhere: control');
held_ok(get(8443, "/events$html"), 'text/html with sse_auto off: control');

held_ok(get(8444, "/events$ndjson"), 'server list replaces the default list');
streams_ok(get(8445, "/events$ndjson"), 'default list: ndjson');
streams_ok(get(8444, "/ndjson/events$ndjson"), 'ndjson set at location level');
held_ok(get(8444, "/off/events$ndjson"), 'ndjson with sse_auto off: control');
streams_ok(get(8444, '/ndjson/events'), 'text/event-stream always included');

held_ok(get(8444, "/ndjson/events$html"), 'inner sse_auto_types replaces outer');

my $r = get(8444, "/ndjson/events$ndjson");
like($r->{body}, qr/^\{"seq":1,"sent":[\d.]+,"req":\d+\}\x0a/, 'ndjson body intact');
is($r->{headers}{'x-accel-buffering'}, 'no', 'ndjson: downstream hint');

$r = get(8444, "/events$html");
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'text/html: type kept');

###############################################################################
