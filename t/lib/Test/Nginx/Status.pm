package Test::Nginx::Status;

# Helpers of the sse_auto_status tests: reading the metrics, holding streams open, and
# checking the two representations with real parsers.

###############################################################################

use warnings;
use strict;

use base qw/ Exporter /;

use File::Spec;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw/ time sleep /;

use Test::Nginx qw/ port http /;

our @EXPORT_OK = qw/ metrics metrics_json metric hold_open wait_until parsers_python
	parsers_check /;
our %EXPORT_TAGS = (all => \@EXPORT_OK);

###############################################################################

# The whole response of a GET for $uri (/status by default) with extra request headers.

sub status_response {
	my ($uri, @headers) = @_;
	my $extra = join '', map { "$_\x0d\x0a" } @headers;
	return http("GET $uri HTTP/1.0\x0d\x0aHost: localhost\x0d\x0a$extra\x0d\x0a",
		PeerAddr => '127.0.0.1:' . port(8080));
}

# The Prometheus text of $uri (/status): { 'name{labels}' => value, '' => the text }.

sub metrics {
	my ($uri) = @_;
	my $r = status_response($uri // '/status', 'Accept: text/plain');
	my ($body) = $r =~ /\x0d\x0a\x0d\x0a(.*)\z/s;
	my %m = ('' => $body // '');
	for my $line (split /\x0a/, $body // '') {
		next if $line =~ /^#/;
		my ($k, $v) = $line =~ /^(\S+) (\S+)$/ or next;
		$m{$k} = $v;
	}
	return \%m;
}

# The JSON of $uri (/status?format=json), decoded; undef when it does not parse.

sub metrics_json {
	my ($uri) = @_;
	my $r = status_response($uri // '/status?format=json');
	my ($body) = $r =~ /\x0d\x0a\x0d\x0a(.*)\z/s;
	return eval { decode_json($body // '') };
}

# One series of metrics(): metric($m, 'sse_auto_streams_open', decision => 'switched').

sub metric {
	my ($m, $name, %labels) = @_;
	my $l = join ',', map { "$_=\"$labels{$_}\"" } sort keys %labels;
	return $m->{$l ? "$name\{$l\}" : $name};
}

# Opens $n requests for $uri and returns their sockets once each has its response header
# (or after 10 seconds).

sub hold_open {
	my ($uri, $n, %opts) = @_;
	my @socks;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(
			PeerAddr => '127.0.0.1:' . ($opts{port} // port(8080)),
			Proto => 'tcp'
		) or die "Can't connect to nginx: $!\n";
		$s->syswrite("GET $uri HTTP/1.1\x0d\x0aHost: localhost\x0d\x0a"
			. "Connection: close\x0d\x0a\x0d\x0a");
		push @socks, $s;
	}
	my $end = time() + 10;
	for my $s (@socks) {
		my ($buf, $sel) = ('', IO::Select->new($s));
		while ($buf !~ /\x0d\x0a\x0d\x0a/ && $sel->can_read($end - time())) {
			last unless $s->sysread($buf, 65536, length $buf);
		}
		${*$s}{received} = $buf;
	}
	return @socks;
}

# Calls $cond until it returns true, for up to $secs seconds (5); returns its last value.

sub wait_until {
	my ($cond, $secs) = @_;
	my $end = time() + ($secs // 5);
	my $v;
	until ($v = $cond->()) {
		last if time() > $end;
		sleep(0.05);
	}
	return $v;
}

# The Python of the tests' environment (scripts/build/venv.sh) if it has prometheus_client.

sub parsers_python {
	my $python = File::Spec->rel2abs($INC{'Test/Nginx/Status.pm'});
	$python =~ s{t/lib/Test/Nginx/Status\.pm$}{target/venv/bin/python};
	return undef unless -x $python;
	return undef if system($python, '-c', 'import prometheus_client') != 0;
	return $python;
}

# Runs backends/metrics_check.py on the Prometheus text and the JSON of the status location,
# fetched one right after the other; with $parse_only, while counters may move in between, the
# numbers are not compared. Returns its output.

sub parsers_check {
	my ($python, $dir, $parse_only) = @_;
	my $script = File::Spec->rel2abs($INC{'Test/Nginx/Status.pm'});
	$script =~ s{lib/Test/Nginx/Status\.pm$}{backends/metrics_check.py};
	my $prom = metrics()->{''};
	my ($json) = status_response('/status?format=json') =~ /\x0d\x0a\x0d\x0a(.*)\z/s;
	for ([ 'metrics.txt', $prom ], [ 'metrics.json', $json // '' ]) {
		open my $fh, '>', "$dir/$_->[0]" or die "Can't write $dir/$_->[0]: $!\n";
		print $fh $_->[1];
		close $fh;
	}
	my $flag = $parse_only ? '--parse-only' : '';
	my $out = `$python $script $flag $dir/metrics.txt $dir/metrics.json 2>&1`;
	chomp $out;
	return $out;
}

###############################################################################

1;

###############################################################################
