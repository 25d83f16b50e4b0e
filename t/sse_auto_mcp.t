#!/usr/bin/perl

# Tests for sse_auto: a remote MCP server (the official Python SDK, Streamable HTTP transport,
# uvicorn) behind an nginx with only load_module, itself behind a stock nginx over TLS (a panel
# host in front of a container), and the SDK's own client.
#
# The SDK's SSE responses carry "X-Accel-Buffering: no", so the inner nginx streams them even
# without the module, but stock nginx does two things wrong with them: it keeps
# proxy_read_timeout (2s here, the panel's 60s scaled down) for streams that are quiet by
# nature, and it hides the header from the nginx in front, which then buffers. With sse_auto
# the inner nginx gives them the stream timeout and passes the hint on. The client's GET
# stream (server-initiated messages), a long tool call and progress reports show it; with
# sse_auto off in the inner nginx the same client fails.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::SSE qw/ make_cert $LIVE_MS /;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# the project's venv (scripts/build/venv.sh, t/backends/requirements.txt): the MCP SDK as released

my $python = "$FindBin::Bin/../target/venv/bin/python";
plan(skip_all => "no venv python at $python (run scripts/build/venv.sh)") unless -x $python;
plan(skip_all => 'mcp, uvicorn or httpx2 missing in the venv (run scripts/build/venv.sh)')
	unless system("$python -c 'import mcp, uvicorn, httpx2' >/dev/null 2>&1") == 0;

my $inner = Test::Nginx->new()->has(qw/http proxy http_ssl/)->has_daemon('openssl');

# the inner nginx: a plain proxy_pass to the MCP server, as panels generate it; the control
# is the same with sse_auto off

my $location = <<'EOF';
        location / {
            proxy_pass          http://127.0.0.1:8081;
            proxy_http_version  1.1;
            proxy_read_timeout  2s;
EOF

$inner->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format mcp '\$server_port \$request_method \$status sse_auto="\$sse_auto" '
                   'rt=\$request_time';
    access_log  %%TESTDIR%%/mcp.log mcp;

    server {
        listen       127.0.0.1:8082;
        server_name  localhost;

$location        }
    }

    server {
        listen       127.0.0.1:8083;
        server_name  localhost;

$location            sse_auto off;
        }
    }
}

EOF

# the outer nginx: stock, whatever TEST_NGINX_GLOBALS loads into the inner one; its own
# proxy_read_timeout is the default (60s): the quiet periods here are above the inner's 2s
# and far below that

my $outer = Test::Nginx->new();

{
	local $ENV{TEST_NGINX_GLOBALS} = '';

	$outer->write_file_expand('nginx.conf', <<'EOF');

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
            proxy_pass http://127.0.0.1:8082;
        }
    }

    server {
        listen       127.0.0.1:8444 ssl;
        server_name  localhost;

        ssl_certificate      localhost.crt;
        ssl_certificate_key  localhost.key;

        location / {
            proxy_pass http://127.0.0.1:8083;
        }
    }
}

EOF
}

my $port = port(8081);

make_cert($outer);
$inner->run_daemon($python, '-B', '-m', 'uvicorn', '--app-dir', "$FindBin::Bin/backends",
	'--host', '127.0.0.1', '--port', $port, '--log-level', 'warning', 'mcp_server:app');
$inner->run();

# each nginx adds its own checks of its error log
$outer->run()->plan(30);
# application servers load their frameworks first: up to six waits of 5 s
(grep { $inner->waitforsocket("127.0.0.1:$port") } 1 .. 6) or die "uvicorn did not start";

###############################################################################

# The client's run: initialize, list tools, echo, progress, then side by side a tool call
# that works silently for $quiet seconds and a notification the server sends on the GET
# stream $quiet seconds later. One JSON line a step; the client bounds every step.

my $quiet = 3;

# (named subs must not close over $inner: it would outlive Test::More's count of the tests
# its DESTROY adds)
my $dir = $inner->testdir();

sub client {
	my ($port, $mode) = @_;
	my $url = "https://127.0.0.1:$port/mcp";

	# the SDK logs to stderr (tracebacks of streams cut under it): kept aside, for -v
	my $err = "$dir/client-$port-$mode.err";

	my $pid = open(my $fh, '-|') // die "Can't fork: $!\n";
	if ($pid == 0) {
		open STDERR, '>', $err or die "Can't open $err: $!\n";
		exec($python, '-B', "$FindBin::Bin/backends/mcp_client.py", $url, $mode, $quiet)
			or die "Can't run the MCP client: $!\n";
	}

	my %steps = map { my $s = eval { decode_json($_) }; $s ? ($s->{step} => $s) : () } <$fh>;
	close $fh;

	diag(join "\n", "client ($mode) via $port:",
		(map { "  $_: " . encode_json($steps{$_}) } sort keys %steps),
		'  stderr:', do { local (@ARGV, $/) = ($err); <> })
		if $ENV{TEST_NGINX_VERBOSE};

	return \%steps;
}

# every progress report within $LIVE_MS of being sent
sub live_progress {
	my ($s) = @_;
	my @d = @{$s->{progress}{delays_ms} // []};
	return @d == 3 && !grep { $_ > $LIVE_MS } @d;
}

# the GET stream's notification, quiet for longer than the inner proxy_read_timeout (2s)
# before, arrived within $LIVE_MS of being sent
sub live_notify {
	my ($s) = @_;
	my $n = $s->{notify} // {};
	return $n->{ok} && $n->{quiet_s} > 2 && $n->{delay_ms} <= $LIVE_MS;
}

my ($on, $off) = (port(8443), port(8444));

unlike($outer->read_file('nginx.conf'), qr/sse_auto/, 'outer nginx is stock');

my $s = client($on, 'legacy');
ok($s->{connect}{ok}, 'initialize');
is($s->{connect}{protocol}, '2025-11-25', 'initialize: protocol version');
is_deeply($s->{list_tools}{tools}, [qw/ echo notify_later progress slow /], 'list tools');
is($s->{echo}{text}, 'hello', 'tool call');
ok(live_progress($s), 'progress reports arrive live')
	or diag(encode_json($s->{progress} // {}));
is($s->{slow}{text}, "done after ${quiet}s", 'long tool call: quiet past proxy_read_timeout')
	or diag(encode_json($s->{slow} // {}));
ok(live_notify($s), 'GET stream: notification after a quiet period arrives live')
	or diag(encode_json($s->{notify} // {}));
ok($s->{exit}, 'client ends');

# the control: sse_auto off in the inner nginx; the same client, the same assertions fail

my $c = client($off, 'legacy');
ok($c->{connect}{ok}, 'control: initialize works buffered');
is($c->{echo}{text}, 'hello', 'control: a quick tool call works buffered');
ok(!live_progress($c), 'control: progress reports held by the stock nginx')
	or diag(encode_json($c->{progress} // {}));
ok(!$c->{slow}{ok}, 'control: long tool call fails')
	or diag(encode_json($c->{slow} // {}));
ok(!live_notify($c), 'control: GET stream notification lost or late')
	or diag(encode_json($c->{notify} // {}));
ok($c->{exit}, 'control: client ends');

# protocol 2026-07-28, what the SDK's client negotiates by default: no session, no GET
# stream, one POST a request; progress reports still ride the POST's SSE response

$s = client($on, 'auto');
is($s->{connect}{protocol}, '2026-07-28', '2026-07-28: negotiated');
is($s->{echo}{text}, 'hello', '2026-07-28: tool call');
ok(live_progress($s), '2026-07-28: progress reports arrive live')
	or diag(encode_json($s->{progress} // {}));

$c = client($off, 'auto');
ok(!live_progress($c), '2026-07-28: control: progress reports held')
	or diag(encode_json($c->{progress} // {}));

# why: the inner nginx timed out both streams in the control, and only there

$inner->stop();
$outer->stop();

my $errors = $inner->read_file('error.log');
# (Angie's error log says request_line: where nginx says request:)
my %timedout;
$timedout{$2}{$1}++ while $errors =~
	/upstream timed out .* request(?:_line)?: "(\w+) \/mcp [^"]*".* host: "127\.0\.0\.1:(\d+)"/g;

ok($timedout{port(8083)}{POST}, 'control: inner timed out the long tool call');
ok($timedout{port(8083)}{GET}, 'control: inner timed out the GET stream');
ok(!$timedout{port(8082)}, 'no upstream timeouts with sse_auto')
	or diag(join "\n", $errors =~ /^.*upstream timed out.*$/mg);

# the inner access log: one GET stream, open for the whole session, well past
# proxy_read_timeout; in the control it was cut, and the client opened it again

my $log = $inner->read_file('mcp.log');
my @get = $log =~ /^${\ port(8082)} GET (\d+ sse_auto="[^"]*" rt=[\d.]+)$/mg;
is(scalar @get, 1, 'GET stream: opened once') or diag($log);
like($get[0] // '', qr/^200 sse_auto="unbuffered" /, 'GET stream: a stream, already unbuffered');
my ($rt) = ($get[0] // '') =~ /rt=([\d.]+)/;
cmp_ok($rt // 0, '>', $quiet, 'GET stream: open past proxy_read_timeout');
like($log, qr/^${\ port(8082)} POST 200 sse_auto="unbuffered" /m, 'POST: a stream');

my @cut = $log =~ /^${\ port(8083)} GET (\d+ sse_auto="[^"]*") /mg;
cmp_ok(scalar @cut, '>', 1, 'control: GET stream opened again') or diag($log);
is($cut[0] // '', '200 sse_auto=""', 'control: GET stream left alone');

###############################################################################
