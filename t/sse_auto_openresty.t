#!/usr/bin/perl

# Tests for sse_auto in OpenResty (skipped on other nginx builds): the location 1Panel
# generates, without the manual fix lines users add to it; Lua in the access, header filter,
# body filter and log phases of a streamed location; an upstream chosen by
# balancer_by_lua_block, whose set_timeouts() read timeout counts as the location's; a Lua
# content handler that streams on its own; ngx.location.capture of a streamed location; a
# reload with open streams. Every streaming case has its sse_auto off control.

###############################################################################

use warnings;
use strict;

use Test::More;
use POSIX ();
use Time::HiRes qw/ sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

# "nginx version: openresty/1.27.1.2"; lua-nginx-module is linked in statically, so "nginx -V"
# lists it as --add-module=../ngx_lua-X.Y.Z (as has() reads it in both Test::Nginx libraries)
plan(skip_all => 'OpenResty only: nginx -V does not say "nginx version: openresty/"')
	unless $t->has_module('nginx version: openresty/');
plan(skip_all => 'OpenResty built without lua-nginx-module (ngx_lua)')
	unless $t->has_module('--add-module=\S*ngx_lua-\d');

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_by_lua_block {
        ngx.log(ngx.WARN, "lua log: uri=", ngx.var.uri, " sse_auto=[", ngx.var.sse_auto,
                "] chunks=", ngx.ctx.chunks or 0)
    }

    upstream balanced {
        server 127.0.0.1:1;

        balancer_by_lua_block {
            local balancer = require "ngx.balancer"
            local ok, err = balancer.set_current_peer("127.0.0.1", %%PORT_8081%%)
            if not ok then
                ngx.log(ngx.ERR, "set_current_peer: ", err)
                return ngx.exit(500)
            end
            -- connect, send, read timeouts in seconds, the read one from the request
            ok, err = balancer.set_timeouts(5, 5, tonumber(ngx.var.arg_rt) or 60)
            if not ok then
                ngx.log(ngx.ERR, "set_timeouts: ", err)
                return ngx.exit(500)
            end
        }
    }

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        add_header X-Conf %%VERSION%% always;

        # the site 1Panel generates for a reverse proxy (sites/<site>/proxy/root.conf), as
        # it is before users add "proxy_buffering off; proxy_read_timeout 300s;"
        location ^~ /panel/ {
            %%PANEL%%
        }

        location ^~ /panel-off/ {
            sse_auto off;
            %%PANEL%%
        }

        location /lua/ {
            %%LUA%%
            proxy_pass http://127.0.0.1:8081;
        }

        location /lua-off/ {
            sse_auto off;
            %%LUA%%
            proxy_pass http://127.0.0.1:8081;
        }

        # read timeouts: the balancer's (?rt=) against the location's 60s
        location /balanced/ {
            proxy_pass http://balanced;
        }

        location /balanced-off/ {
            sse_auto off;
            proxy_pass http://balanced;
        }

        location /balanced-set/ {
            sse_auto_read_timeout 2s;
            proxy_pass http://balanced;
        }

        location /content/ {
            %%CONTENT%%
        }

        location /content-off/ {
            sse_auto off;
            %%CONTENT%%
        }

        location /events/ {
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location /capture/ {
            content_by_lua_block {
                local uri = ngx.var.uri:gsub("^/capture", "")
                local res = ngx.location.capture(uri, { args = ngx.var.args })
                ngx.header["X-Sub-Status"] = res.status
                ngx.header["X-Sub-Truncated"] = tostring(res.truncated)
                ngx.print(res.body)
            }
        }

        location = /version {
            return 200 "%%VERSION%%";
        }
    }
}

EOF

my $panel = <<'EOF';
            proxy_pass http://127.0.0.1:8081;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header REMOTE-HOST $remote_addr;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_http_version 1.1;
            add_header X-Cache $upstream_cache_status;
            proxy_ssl_server_name off;
            proxy_ssl_name $proxy_host;
            add_header Alt-Svc 'h3=":443"; ma=2592000';
            add_header Cache-Control no-cache;
            add_header Strict-Transport-Security "max-age=31536000";
EOF

my $lua = <<'EOF';
            access_by_lua_block {
                ngx.ctx.access = "ran"
            }
            header_filter_by_lua_block {
                ngx.header["X-Lua-Access"] = ngx.ctx.access
                ngx.header["X-Lua-Header"] = "set"
            }
            body_filter_by_lua_block {
                if #ngx.arg[1] > 0 then
                    ngx.ctx.chunks = (ngx.ctx.chunks or 0) + 1
                end
            }
EOF

# records in the format the SSE helpers read, each flushed as it is made
my $content = <<'EOF';
            default_type text/event-stream;
            content_by_lua_block {
                for seq = 1, 3 do
                    ngx.sleep(0.3)
                    ngx.update_time()
                    ngx.print(string.format("id: %d\ndata: seq=%d sent=%.6f req=1\n\n",
                                            seq, seq, ngx.now()))
                    ngx.flush(true)
                end
            }
EOF

make_cert($t);
write_conf($t, 'v1');
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(33);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

# 1Panel's location, as generated

my $r = get('/panel/events');
streams_ok($r, '1panel location: events arrive live');
is($r->{headers}{'strict-transport-security'}, 'max-age=31536000',
	'1panel location: its add_header lines');
held_ok(get('/panel-off/events'), '1panel location: sse_auto off: control');

# Lua in the access, header filter, body filter and log phases of a streamed location

$r = get('/lua/events');
streams_ok($r, 'lua phases: events arrive live');
is($r->{headers}{'x-lua-header'}, 'set', 'lua phases: header_filter_by_lua header');
is($r->{headers}{'x-lua-access'}, 'ran', 'lua phases: access_by_lua ran first');
held_ok(get('/lua-off/events'), 'lua phases: sse_auto off: control');

# an upstream chosen by balancer_by_lua, with a read timeout of 1s from set_timeouts(): the
# stream's default timeout is max(1h, the request's read timeout), so a 2.5s silence passes;
# a plain response through the same balancer is cut, and so is the stream with sse_auto off

my $quiet = query(n => 2, gap => 2500, rt => 1);
my $s = start("/balanced/events$quiet");
my $p = start('/balanced/plain' . query(n => 2, gap => 2500, rt => 1,
	ct => 'application/json', fmt => 'line'));
my $o = start("/balanced-off/events$quiet");
($s, $p, $o) = map { sse_finish($_) } $s, $p, $o;

is(seqs($s), '1,2', 'balancer read timeout 1s: quiet stream survives');
isnt(seqs($p), '1,2', 'balancer read timeout 1s: plain response cut');
isnt(seqs($o), '1,2', 'balancer read timeout 1s: sse_auto off: stream cut (control)');

streams_ok(get('/balanced/events' . query(rt => 1)), 'balancer: events arrive live');
held_ok(get('/balanced-off/events' . query(rt => 1)), 'balancer: sse_auto off: control');

# an explicit sse_auto_read_timeout wins over the balancer's, both ways: a longer balancer
# timeout does not keep a 3s silence alive under sse_auto_read_timeout 2s, a shorter one does
# not cut a 1.5s silence

$s = get('/balanced-set/events' . query(n => 2, gap => 3000, rt => 10));
is(seqs($s), '1', 'sse_auto_read_timeout 2s, balancer 10s: 3s silence cut');
cmp_ok($s->{elapsed}, '<', 2.8, 'sse_auto_read_timeout 2s, balancer 10s: cut after about 2s');
is(seqs(get('/balanced-set/events' . query(n => 2, gap => 1500, rt => 1))), '1,2',
	'sse_auto_read_timeout 2s, balancer 1s: 1.5s silence survives');

# their controls: without sse_auto_read_timeout, the balancer's 10s keeps the 3s silence alive;
# with sse_auto off, its 1s cuts the 1.5s silence

is(seqs(get('/balanced/events' . query(n => 2, gap => 3000, rt => 10))), '1,2',
	'balancer 10s: 3s silence survives (control)');
isnt(seqs(get('/balanced-off/events' . query(n => 2, gap => 1500, rt => 1))), '1,2',
	'balancer 1s: sse_auto off: 1.5s silence cut (control)');

# a Lua content handler streaming with ngx.flush() is no upstream response: left alone, and it
# streams either way

$r = get('/content/events');
streams_ok($r, 'lua content handler: streams');
$r = get('/content-off/events');
streams_ok($r, 'lua content handler: sse_auto off: streams too (left alone)');

# ngx.location.capture of a streamed location: the subrequest's body is complete

$r = get('/capture/events/' . query(n => 3, gap => 100));
is($r->{headers}{'x-sub-status'}, '200', 'capture: subrequest status');
is($r->{headers}{'x-sub-truncated'}, 'false', 'capture: not truncated');
is(seqs($r), '1,2,3', 'capture: complete body');
$r = get('/capture/off/' . query(n => 3, gap => 100));
is(seqs($r), '1,2,3', 'capture: sse_auto off: complete body (control)');

# a reload while streams are open: the stream started under v1 goes on live in the old worker,
# and v2 serves the next ones

my $long = start('/events/' . query(n => 2, gap => 2500));
sleep(0.5);
write_conf($t, 'v2');
my $reloader = reload_in($t, 0.5);
$r = get('/events/' . query(n => 3, gap => 400));
streams_ok($r, 'reload: stream read across it arrives live');
$s = sse_finish($long);
waitpid($reloader, 0);
is(seqs($s), '1,2', 'reload: quiet stream open across it completes');
ok(serves('v2'), 'reload: v2 serves');
streams_ok(get('/events/'), 'reload: events arrive live after it');
held_ok(get('/off/'), 'reload: sse_auto off: control');

$t->stop();

my $log = $t->read_file('error.log');
unlike($log, qr/exited on signal/, 'no worker crashed');
like($log, qr/lua log: uri=\/lua\/events sse_auto=\[switched\] chunks=[3-9]/,
	'lua phases: log_by_lua ran, body filter saw each event');
like($log, qr/lua log: uri=\/content\/events sse_auto=\[\] /,
	'lua content handler: not switched');
like($log, qr/upstream timed out .* request: "GET \/balanced\/plain/,
	'balancer read timeout: plain response timed out');
unlike($log, qr/upstream timed out .* request: "GET \/balanced\/events/,
	'balancer read timeout: stream did not');

###############################################################################

sub write_conf {
	my ($t, $version) = @_;
	(my $c = $conf) =~ s/%%VERSION%%/$version/g;
	$c =~ s/^\s*%%PANEL%%\n/$panel/gm;
	$c =~ s/^\s*%%LUA%%\n/$lua/gm;
	$c =~ s/^\s*%%CONTENT%%\n/$content/gm;
	$t->write_file_expand('nginx.conf', $c);
}

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
}

sub start {
	my ($uri) = @_;
	return sse_start($uri, ssl => 1, port => port(8443));
}

sub seqs {
	my ($r) = @_;
	return join ',', map { $_->{seq} } @{$r->{records}};
}

# $t->reload() after $delay seconds, from a child, while the parent reads a stream
sub reload_in {
	my ($t, $delay) = @_;
	my $pid = fork() // die "fork: $!\n";
	if ($pid == 0) {
		sleep($delay);
		$t->reload();
		POSIX::_exit(0);
	}
	return $pid;
}

# the new configuration answers within a few seconds of the reload
sub serves {
	my ($version) = @_;
	for (1 .. 50) {
		my $r = get('/version', timeout => 2);
		return 1 if ($r->{body} // '') eq $version;
		sleep(0.1);
	}
	return 0;
}

###############################################################################
