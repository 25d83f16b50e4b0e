#!/usr/bin/env bash
# sse_auto demo: runs the bundled SSE backend and nginx with the module, side by side with a
# location that switches it off, and serves a page that shows both streams at once.
#
#   ./examples/demo/run.sh            run until Ctrl-C, then stop everything and clean up
#   ./examples/demo/run.sh --check    (or DEMO_CHECK=1) fetch both streams with curl, compare
#                                     the arrival times, read /sse_auto_status meanwhile, stop;
#                                     exit 1 unless /on/ is live, /off/ is held and the module
#                                     counts /on/'s stream as open
#
# Environment: NGINX, MODULE (default: from `make -s paths` at the repo root), DEMO_PORT (8090),
# DEMO_BACKEND_PORT (8091), PYTHON (python3), DEMO_CHECK_COUNT (4), DEMO_CHECK_INTERVAL (0.5).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

check=${DEMO_CHECK:-0}
[ "$check" = 0 ] || check=1
for arg in "$@"; do
    case $arg in
        --check) check=1 ;;
        -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

port=${DEMO_PORT:-8090}
backend_port=${DEMO_BACKEND_PORT:-8091}
python=${PYTHON:-python3}
check_count=${DEMO_CHECK_COUNT:-4}
check_interval=${DEMO_CHECK_INTERVAL:-0.5}

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

if [ -z "${NGINX:-}" ] || [ -z "${MODULE:-}" ]; then
    paths=$(cd "$repo" && make -s paths) || die "make paths failed; build first with: make build"
    [ -n "${NGINX:-}" ] || NGINX=$(printf '%s\n' "$paths" | sed -n 's/^nginx=//p')
    [ -n "${MODULE:-}" ] || MODULE=$(printf '%s\n' "$paths" | sed -n 's/^module=//p')
fi
[ -x "$NGINX" ] || die "no nginx binary at '$NGINX' (set NGINX=...)"
[ -f "$MODULE" ] || die "no module at '$MODULE' (set MODULE=...)"
NGINX=$(cd "$(dirname "$NGINX")" && pwd)/$(basename "$NGINX")
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")
# nginx itself reads $NGINX (sockets inherited across a binary upgrade) and would log
# "[emerg] invalid socket number" on seeing a path there: keep it out of nginx's environment.
nginx_bin=$NGINX
unset NGINX
command -v "$python" >/dev/null || die "$python not found (set PYTHON=...)"
# The interpreter itself, not a wrapper (a pyenv shim, say) that would outlive a SIGTERM.
python=$("$python" -c 'import sys; print(sys.executable)') && [ -x "$python" ] ||
    die "cannot run $python (set PYTHON=...)"
command -v curl >/dev/null || die "curl not found"

# True when something accepts connections on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# True while process $1 runs (a zombie, exited but not yet reaped, does not count).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }

for p in "$port" "$backend_port"; do
    ! listening "$p" || die "port $p on 127.0.0.1 is already in use (set DEMO_PORT / DEMO_BACKEND_PORT)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sse-auto-demo.XXXXXX") || die "mktemp failed"
# nginx workers run as "nobody" when the demo runs as root: let them into the temp paths.
chmod 755 "$tmp"
nginx_pid=
backend_pid=

# Stops process $1 with SIGTERM, then SIGKILL after ~5 s, and reaps it.
stop() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        pkill -KILL -P "$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
}

cleanup() {
    trap - INT TERM EXIT
    stop "$nginx_pid"   # fast shutdown: open event streams must not keep it waiting
    stop "$backend_pid"
    nginx_pid= backend_pid=
    rm -rf "$tmp"
}

show_logs() {
    local f
    for f in "$tmp/error.log" "$tmp/backend.log"; do
        [ -s "$f" ] || continue
        say "--- $(basename "$f") (last lines)" >&2
        tail -n 15 "$f" >&2
    done
}

on_signal() {
    say ""
    say "stopping nginx and the backend..."
    cleanup
    if [ "$check" = 1 ]; then exit 130; fi
    say "stopped."
    exit 0
}
trap on_signal INT TERM
trap cleanup EXIT

if [ "$check" = 1 ]; then
    access_log=$tmp/access.log
else
    # The access log goes to our stdout. nginx opens it anew in append mode: when stdout is a
    # file, append too, or our own messages would overwrite its lines.
    access_log=/dev/stdout
    if [ -f /dev/stdout ]; then exec >>/dev/stdout; fi
fi
esc() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }
sed -e "s|@MODULE@|$(esc "$MODULE")|g" \
    -e "s|@PREFIX@|$(esc "$tmp")|g" \
    -e "s|@PORT@|$(esc "$port")|g" \
    -e "s|@BACKEND_PORT@|$(esc "$backend_port")|g" \
    -e "s|@HTML_DIR@|$(esc "$here")|g" \
    -e "s|@ACCESS_LOG@|$(esc "$access_log")|g" \
    "$here/nginx.conf.in" >"$tmp/nginx.conf" || die "cannot write $tmp/nginx.conf"

nginx_args=(-p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log")
if ! "$nginx_bin" "${nginx_args[@]}" -t -q 2>"$tmp/test.log"; then
    cat "$tmp/test.log" >&2
    die "nginx rejected the configuration ($tmp/nginx.conf)"
fi

"$python" -u "$here/backend.py" "$backend_port" </dev/null >"$tmp/backend.log" 2>&1 &
backend_pid=$!
"$nginx_bin" "${nginx_args[@]}" </dev/null &
nginx_pid=$!

# Wait (up to 10 s) until both answer.
for i in $(seq 100); do
    alive "$backend_pid" || { show_logs; die "the backend exited during startup"; }
    alive "$nginx_pid" || { show_logs; die "nginx exited during startup"; }
    if listening "$backend_port" && listening "$port"; then break; fi
    [ "$i" -lt 100 ] || { show_logs; die "nginx or the backend did not start listening within 10 s"; }
    sleep 0.1
done

base=http://127.0.0.1:$port
page_status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/")
if [ "$page_status" != 200 ]; then
    say "run.sh: warning: GET $base/ answered $page_status; is $here/index.html readable by nginx's workers?" >&2
    [ "$check" = 0 ] || { show_logs; die "the page is not served"; }
fi

if [ "$check" = 0 ]; then
    say ""
    say "  sse_auto demo:  $base/"
    say ""
    say "  Open it in a browser: the same SSE stream through nginx twice, left with 'sse_auto off;'"
    say "  (events arrive all at once at the end), right with a plain proxy_pass (events arrive live)."
    say "  Ctrl-C stops nginx and the backend.  Access log (sse_auto=\"...\" is \$sse_auto):"
    say ""
    while :; do
        wait -n "$nginx_pid" "$backend_pid"
        # Only reached when a child exits by itself (a signal runs on_signal instead).
        if ! alive "$nginx_pid" || ! alive "$backend_pid"; then break; fi
    done
    alive "$nginx_pid" || say "run.sh: nginx exited unexpectedly" >&2
    alive "$backend_pid" || say "run.sh: the backend exited unexpectedly" >&2
    show_logs
    exit 1
fi

# ---- check mode -------------------------------------------------------------------------------

# Microseconds since the epoch (bash 5's EPOCHREALTIME, or GNU date).
if [ -n "${EPOCHREALTIME:-}" ]; then
    now_us() { local t=${EPOCHREALTIME//[!0-9]/}; printf '%s' "$((10#$t))"; }
else
    now_us() { date +%s%6N; }
fi

# Fetches $base/$1/events and writes "<ms since the request started> <line>" for each event line.
fetch() {
    local name=$1 t0 line
    t0=$(now_us)
    curl -sN --max-time 60 -H 'Accept: text/event-stream' -D "$tmp/$name.headers" \
        "$base/$name/events?count=$check_count&interval=$check_interval" |
    while IFS= read -r line; do
        case $line in
            data:*|event:*) printf '%s %s\n' "$(( ($(now_us) - t0) / 1000 ))" "$line" ;;
        esac
    done >"$tmp/$name.lines"
}

# Reads the module's open-stream gauges from the JSON on stdin: prints
# "<all open> <switched> <unsized> <unbuffered>", or nothing when it is not that JSON.
open_streams() {
    "$python" -c '
import json, sys
o = json.load(sys.stdin)["streams_open"]
print(sum(int(v) for v in o.values()), *(int(o.get(k, 0)) for k in ("switched", "unsized", "unbuffered")))
' 2>/dev/null
}

# Asks /sse_auto_status while /on/'s stream is open (once its first event is in, which the
# backend sends at once): prints what open_streams prints, "unavailable" when the answer is
# not the metrics, or "ended" when /on/ was over before it could ask (then nothing is measured).
sample_open() {
    local i json
    for i in $(seq 200); do
        grep -q '^[0-9]* data:' "$tmp/on.lines" 2>/dev/null && break
        alive "$on_fetch" || break
        sleep 0.05
    done
    if ! alive "$on_fetch" || grep -q 'event: done' "$tmp/on.lines" 2>/dev/null; then
        echo ended
        return
    fi
    json=$(curl -s --max-time 5 "$base/sse_auto_status?format=json")
    printf '%s' "$json" | open_streams | grep . || echo unavailable
}

say "check: $check_count events, $check_interval s apart; fetching /on/events and /off/events at the same time..."
fetch on & on_fetch=$!
fetch off & off_fetch=$!
metrics=$(sample_open)
wait "$on_fetch" "$off_fetch"

header() { # header <name> <file>: the value of the response header, or "-"
    local v
    v=$(tr -d '\r' <"$2" | sed -n "s/^$1: *//Ip" | tail -n 1)
    printf '%s' "${v:--}"
}
logged() { # the $sse_auto value nginx logged for /<name>/events
    local v
    v=$(sed -n "s|.*\"GET /$1/events[^\"]*\" [0-9]* sse_auto=\"\([^\"]*\)\".*|\1|p" "$tmp/access.log" 2>/dev/null | tail -n 1)
    printf '"%s"' "$v"
}

# Prints "<received> <first arrival ms> <max lateness ms> <arrivals in s...>" for a .lines file:
# lateness is how long after its scheduled send time ((seq - 1) * interval) an event arrived.
summarize() {
    awk -v interval="$check_interval" '
        $2 == "event:" && $3 == "done" { done = 1; next }
        $2 == "data:" && !done {
            seq = $3; sub(/.*"seq":/, "", seq); sub(/[^0-9].*/, "", seq)
            n++; if (n == 1) first = $1
            late = $1 - (seq - 1) * interval * 1000; if (late > max) max = late
            arr = arr sprintf(" %.2f", $1 / 1000)
        }
        END { printf "%d %d %d%s\n", n, (n ? first : -1), max, arr }
    ' "$1"
}

read -r on_n on_first on_late on_arr <<<"$(summarize "$tmp/on.lines")"
read -r off_n off_first off_late off_arr <<<"$(summarize "$tmp/off.lines")"
on_done=$(grep -c 'event: done' "$tmp/on.lines")
off_done=$(grep -c 'event: done' "$tmp/off.lines")

printf '  %-22s events at %s s   X-Accel-Buffering: %s   $sse_auto=%s\n' \
    "/on/  (default)" "${on_arr:-(none)}" "$(header X-Accel-Buffering "$tmp/on.headers")" "$(logged on)"
printf '  %-22s events at %s s   X-Accel-Buffering: %s   $sse_auto=%s\n' \
    "/off/ (sse_auto off)" "${off_arr:-(none)}" "$(header X-Accel-Buffering "$tmp/off.headers")" "$(logged off)"
fmt_s() { awk -v ms="$1" 'BEGIN { if (ms < 0) print "never"; else printf "after %.1fs\n", ms / 1000 }'; }
say "on: first event $(fmt_s "$on_first"); off: first event $(fmt_s "$off_first")"
read -r open_all open_sw open_un open_ub <<<"$metrics"
case $open_all in
    ended) metrics_note="not measured (/on/ ended before it could ask)" ;;
    unavailable) metrics_note="unavailable" ;;
    *) metrics_note="$open_all (switched $open_sw, unsized $open_un, unbuffered $open_ub)" ;;
esac
printf '  %-22s streams open while /on/ streamed: %s\n' "/sse_auto_status" "$metrics_note"

# /on/ is live when every event arrived within half an interval (at most 250 ms) of its send
# time; /off/ is held when its first event came no earlier than the last one was sent.
result=$(awk -v n="$check_count" -v iv="$check_interval" \
    -v on_n="$on_n" -v on_late="$on_late" -v on_done="$on_done" \
    -v off_n="$off_n" -v off_first="$off_first" -v off_done="$off_done" 'BEGIN {
        tol = iv * 500; if (tol > 250) tol = 250; if (tol < 50) tol = 50
        end = (n - 1) * iv * 1000
        if (on_n != n || on_done != 1) print "FAIL: /on/ got " on_n " of " n " events" (on_done ? "" : " and no done event")
        else if (on_late > tol) print "FAIL: /on/ is not live: an event arrived " on_late " ms after it was sent"
        if (off_n != n || off_done != 1) print "FAIL: /off/ got " off_n " of " n " events" (off_done ? "" : " and no done event")
        else if (off_first < end - tol) print "FAIL: /off/ is not held: its first event arrived after " off_first " ms, before the stream ended (" end " ms)"
    }')
# The module counts /on/'s stream while it is open (/off/'s never: sse_auto is off there).
case $open_all in
    ended) ;;
    unavailable) result="${result:+$result$'\n'}FAIL: /sse_auto_status?format=json did not answer with the metrics" ;;
    *) [ "$open_all" -ge 1 ] ||
        result="${result:+$result$'\n'}FAIL: /sse_auto_status counted $open_all open streams while /on/ streamed" ;;
esac
if [ -n "$result" ]; then
    say "$result"
    show_logs
    exit 1
fi
case $open_all in
    ended) counted="open streams not measured: /on/ ended before the status request" ;;
    *) counted="sse_auto_status counted $open_all open stream(s) while /on/ streamed" ;;
esac
say "PASS: /on/ streamed every event live; /off/ held them all until the stream ended; $counted"
exit 0
