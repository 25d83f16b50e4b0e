package Test::Nginx::LoadTest;

# `nginx -t` of a throwaway configuration that loads a module and uses one of its directives,
# in a temporary prefix (its own error log and pid file): for tests of which module loads into
# which binary (t/forks/).

use warnings;
use strict;

use Exporter qw/ import /;
use File::Temp qw/ tempdir /;

our @EXPORT_OK = qw/ nginx_t /;

# exit code and output of `$nginx -t` with load_module $so
sub nginx_t {
	my ($nginx, $so) = @_;
	my $d = tempdir('sse-load-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
	mkdir "$d/logs";
	open my $fh, '>', "$d/nginx.conf" or die "Can't write $d/nginx.conf: $!\n";
	print $fh <<"EOF";
load_module $so;
error_log $d/error.log;
pid $d/nginx.pid;
events {
}
http {
    access_log off;
    sse_auto on;
    server {
        listen 127.0.0.1:8080;
        location / {
            proxy_pass http://127.0.0.1:8081;
        }
    }
}
EOF
	close $fh;
	my $out = `$nginx -p $d/ -c $d/nginx.conf -e $d/error.log -t 2>&1`;
	return ($? >> 8, $out);
}

1;
