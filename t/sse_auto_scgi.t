#!/usr/bin/perl

# Tests for sse_auto: SCGI, with real SCGI servers streaming events: a small threaded SCGI
# server in Python (backends/scgi_sse.py, standard library only) and uWSGI's SCGI socket
# running a WSGI application (backends/wsgi_sse.py).

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

my $python = '/usr/bin/python3';
plan(skip_all => 'python3 not installed') unless -x $python;

my $uwsgi = -x '/usr/bin/uwsgi' && -e '/usr/lib/uwsgi/plugins/python3_plugin.so';

my $t = Test::Nginx->new()->has(qw/http scgi http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

# a stock site: scgi_params as nginx ships it, scgi_pass, nothing about buffering

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        location / {
            include    scgi_params;
            scgi_pass  127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            include    scgi_params;
            scgi_pass  127.0.0.1:8081;
        }

        location /uwsgi/ {
            include    scgi_params;
            scgi_pass  127.0.0.1:8082;
        }

        location /uwsgi-off/ {
            sse_auto off;
            include    scgi_params;
            scgi_pass  127.0.0.1:8082;
        }
    }
}

EOF

$t->write_file('scgi_params', <<'EOF');
scgi_param  REQUEST_METHOD     $request_method;
scgi_param  REQUEST_URI        $request_uri;
scgi_param  QUERY_STRING       $query_string;
scgi_param  CONTENT_TYPE       $content_type;

scgi_param  DOCUMENT_URI       $document_uri;
scgi_param  DOCUMENT_ROOT      $document_root;
scgi_param  SCGI               1;
scgi_param  SERVER_PROTOCOL    $server_protocol;
scgi_param  REQUEST_SCHEME     $scheme;
scgi_param  HTTPS              $https if_not_empty;

scgi_param  REMOTE_ADDR        $remote_addr;
scgi_param  REMOTE_PORT        $remote_port;
scgi_param  SERVER_PORT        $server_port;
scgi_param  SERVER_NAME        $server_name;
EOF

my $d = $t->testdir();
my $port = port(8081);
my $uport = port(8082);

make_cert($t);
$t->run_daemon($python, '-B', "$FindBin::Bin/backends/scgi_sse.py", $port);

# uWSGI speaks SCGI too (--scgi-socket); options as in sse_auto_uwsgi.t
$t->run_daemon('/usr/bin/uwsgi', '--plugin', 'python3', '--scgi-socket', "127.0.0.1:$uport",
	'--wsgi-file', "$FindBin::Bin/backends/wsgi_sse.py", '--master', '--processes', '2',
	'--need-app', '--die-on-term', '--no-orphans', '--logto', "$d/uwsgi.log")
	if $uwsgi;

$t->run()->plan(12);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "scgi_sse.py did not start";
(grep { $t->waitforsocket("127.0.0.1:$uport") } 1 .. 6) or die "uwsgi did not start" if $uwsgi;

###############################################################################

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'scgi: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream', 'scgi: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'scgi: downstream hint');

held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'scgi: sse_auto off: control');

# soft streaming: HTML without a length reaches the client when the application pauses

my $html = '?ct=text/html';
streams_ok(sse_get("/page$html", ssl => 1, port => port(8443)), 'scgi: soft: HTML live');
held_ok(sse_get("/off/page$html", ssl => 1, port => port(8443)),
	'scgi: soft: sse_auto off: control');

SKIP: {
skip 'uwsgi or uwsgi-plugin-python3 not installed', 6 unless $uwsgi;

$r = sse_get('/uwsgi/events', ssl => 1, port => port(8443));
streams_ok($r, 'scgi uwsgi: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream', 'scgi uwsgi: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'scgi uwsgi: downstream hint');

held_ok(sse_get('/uwsgi-off/events', ssl => 1, port => port(8443)),
	'scgi uwsgi: sse_auto off: control');

streams_ok(sse_get("/uwsgi/page$html", ssl => 1, port => port(8443)),
	'scgi uwsgi: soft: HTML live');
held_ok(sse_get("/uwsgi-off/page$html", ssl => 1, port => port(8443)),
	'scgi uwsgi: soft: sse_auto off: control');

}

###############################################################################
