#!/usr/bin/perl

# Tests for sse_auto: the body filter that heartbeats and draining need is in the filter chain
# only when the configuration enables one of them; reloads add and remove it, streams stay
# switched either way, and a stream keeps the heartbeats of the configuration it started under.

###############################################################################

use warnings;
use strict;

use Test::More;
use Time::HiRes qw/ time sleep /;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ :all /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http proxy rewrite http_ssl/)
	->has_daemon('openssl')->has_daemon('curl');

my $conf = <<'EOF';

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

        add_header X-Conf %%VERSION%% always;

        location / {
            %%HEARTBEAT%%
            proxy_pass http://127.0.0.1:8081;
        }

        location /off/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081;
        }

        location = /version {
            return 200 "%%VERSION%%";
        }
    }
}

EOF

make_cert($t);
write_conf($t, 'v1', 'sse_auto_heartbeat 300ms;');
$t->run_daemon(\&sse_daemon, port(8081));
$t->run()->plan(11);
$t->waitforsocket('127.0.0.1:' . port(8081));

###############################################################################

my $quiet = query(n => 2, gap => 1100);

# v1: heartbeats configured, so the body filter is in the chain

cmp_ok(heartbeats(get_v('v1', "/events$quiet")), '>=', 2, 'v1: heartbeats');

# a long quiet stream started under v1 outlives the reload to v2 in the old worker

my $long = sse_start('/events' . query(n => 2, gap => 2500), ssl => 1, port => port(8443));
sleep(0.5);

# v2: no heartbeats anywhere, so no body filter; responses are still switched

write_conf($t, 'v2', '');
$t->reload();
ok(serves('v2'), 'v2: reloaded');

is(heartbeats(get_v('v2', "/events$quiet")), 0, 'v2: no heartbeats');
my $r = get_v('v2', '/events');
streams_ok($r, 'v2: events arrive live');
is($r->{headers}{'x-accel-buffering'}, 'no', 'v2: downstream hint');
held_ok(get_v('v2', '/off/events'), 'v2: sse_auto off: control');

$r = sse_finish($long);
is(scalar @{$r->{records}}, 2, 'v1 stream across the reload: complete');
cmp_ok(heartbeats($r), '>=', 5, 'v1 stream across the reload: heartbeats throughout');

# v3: heartbeats only at the http level, inherited: the body filter is back

write_conf($t, 'v3', '', 'sse_auto_heartbeat 300ms;');
$t->reload();
ok(serves('v3'), 'v3: reloaded');
cmp_ok(heartbeats(get_v('v3', "/events$quiet")), '>=', 2, 'v3: heartbeats again');
is(heartbeats(get_v('v3', "/off/events$quiet")), 0, 'v3: sse_auto off: no heartbeats');

###############################################################################

sub write_conf {
	my ($t, $version, $location, $http) = @_;
	(my $c = $conf) =~ s/%%VERSION%%/$version/g;
	$c =~ s/%%HEARTBEAT%%/$location/;
	$c =~ s/(%%TEST_GLOBALS_HTTP%%)/$1\n    $http/ if $http;
	$t->write_file_expand('nginx.conf', $c);
}

sub get {
	my ($uri, %opts) = @_;
	return sse_get($uri, ssl => 1, port => port(8443), %opts);
}

# A request served by the given configuration: for a moment after a reload, the old worker
# may still accept connections (it has an open stream, so it is alive), most visibly under
# ASan; its responses carry the old X-Conf and are asked again.

sub get_v {
	my ($version, $uri) = @_;
	my $r;
	for (1 .. 5) {
		$r = get($uri);
		last if ($r->{headers}{'x-conf'} // '') eq $version;
		diag("$uri served by configuration " . ($r->{headers}{'x-conf'} // 'none')
			. ", not $version: once more");
	}
	return $r;
}

sub heartbeats {
	my ($r) = @_;
	return scalar grep { $_ eq ':' } split /\x0a\x0a/, $r->{body} // '';
}

# the new configuration answers within a few seconds of the reload

sub serves {
	my ($version) = @_;
	my $end = time() + 10;
	while (time() < $end) {
		my $r = sse_get('/version', ssl => 1, port => port(8443));
		return 1 if ($r->{body} // '') eq $version;
		sleep(0.1);
	}
	return 0;
}

###############################################################################
