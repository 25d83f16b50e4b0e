#!/usr/bin/perl

# Tests for sse_auto: the TLS records a client receives. A stream's events each leave in a
# small record of their own, as they are sent, on a server with the default ssl_buffer_size
# and on one with a small one; responses that are not streams (a static file, a proxied
# download with a length) still leave in records of the server's ssl_buffer_size; a 64 KiB
# event leaves in the same records as with nginx's own "proxy_buffering off".
#
# The records are seen by a relay between curl and nginx, which reads each record's header
# (type and length are not encrypted). The client offers TLS 1.2 at most, so that every
# record nginx sends after the handshake is application data (TLS 1.3 sends its handshake
# and session tickets as application data records too).
#
# The control: the same stream with sse_auto off (nginx buffers it) arrives in one record.
# Unlike t/sse_auto_tls_buffer.t, this needs no debug build: it runs on every nginx.

###############################################################################

use warnings;
use strict;

use Test::More;

use IO::Select;
use IO::Socket::INET;
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

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    ssl_certificate      localhost.crt;
    ssl_certificate_key  localhost.key;

    server {
        listen       127.0.0.1:8443 ssl;
        server_name  localhost;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /buffered/ {
            sse_auto off;
            proxy_pass http://127.0.0.1:8081/;
        }

        location /off/ {
            sse_auto off;
            proxy_buffering off;
            proxy_pass http://127.0.0.1:8081/;
        }

        location /static/ {
            alias %%TESTDIR%%/;
        }
    }

    server {
        listen       127.0.0.1:8444 ssl;
        server_name  localhost;

        ssl_buffer_size  4k;

        location / {
            proxy_pass http://127.0.0.1:8081;
        }

        location /static/ {
            alias %%TESTDIR%%/;
        }
    }
}

EOF

make_cert($t);
$t->write_file('big.txt', 'x' x 65536);
$t->run_daemon(\&sse_daemon, port(8081));
$t->run_daemon(\&relay, port(8450), port(8443), $t->testdir() . '/records.8443');
$t->run_daemon(\&relay, port(8451), port(8444), $t->testdir() . '/records.8444');
$t->run()->plan(10);
$t->waitforsocket('127.0.0.1:' . port($_)) for 8081, 8450, 8451;

###############################################################################

my $d = $t->testdir();
my $events = '/events?n=4&gap=150&pad=40';
my $big = '/events?n=1&first=100&pad=65536';
my $download = '/events?n=1&pad=65536&len=1&ct=application%2Foctet-stream';

# a stream: the header, then each event in a record of its own, each as small as the event
ok(apart(records(8450, $events), 4), 'stream: each event in a small record of its own');
ok(!apart(records(8450, "/buffered$events"), 4),
	'control (sse_auto off): the events held and sent together');
ok(apart(records(8451, $events), 4), 'stream, ssl_buffer_size 4k: the same');

# a 64 KiB event: the records of proxy_buffering off (the header's aside: the X-Accel-Buffering
# hint sse_auto adds makes it longer)
my (undef, @stream) = records(8450, $big);
my (undef, @control) = records(8450, "/off$big");
ok(@stream > 4 && "@stream" eq "@control",
	'a 64 KiB event: the same records as with proxy_buffering off')
	or diag("stream: @stream\ncontrol: @control");
cmp_ok(total(@stream), '>', 65536, 'a 64 KiB event: all of it');

# not streams: records of the server's ssl_buffer_size, on both servers
is(full(16384, records(8450, '/static/big.txt')), 4, 'static file: 16k records');
is(full(4096, records(8451, '/static/big.txt')), 16, 'static file, ssl_buffer_size 4k: 4k records');
cmp_ok(full(16384, records(8450, $download)), '>=', 3, 'download: 16k records');
my @small = records(8451, $download);
ok(full(4096, @small) >= 12 && !grep({ $_ >= 4096 + 64 } @small),
	'download, ssl_buffer_size 4k: 4k records, none larger');

# and a stream on the 4k server still sends a small event in a small record after them
my @after = records(8451, '/events?n=2&gap=100');
ok(@after >= 3 && !grep({ $_ > 512 } @after), 'stream after downloads: small records');

###############################################################################

# The lengths of the application data records nginx sent on the connection that fetched $uri
# through the relay on $port (TLS 1.2, so the record overhead is the cipher's: 24 bytes with
# AES-GCM, 16 with ChaCha20-Poly1305).
sub records {
	my ($port, $uri) = @_;
	my $log = "$d/records." . ($port == port(8450) ? 8443 : 8444);

	open(my $curl, '-|', 'curl', '-s', '-k', '--http1.1', '--tls-max', '1.2', '-o', '/dev/null',
		'-w', '%{http_code} %{size_download}', 'https://127.0.0.1:' . port($port) . $uri)
		or die "Can't run curl: $!\n";
	note("$uri: " . join('', <$curl>));
	close $curl;

	# the last connection the relay saw is curl's; its records are all written when it ends
	for (1 .. 50) {
		my $text = -e $log ? do { local (@ARGV, $/) = $log; <> } : '';
		my ($n) = $text =~ /.*^(\d+) /ms;
		if (defined $n && $text =~ /^$n end$/m) {
			return map { /^$n 23 (\d+)$/ ? $1 : () } split /\n/, $text;
		}
		sleep 0.1;
	}
	return ();
}

# Every one of $n events in a record of its own: the header's and at least $n more, none over
# 512 bytes.
sub apart {
	my $n = pop;
	return @_ >= $n + 1 && !grep { $_ > 512 } @_;
}

# How many records carry $size bytes of data (and the cipher's overhead, under 64 bytes).
sub full {
	my ($size, @r) = @_;
	return scalar grep { $_ >= $size && $_ < $size + 64 } @r;
}

sub total { my $s = 0; $s += $_ for @_; return $s; }

###############################################################################

# Relays TCP connections from $listen to $target, one at a time, and notes the type and length
# of each TLS record the target sends, as "<connection> <type> <length>", then "<connection>
# end" when the connection closes.
sub relay {
	my ($listen, $target, $log) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => '127.0.0.1:' . $listen,
		Listen => 16,
		Reuse => 1
	)
		or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';
	my $n = 0;

	while (1) {
		my $client = $server->accept() or next;
		my $upstream = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $target);
		$n++;

		open my $fh, '>>', $log or die "Can't open $log: $!\n";
		$fh->autoflush(1);

		my $sel = IO::Select->new($client, $upstream // ());
		my $pending = '';

		LOOP: while ($upstream) {
			for my $s ($sel->can_read(10)) {
				my $got = sysread($s, my $data, 65536);
				last LOOP unless $got;

				if ($s == $upstream) {
					# note each record once it is whole, before its last bytes go on
					$pending .= $data;
					while (length($pending) >= 5) {
						my ($type, $len) = unpack('C x2 n', $pending);
						last if length($pending) < 5 + $len;
						print $fh "$n $type $len\n";
						substr($pending, 0, 5 + $len, '');
					}
				}

				write_all($s == $upstream ? $client : $upstream, $data) or last LOOP;
			}
		}

		print $fh "$n end\n";
		close $fh;
		close $client;
		close $upstream if $upstream;
	}
}

sub write_all {
	my ($s, $data) = @_;
	while (length $data) {
		my $n = syswrite($s, $data) or return 0;
		substr($data, 0, $n, '');
	}
	return 1;
}

###############################################################################
