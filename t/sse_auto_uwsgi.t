#!/usr/bin/perl

# Tests for sse_auto: uwsgi, with a real uWSGI server (Debian's uwsgi and its python3 plugin)
# running a WSGI application that yields one event at a time.

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

my $uwsgi = '/usr/bin/uwsgi';
plan(skip_all => 'uwsgi not installed') unless -x $uwsgi;
plan(skip_all => 'uwsgi-plugin-python3 not installed')
	unless -e '/usr/lib/uwsgi/plugins/python3_plugin.so';

my $t = Test::Nginx->new()->has(qw/http uwsgi http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

# a stock site: uwsgi_params as nginx ships it, uwsgi_pass, nothing about buffering

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
            include     uwsgi_params;
            uwsgi_pass  127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            include     uwsgi_params;
            uwsgi_pass  127.0.0.1:8081;
        }
    }
}

EOF

$t->write_file('uwsgi_params', <<'EOF');
uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;

uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;

uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;
EOF

my $d = $t->testdir();
my $port = port(8081);

# uWSGI as deployed behind nginx: a master, two workers, the uwsgi protocol on a TCP socket
# (no HTTP router); --die-on-term: TERM stops it (uWSGI 2.0 would reload), --no-orphans:
# workers never outlive the master

make_cert($t);
$t->run_daemon($uwsgi, '--plugin', 'python3', '--socket', "127.0.0.1:$port",
	'--wsgi-file', "$FindBin::Bin/backends/wsgi_sse.py", '--master', '--processes', '2',
	'--need-app', '--die-on-term', '--no-orphans', '--logto', "$d/uwsgi.log");
$t->run()->plan(6);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "uwsgi did not start";

###############################################################################

my $r = sse_get('/events', ssl => 1, port => port(8443));
streams_ok($r, 'uwsgi: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream', 'uwsgi: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'uwsgi: downstream hint');

held_ok(sse_get('/off/events', ssl => 1, port => port(8443)),
	'uwsgi: sse_auto off: control');

# soft streaming: HTML without a length reaches the client when the application pauses

my $html = '?ct=text/html';
streams_ok(sse_get("/page$html", ssl => 1, port => port(8443)), 'uwsgi: soft: HTML live');
held_ok(sse_get("/off/page$html", ssl => 1, port => port(8443)),
	'uwsgi: soft: sse_auto off: control');

###############################################################################
