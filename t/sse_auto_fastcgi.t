#!/usr/bin/perl

# Tests for sse_auto: FastCGI, with a real php-fpm running a PHP script that streams events.

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

my ($fpm) = grep { -x } sort glob('/usr/sbin/php-fpm*');
plan(skip_all => 'php-fpm not installed') unless $fpm;

my $t = Test::Nginx->new()->has(qw/http fastcgi http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

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
            fastcgi_pass   127.0.0.1:8081;
            fastcgi_param  SCRIPT_FILENAME  %%TESTDIR%%/events.php;
            fastcgi_param  QUERY_STRING     $query_string;
            fastcgi_param  REQUEST_METHOD   $request_method;
        }

        location /off/ {
            sse_auto off;
            fastcgi_pass   127.0.0.1:8081;
            fastcgi_param  SCRIPT_FILENAME  %%TESTDIR%%/events.php;
            fastcgi_param  QUERY_STRING     $query_string;
            fastcgi_param  REQUEST_METHOD   $request_method;
        }

        # a PHP page that prints its progress: text/html, no length (soft streaming)
        location /progress/ {
            fastcgi_pass   127.0.0.1:8081;
            fastcgi_param  SCRIPT_FILENAME  %%TESTDIR%%/progress.php;
            fastcgi_param  QUERY_STRING     $query_string;
            fastcgi_param  REQUEST_METHOD   $request_method;
        }

        location /progress/off/ {
            sse_auto_soft off;
            fastcgi_pass   127.0.0.1:8081;
            fastcgi_param  SCRIPT_FILENAME  %%TESTDIR%%/progress.php;
            fastcgi_param  QUERY_STRING     $query_string;
            fastcgi_param  REQUEST_METHOD   $request_method;
        }
    }
}

EOF

# the PHP script as such apps write it: header(), echo, flush()

$t->write_file('events.php', <<'EOF');
<?php
header('Content-Type: text/event-stream; charset=utf-8');
header('Cache-Control: no-cache');

$n = isset($_GET['n']) ? (int) $_GET['n'] : 3;
$gap = isset($_GET['gap']) ? (int) $_GET['gap'] : 300;

for ($seq = 1; $seq <= $n; $seq++) {
    if ($seq > 1) {
        usleep($gap * 1000);
    }
    printf("id: %d\ndata: seq=%d sent=%.6f req=%d\n\n", $seq, $seq, microtime(true),
        getmypid());
    flush();
}
EOF

$t->write_file('progress.php', <<'EOF');
<?php
$n = isset($_GET['n']) ? (int) $_GET['n'] : 3;
$gap = isset($_GET['gap']) ? (int) $_GET['gap'] : 300;

for ($seq = 1; $seq <= $n; $seq++) {
    if ($seq > 1) {
        usleep($gap * 1000);
    }
    printf("<p>seq=%d sent=%.6f req=%d</p>\n", $seq, microtime(true), getmypid());
    flush();
}
EOF

my $d = $t->testdir();
my $port = port(8081);

$t->write_file('php-fpm.conf', <<"EOF");
[global]
error_log = $d/php-fpm.log
daemonize = no

[sse]
listen = 127.0.0.1:$port
pm = static
pm.max_children = 2
EOF

# -R: the suite may run as root; -n: no php.ini, so no output_buffering from it

make_cert($t);
$t->run_daemon($fpm, '-F', '-n', '-R', '-y', "$d/php-fpm.conf");
$t->run()->plan(7);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $t->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "php-fpm did not start";

###############################################################################

my $r = sse_get('/events.php', ssl => 1, port => port(8443));
streams_ok($r, 'php-fpm: events arrive live');
is($r->{headers}{'content-type'}, 'text/event-stream; charset=utf-8', 'php-fpm: type');
is($r->{headers}{'x-accel-buffering'}, 'no', 'php-fpm: downstream hint');

held_ok(sse_get('/off/events.php', ssl => 1, port => port(8443)),
	'php-fpm: sse_auto off: control');

# soft streaming: the page's flush()es reach the browser while nginx still buffers

$r = sse_get('/progress/', ssl => 1, port => port(8443));
streams_ok($r, 'php-fpm flush(): progress arrives live');
like($r->{headers}{'content-type'}, qr{^text/html}, 'php-fpm flush(): text/html');
held_ok(sse_get('/progress/off/', ssl => 1, port => port(8443)),
	'php-fpm flush(): sse_auto_soft off: control');

###############################################################################
