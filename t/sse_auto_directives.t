#!/usr/bin/perl

# Tests for sse_auto: invalid directive values fail "nginx -t" with the directive's name and
# the file and line, and valid ones pass.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/http rewrite/);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    sse_auto on;
    sse_auto_types application/x-ndjson text/plain;
    sse_auto_unsized_types none;
    sse_auto_downstream_hint on;

    server {
        listen       127.0.0.1:8080;
        server_name  localhost;
    }
}

EOF

$t->run()->plan(69);

# Each case: the directives, placed in "location /" of a configuration file of its own, and
# what "nginx -t" must say about them.

my @cases = (
	[ 'sse_auto maybe;',
		qr/invalid value "maybe" in "sse_auto" directive, it must be "on" or "off"/ ],
	[ 'sse_auto;', qr/invalid number of arguments in "sse_auto" directive/ ],
	[ 'sse_auto on off;', qr/invalid number of arguments in "sse_auto" directive/ ],
	[ 'sse_auto_types;', qr/invalid number of arguments in "sse_auto_types" directive/ ],
	[ 'sse_auto_types text;', qr/invalid media type "text" in "sse_auto_types" directive/ ],
	[ 'sse_auto_types "";', qr/invalid media type "" in "sse_auto_types" directive/ ],
	[ 'sse_auto_types "text/plain; charset=utf-8";',
		qr/invalid media type "text\/plain; charset=utf-8" in "sse_auto_types"/ ],
	[ 'sse_auto_types text/plain */*;',
		qr/invalid media type "\*\/\*" in "sse_auto_types" directive/ ],
	[ 'sse_auto_types text/*;', qr/invalid media type "text\/\*" in "sse_auto_types"/ ],
	[ 'sse_auto_types text/plain; sse_auto_types application/x-ndjson;',
		qr/"sse_auto_types" directive is duplicate/ ],
	[ 'sse_auto_unsized_types;',
		qr/invalid number of arguments in "sse_auto_unsized_types" directive/ ],
	[ 'sse_auto_unsized_types text/plain text;',
		qr/invalid media type "text" in "sse_auto_unsized_types" directive/ ],
	[ 'sse_auto_unsized_types text/*;',
		qr/invalid media type "text\/\*" in "sse_auto_unsized_types" directive/ ],
	[ 'sse_auto_unsized_types off text/plain;',
		qr/"off" cannot be combined with media types in "sse_auto_unsized_types" directive/ ],
	[ 'sse_auto_unsized_types none off;',
		qr/"off" cannot be combined with media types in "sse_auto_unsized_types" directive/ ],
	[ 'sse_auto_unsized_types off; sse_auto_unsized_types none;',
		qr/"sse_auto_unsized_types" directive is duplicate/ ],
	[ 'if ($arg_x) { sse_auto_unsized_types off; }',
		qr/"sse_auto_unsized_types" directive is not allowed here/ ],
	[ 'sse_auto_soft maybe;',
		qr/invalid value "maybe" in "sse_auto_soft" directive, it must be "on" or "off"/ ],
	[ 'sse_auto_soft_idle soon;', qr/"sse_auto_soft_idle" directive invalid value/ ],
	[ 'sse_auto_soft_hold 1s 2s;',
		qr/invalid number of arguments in "sse_auto_soft_hold" directive/ ],
	[ 'sse_auto_soft_hold 1s; sse_auto_soft_hold 2s;',
		qr/"sse_auto_soft_hold" directive is duplicate/ ],
	[ 'sse_auto_downstream_hint yes;',
		qr/invalid value "yes" in "sse_auto_downstream_hint" directive/ ],
	[ 'sse_auto_read_timeout forever;',
		qr/"sse_auto_read_timeout" directive invalid value/ ],
	[ 'sse_auto_read_timeout 1s 2s;',
		qr/invalid number of arguments in "sse_auto_read_timeout" directive/ ],
	[ 'sse_auto_heartbeat never;', qr/"sse_auto_heartbeat" directive invalid value/ ],
	[ 'sse_auto_heartbeat off; sse_auto_heartbeat 15s;',
		qr/"sse_auto_heartbeat" directive is duplicate/ ],
	[ 'sse_auto_drain soon;', qr/"sse_auto_drain" directive invalid value/ ],
	[ 'if ($arg_x) { sse_auto_types text/plain; }',
		qr/"sse_auto_types" directive is not allowed here/ ],
	[ 'sse_auto_status on;', qr/invalid number of arguments in "sse_auto_status" directive/ ],
	[ 'sse_auto_status; sse_auto_status;', qr/"sse_auto_status" directive is duplicate/ ],
	[ 'proxy_pass http://127.0.0.1:8081; sse_auto_status;',
		qr/"sse_auto_status" cannot be combined with another content handler/ ],
	[ 'if ($arg_x) { sse_auto_status; }',
		qr/"sse_auto_status" directive is not allowed here/ ],
);

my $i = 0;

for my $case (@cases) {
	my ($directives, $error) = @$case;
	my $name = 'bad' . $i++ . '.conf';
	my ($rc, $out, $line) = nginx_t($t, $name, $directives);

	like($out, qr/\[emerg\] $error.* in \Q${\ $t->testdir()}\E\/$name:$line$/m,
		"$directives: error with file:line");
	isnt($rc, 0, "$directives: fails");
}

# the same file with valid values passes

my ($rc, $out) = nginx_t($t, 'good.conf', 'sse_auto on; sse_auto_types application/x-ndjson '
	. 'text/plain; sse_auto_downstream_hint off; sse_auto_read_timeout 2h; '
	. 'sse_auto_heartbeat 15s; sse_auto_drain off; '
	. 'sse_auto_unsized_types text/plain Text/X-Component none text/plain; '
	. 'sse_auto_soft on; sse_auto_soft_idle 100ms; sse_auto_soft_hold 2s; '
	. 'if ($arg_x) { sse_auto off; }');
is($rc, 0, 'valid values pass') or diag($out);

($rc, $out) = nginx_t($t, 'good-off.conf', 'sse_auto_unsized_types off;');
is($rc, 0, 'sse_auto_unsized_types off passes') or diag($out);

# sse_auto_status is a location's

($rc, $out) = nginx_t($t, 'status.conf', 'sse_auto_status;');
is($rc, 0, 'sse_auto_status in a location passes') or diag($out);

# sse_auto outside http

my $line;
($rc, $out, $line) = nginx_t($t, 'main.conf', '', main => 'sse_auto on;');
like($out, qr/"sse_auto" directive is not allowed here in \S+main.conf:$line$/m,
	'sse_auto outside http');

# without load_module the directive is unknown: what users see when the module is not loaded

($rc, $out) = nginx_t($t, 'stock.conf', 'sse_auto on;', stock => 1);
like($out, qr/unknown directive "sse_auto" in \S+stock.conf:\d+$/m,
	'module not loaded: unknown directive');

###############################################################################

# Writes a configuration with the directives in "location /" (or "main" ones at the top
# level) and runs "nginx -t"; returns its exit code, its output, and the directives' line.

sub nginx_t {
	my ($t, $name, $directives, %opts) = @_;
	my $main = $opts{main} // '';
	my $globals = $opts{stock} ? '' : '%%TEST_GLOBALS%%';

	$t->write_file_expand($name, <<"EOF");
$globals
$main
daemon off;
events {
}
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:8080;
        server_name localhost;
        location / {
            $directives
        }
    }
}
EOF

	my $d = $t->testdir();
	# -e since nginx 1.19.5; before it the startup log is logs/error.log
	my $e = $t->has_version('1.19.5') ? "-e $d/t.log" : '';
	mkdir "$d/logs";
	my $out = `$Test::Nginx::NGINX -t -p $d/ -c $d/$name $e 2>&1`;
	my $rc = $? >> 8;

	# the directives' line; write_file_expand may have given a port another number (taken)
	my $probe = join('\d+', map { quotemeta } split /(?<=127\.0\.0\.1:)\d+/, $main || $directives);
	my @lines = split /\n/, $t->read_file($name);
	my ($line) = grep { $lines[$_ - 1] =~ /$probe/ } 1 .. @lines;

	return ($rc, $out, $line);
}

###############################################################################
