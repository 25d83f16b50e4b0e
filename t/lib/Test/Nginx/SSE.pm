package Test::Nginx::SSE;

# (C) sse_auto authors
#
# Server-Sent Events helpers for the sse_auto test suite, on top of the nginx-tests
# Test::Nginx API (only its public interface is used, so the real library works too):
#
#   sse_daemon($port)      a scripted streaming upstream, for $t->run_daemon()
#   sse_get($uri, %opts)   a streaming client (curl) recording every event's arrival time
#   h3_get($uri, %opts)    the same over HTTP/3 (aioquic, backends/h3_get.py)
#   live($res), held($res) the streaming verdicts tests assert on, with their controls
#   make_cert($t)          a self-signed certificate for "localhost" in the test directory
#
# Every record the daemon sends carries its send time ("sent=" seconds since the epoch), and the
# client notes when the record was complete on its side, so each record's delay through nginx
# is measured on one clock, on one machine.

use warnings;
use strict;

use Exporter qw/ import /;
use IO::Select;
use IO::Socket::INET;
use Socket ();
use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ time sleep /;

use File::Spec;

use Test::Nginx qw/ port /;

our @EXPORT_OK = qw/ sse_daemon sse_get sse_start sse_finish sse_vanish upstream_closed h3_get h3_python
	live held delays summary make_cert
	streams_ok held_ok query $LIVE_MS $HELD_MS /;
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# A record is "live" when it reaches the client within $LIVE_MS of being sent; the stream is
# "held" when its first record arrives at least $HELD_MS late (buffered until the end).
our $LIVE_MS = 200;
our $HELD_MS = 400;

###############################################################################

# The upstream: HTTP/1.x, one forked child per connection; with a $log file, it notes there
# when nginx closed a connection it was still sending on. The request's query string scripts
# the response:
#
#   n=3          records to send
#   gap=300      ms between records (and before the first one, first=0 by default)
#   first=0      ms before the first record
#   ct=...       Content-Type value (URL-encoded); "none" sends no Content-Type
#   fmt=sse      record format: sse ("data: ...\n\n"), ndjson ("{...}\n"), line ("...\n"),
#                fixed ("seq=<n> " and the padding, "\n": the same bytes every time)
#   pad=0        bytes of padding ("x") in each record
#   h=Name:val   extra response header line, repeatable (URL-encoded, sent as given)
#   hold=0       ms to keep the connection open after the last record (and the last chunk)
#   cut=0        1: after the records, send half a record and close (no terminator)
#   status=200   response status code
#   split=0      ms to pause in the middle of each record
#   chunked=0    1: HTTP/1.1 chunked body, a chunk per write (else close-delimited)
#   len=0        1: send a Content-Length (the length of the records to come)
#   hints=0      1: a "103 Early Hints" with "Link: </style.css>; rel=preload; as=style" first
#
# Records: seq=<n> sent=<epoch seconds> req=<requests served by this daemon so far>.

sub sse_daemon {
	my ($port, $log) = @_;

	my $server = IO::Socket::INET->new(
		Proto => 'tcp',
		LocalAddr => '127.0.0.1:' . $port,
		Listen => 128,
		Reuse => 1
	)
		or die "Can't create listening socket: $!\n";

	local $SIG{PIPE} = 'IGNORE';
	local $SIG{CHLD} = sub { 1 while waitpid(-1, WNOHANG) > 0 };

	my $requests = 0;

	while (1) {
		my $client = $server->accept() or next;
		$requests++;

		# as streaming servers do: each event leaves at once
		setsockopt($client, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);

		my $pid = fork();
		die "fork: $!" unless defined $pid;

		if ($pid == 0) {
			close $server;
			eval { sse_serve($client, $requests, $log) };
			exit 0;
		}

		close $client;
	}
}

sub sse_serve {
	my ($client, $requests, $log) = @_;
	$client->autoflush(1);

	my $head = '';
	while ($head !~ /\x0d?\x0a\x0d?\x0a/) {
		my $n = $client->sysread($head, 4096, length $head);
		return unless $n;
	}

	my ($method, $uri) = $head =~ m{^(\S+)\s+(\S+)};
	return unless defined $uri;

	my %q = (n => 3, gap => 300, first => 0, fmt => 'sse', hold => 0,
		cut => 0, status => 200, ct => 'text/event-stream', split => 0,
		chunked => 0, len => 0, pad => 0, hints => 0);
	my @extra;

	my ($query) = $uri =~ /\?(.*)$/;
	for my $pair (split /&/, $query // '') {
		my ($k, $v) = split /=/, $pair, 2;
		$v = unescape($v // '');
		if ($k eq 'h') {
			push @extra, $v;
		} else {
			$q{$k} = $v;
		}
	}

	my $response = "HTTP/1.1 $q{status} X\x0d\x0a"
		. "Cache-Control: no-cache\x0d\x0a"
		. "Connection: close\x0d\x0a";
	$response .= "Content-Type: $q{ct}\x0d\x0a" unless $q{ct} eq 'none';
	$response .= "Transfer-Encoding: chunked\x0d\x0a" if $q{chunked};
	if ($q{len}) {
		# the records' send times have a fixed width: any time gives their length
		my $len = 0;
		$len += length format_record($q{fmt},
			sprintf('seq=%d sent=%.6f req=%d', $_, time(), $requests), $q{pad})
			for 1 .. $q{n};
		$response .= "Content-Length: $len\x0d\x0a";
	}
	$response .= "$_\x0d\x0a" for @extra;
	$response .= "\x0d\x0a";

	$client->syswrite("HTTP/1.1 103 Early Hints\x0d\x0a"
		. "Link: </style.css>; rel=preload; as=style\x0d\x0a\x0d\x0a") if $q{hints};
	$client->syswrite($response);
	return if $method eq 'HEAD';

	my $send = sub {
		my ($bytes) = @_;
		$bytes = sprintf("%x\x0d\x0a%s\x0d\x0a", length $bytes, $bytes) if $q{chunked};
		return $client->syswrite($bytes);
	};

	# waits watch the connection: when nginx closes it, the log says when
	my $wait = sub {
		my ($ms) = @_;
		return 1 if wait_open($client, $ms / 1000);
		log_line($log, "req=$requests closed=" . sprintf('%.6f', time()));
		return 0;
	};

	$wait->($q{first}) or return;

	for my $seq (1 .. $q{n}) {
		$wait->($q{gap}) or return if $seq > 1;
		my $record = sprintf('seq=%d sent=%.6f req=%d', $seq, time(), $requests);
		my $bytes = format_record($q{fmt}, $record, $q{pad});

		if ($q{split}) {
			my $half = int(length($bytes) / 2);
			$send->(substr($bytes, 0, $half)) or return;
			$wait->($q{split}) or return;
			$bytes = substr($bytes, $half);
		}

		$send->($bytes) or return;
	}

	# cut: half a record, and no last chunk
	$send->(substr(format_record($q{fmt}, 'seq=0 cut=1'), 0, 8)) if $q{cut};

	# the last chunk ends the response: a hold after it keeps only the connection open
	$client->syswrite("0\x0d\x0a\x0d\x0a") if $q{chunked} && !$q{cut};
	$wait->($q{hold}) or return;
	close $client;
}

# Sleeps for $secs unless the peer closes the connection first; false if it did.

sub wait_open {
	my ($sock, $secs) = @_;
	my $end = time() + $secs;
	my $sel = IO::Select->new($sock);

	while ((my $left = $end - time()) > 0) {
		next unless $sel->can_read($left);
		my $n = $sock->sysread(my $buf, 4096);
		return 0 unless $n;
	}

	return 1;
}

sub log_line {
	my ($log, $line) = @_;
	return unless defined $log;
	open my $fh, '>>', $log or return;
	print $fh "$line\n";
	close $fh;
}

sub format_record {
	my ($fmt, $record, $pad) = @_;

	if ($fmt eq 'fixed') {
		my ($seq) = $record =~ /seq=(\d+)/;
		return "seq=$seq " . ('x' x ($pad // 0)) . "\x0a";
	}

	$record .= ' ' . ('x' x $pad) if $pad;

	if ($fmt eq 'ndjson') {
		my @f = $record =~ /(\w+)=(\S+)/g;
		my @pairs;
		push @pairs, sprintf('"%s":%s', splice(@f, 0, 2)) while @f;
		return '{' . join(',', @pairs) . "}\x0a";
	}

	return "$record\x0a" if $fmt eq 'line';

	my ($seq) = $record =~ /seq=(\d+)/;
	return "id: $seq\x0adata: $record\x0a\x0a";
}

sub unescape {
	my ($s) = @_;
	$s =~ tr/+/ /;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	return $s;
}

###############################################################################

# The client: curl, the way users test their streams, with -N so it writes each piece as it
# arrives. Options:
#
#   port    => port(8080)   server port (a real port number, already mapped)
#   ssl     => 0            https://, certificate not verified
#   http2   => 0            HTTP/2 (over TLS when ssl is set)
#   gzip    => 0            ask for gzip and decode it (curl --compressed)
#   method  => 'GET'        e.g. HEAD
#   headers => []           extra request header lines
#   body    => undef        request body (a POST unless method says otherwise)
#   timeout => 10           seconds before giving up
#
# Returns { status, headers => { lowercase name => value }, raw_headers, body, records => [
# { seq, sent, req, arrived, delay_ms } ], elapsed, headers_ms (when the response header
# arrived, ms after the request started), exit (curl's exit code) }.

sub sse_get {
	my ($uri, %opts) = @_;
	return sse_finish(sse_start($uri, %opts));
}

# sse_start() starts the request and returns at once; sse_finish() reads it to the end. Records
# are timed when read, so only streams read by sse_get() have meaningful delays.

sub sse_start {
	my ($uri, %opts) = @_;

	my $port = $opts{port} // port(8080);
	my $scheme = $opts{ssl} ? 'https' : 'http';
	# curl holds the response header until body data comes; when it arrived, curl tells at
	# the end (first byte of the response), after a marker line sse_finish() takes away
	my @cmd = ('curl', '-s', '-N', '-i', '-k', '--max-time', $opts{timeout} // 10,
		'-w', '\nSSE-CURL-TTFB=%{time_starttransfer}\n');
	push @cmd, $opts{http2}
		? ($opts{ssl} ? '--http2' : '--http2-prior-knowledge')
		: '--http1.1';
	push @cmd, '--compressed' if $opts{gzip};
	push @cmd, '-X', $opts{method} if $opts{method} && $opts{method} ne 'HEAD';
	push @cmd, '-I' if ($opts{method} // '') eq 'HEAD';
	push @cmd, '-H', $_ for @{$opts{headers} // []};
	push @cmd, '--data-binary', $opts{body} if defined $opts{body};
	push @cmd, "$scheme://127.0.0.1:$port$uri";

	my $start = time();
	my $pid = open(my $fh, '-|', @cmd) or die "Can't run curl: $!\n";

	return { fh => $fh, pid => $pid, start => $start, timeout => $opts{timeout} // 10,
		again => sub { sse_get($uri, %opts) } };
}

sub sse_finish {
	my ($req) = @_;
	my ($fh, $start) = @$req{qw/ fh start /};

	my $sel = IO::Select->new($fh);
	my ($out, $head_len, @records, %seen) = ('');

	# curl's --max-time bounds the whole transfer; silence is waited out up to that
	while ($sel->can_read($req->{timeout} + 5)) {
		my $n = sysread($fh, $out, 65536, length $out);
		last unless $n;
		my $now = time();

		# curl prints interim and final headers; the body starts after the last block
		# that begins with a status line.
		unless (defined $head_len) {
			while ($out =~ /\G(HTTP\/[\d.]+ (\d+)[^\x0a]*\x0a(?:[^\x0a]+\x0a)*?\x0d?\x0a)/gc) {
				$head_len = pos($out) if $2 >= 200;
			}
			next unless defined $head_len;
		}

		my $body = substr($out, $head_len);
		while ($body =~ /seq\W+(\d+)\W+sent\W+([\d.]+)\W+req\W+(\d+)[^\x0a]*\x0a/g) {
			next if $seen{"$1 $3"}++;
			push @records, { seq => $1, sent => $2, req => $3, arrived => $now,
				delay_ms => ($now - $2) * 1000 };
		}
	}

	close $fh;
	my $exit = $? >> 8;

	my $ttfb;
	$ttfb = $1 if $out =~ s/\x0aSSE-CURL-TTFB=([\d.]+)\x0a\z//;

	# exit: curl's exit code; 18 means the transfer ended before the response did
	my %res = (records => \@records, elapsed => time() - $start, raw => $out,
		exit => $exit, again => $req->{again});
	$res{headers_ms} = $ttfb * 1000 if defined $ttfb && $ttfb > 0;
	return \%res unless defined $head_len;

	my @blocks = split /\x0d?\x0a\x0d?\x0a/, substr($out, 0, $head_len);
	$res{raw_headers} = $blocks[-1];
	($res{status}) = $res{raw_headers} =~ m{^HTTP/[\d.]+ (\d+)};
	for my $line (split /\x0d?\x0a/, $res{raw_headers}) {
		my ($k, $v) = $line =~ /^([^:\s]+):\s*(.*)$/ or next;
		$k = lc $k;
		$res{headers}{$k} = exists $res{headers}{$k} ? "$res{headers}{$k}, $v" : $v;
	}
	$res{body} = substr($out, $head_len);

	return \%res;
}

# The HTTP/3 client: backends/h3_get.py (aioquic) in the tests' Python environment, which
# prints each piece of the response as it arrives, with its arrival time. Options: port
# (a real UDP port), timeout (10), headers ([]), python (the interpreter: by default
# target/venv/bin/python of the repository). Returns what sse_get() returns, with the 1xx
# header blocks in {interim} ([ { status, headers } ]) and {end}: how it ended (end, reset,
# closed, timeout, error).

sub h3_get {
	my ($uri, %opts) = @_;
	require JSON::PP;

	my $python = $opts{python} // h3_python();
	my $script = File::Spec->rel2abs($INC{'Test/Nginx/SSE.pm'});
	$script =~ s{lib/Test/Nginx/SSE\.pm$}{backends/h3_get.py};

	my @cmd = ($python, $script, '--timeout', $opts{timeout} // 10,
		(map { ('--header', $_) } @{$opts{headers} // []}),
		"https://127.0.0.1:$opts{port}$uri");

	my $start = time();
	open(my $fh, '-|', @cmd) or die "Can't run $python: $!\n";

	my (%res, @records, %seen, $body, $final) = ();
	$res{interim} = [];
	$res{end} = 'none';
	$res{again} = sub { h3_get($uri, %opts) };

	while (my $line = <$fh>) {
		my $ev = eval { JSON::PP::decode_json($line) } or next;

		if ($ev->{type} eq 'headers') {
			my %h;
			for (@{$ev->{headers}}) {
				my ($k, $v) = @$_;
				$h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
			}
			my $status = delete $h{':status'} // 0;
			if (!$final && $status < 200) {
				push @{$res{interim}}, { status => $status, headers => \%h };
			} elsif (!$final) {
				$final = 1;
				@res{qw/ status headers /} = ($status, \%h);
				$res{headers_ms} = ($ev->{t} - $start) * 1000;
				$body = '';
			}

		} elsif ($ev->{type} eq 'data' && $final) {
			$body .= $ev->{data};
			while ($body =~ /seq\W+(\d+)\W+sent\W+([\d.]+)\W+req\W+(\d+)[^\x0a]*\x0a/g) {
				next if $seen{"$1 $3"}++;
				push @records, { seq => $1, sent => $2, req => $3,
					arrived => $ev->{t}, delay_ms => ($ev->{t} - $2) * 1000 };
			}

		} elsif ($ev->{type} ne 'data' && $ev->{type} ne 'connected') {
			$res{end} = $ev->{type};
			$res{error} = $ev->{error} // $ev->{reason};
		}
	}

	close $fh;
	$res{exit} = $? >> 8;
	$res{elapsed} = time() - $start;
	$res{records} = \@records;
	$res{body} = $body;

	return \%res;
}

# The Python of the tests' environment (scripts/build/venv.sh), if it has aioquic; else undef.

sub h3_python {
	my $lib = $INC{'Test/Nginx/SSE.pm'};
	my $python = File::Spec->rel2abs($lib);
	$python =~ s{t/lib/Test/Nginx/SSE\.pm$}{target/venv/bin/python};
	return undef unless -x $python;
	return undef if system($python, '-c', 'import aioquic') != 0;
	return $python;
}

# A client whose host loses the connection without a word, as behind a NAT that forgot it or
# on a phone that changed networks: no FIN is sent, and whatever nginx sends next is answered
# with a reset. It reads the response up to $opts{after} records (1), then vanishes and waits
# up to $opts{wait} seconds (5) for nginx to send anything more.
#
# Returns { req (the upstream request it was served by), vanished, reset (undef if nothing
# came), closed (when it reset the connection: just before) }.

sub sse_vanish {
	my ($uri, %opts) = @_;
	my $after = $opts{after} // 1;

	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1:' . ($opts{port} // port(8080)),
		Proto => 'tcp'
	) or die "Can't connect to nginx: $!\n";

	$s->syswrite("GET $uri HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a\x0d\x0a");

	my ($buf, $sel) = ('', IO::Select->new($s));
	my @reqs;
	while ($sel->can_read(10)) {
		last unless $s->sysread($buf, 65536, length $buf);
		@reqs = $buf =~ /seq\W+\d+\W+sent\W+[\d.]+\W+req\W+(\d+)/g;
		last if @reqs >= $after;
	}

	my %res = (req => $reqs[0], vanished => time());

	$res{reset} = time() if $sel->can_read($opts{wait} // 5);

	# reset either way, when something came or when the wait is over
	$res{closed} = time();
	setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
	close $s;

	return \%res;
}

# When the upstream saw nginx close its connection for upstream request $req (sse_daemon's
# log, which may take a moment to be written), or undef.

sub upstream_closed {
	my ($log, $req) = @_;
	my $end = time() + 3;

	while (time() < $end) {
		if (open my $fh, '<', $log) {
			my ($closed) = map { /^req=\Q$req\E closed=([\d.]+)$/ ? $1 : () } <$fh>;
			return $closed if defined $closed;
		}
		sleep(0.05);
	}

	return undef;
}

###############################################################################

sub delays {
	my ($res) = @_;
	return map { sprintf('%.0f', $_->{delay_ms}) } @{$res->{records}};
}

sub summary {
	my ($res) = @_;
	return sprintf('status %s, %d records, delays ms: %s', $res->{status} // 'none',
		scalar @{$res->{records}}, join(' ', delays($res)) || 'none');
}

# Every record arrived, in order, within $LIVE_MS of being sent.
sub live {
	my ($res, %opts) = @_;
	my $n = $opts{n} // 3;
	my $limit = $opts{ms} // $LIVE_MS;
	my @r = @{$res->{records}};

	return 0 unless @r == $n;
	return 0 if grep { $r[$_]{seq} != $_ + 1 } 0 .. $#r;
	return 0 if grep { $_->{delay_ms} > $limit } @r;
	return 1;
}

# All records arrived, but the first only once the stream was nearly over: nginx buffered it.
sub held {
	my ($res, %opts) = @_;
	my $n = $opts{n} // 3;
	my @r = @{$res->{records}};

	return 0 unless @r == $n;
	return $r[0]{delay_ms} >= ($opts{ms} // $HELD_MS) ? 1 : 0;
}

# Assertions: a streaming case and its control.

# On a shared machine a stream can be late once for reasons of its own (a process not
# scheduled in time); a stream that is not live is requested once more, and the diagnostics
# say so. A buffered stream is late every time: it fails both.

sub streams_ok {
	my ($res, $name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	if (!live($res, %opts) && $res->{again}) {
		Test::More::diag("$name: not live (" . summary($res) . '), once more');
		$res = $res->{again}->();
	}

	Test::More::ok(live($res, %opts), $name) or Test::More::diag(summary($res));
}

sub held_ok {
	my ($res, $name, %opts) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	Test::More::ok(held($res, %opts) && !live($res, %opts), $name)
		or Test::More::diag(summary($res));
}

# Builds the daemon's query string: query(ct => 'text/plain', h => ['A: b', 'C: d']).
sub query {
	my (@args) = @_;
	my @pairs;
	while (my ($k, $v) = splice(@args, 0, 2)) {
		push @pairs, map { "$k=" . escape($_) } ref $v ? @$v : $v;
	}
	return '?' . join('&', @pairs);
}

sub escape {
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

###############################################################################

sub make_cert {
	my ($t, $name) = @_;
	$name //= 'localhost';
	my $d = $t->testdir();

	$t->write_file('openssl.conf', <<EOF);
[ req ]
default_bits = 2048
encrypt_key = no
distinguished_name = req_distinguished_name
[ req_distinguished_name ]
EOF

	system('openssl req -x509 -new '
		. "-config $d/openssl.conf -subj /CN=$name/ "
		. "-out $d/$name.crt -keyout $d/$name.key "
		. ">>$d/openssl.out 2>&1") == 0
		or die "Can't create certificate for $name: $!\n";
}

###############################################################################

1;
