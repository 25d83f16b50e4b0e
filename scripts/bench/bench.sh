#!/usr/bin/env bash
# sse_auto benchmarks: one run, one backend (sse-bench upstream), one client (sse-bench load),
# every proxy side by side. See docs/BENCHMARKS.md.
#
#   scripts/bench/bench.sh [quick|full]     quick (default): ~5 minutes; full: ~25 minutes
#
# Scenarios: direct (client -> upstream), sse_auto (nginx + load_module, plain proxy_pass),
# buffering_off (nginx, `proxy_buffering off`), stock (nginx, defaults: buffered), many (nginx +
# sse_auto + bench/nginx-many-streams.conf), caddy, haproxy.
#   P1  per-event latency at 1 and at many concurrent streams (plain HTTP; TLS in full)
#   P2  RSS per held stream vs. stream count (each proxy started fresh), plain HTTP and TLS
#   P3  callgrind instructions per proxied plain request, module loaded vs. not; and per
#       forwarded event, sse_auto vs. proxy_buffering off
#   P4  10,000 streams through nginx + sse_auto with two workers, 10,000 events/s
# Results: $BENCH_OUT (default target/bench/<mode>/): one JSON per load run, summary.json,
# results.md and SVG plots. BENCH_PUBLISH=1 (default for full) copies results.md and the SVGs
# to docs/bench/.
#
# Environment: BENCH_PARTS ("p1 p2 p3 p4"), BENCH_PORT_BASE (19200), NGINX, MODULE (default:
# `make paths`), and the P*_ variables below to change the sizes. BENCH_BEFORE=REV adds the
# scenario before: nginx + the module as it was at git revision REV (scripts/bench/module-at.sh), in
# P1, P2 and P3b over TLS, so that a change is measured beside what came before it in one run.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

mode=${1:-quick}
case $mode in
    quick | full) ;;
    -h | --help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown mode '$mode' (quick or full)" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${BENCH_OUT:-$repo/target/bench/$mode}
parts=${BENCH_PARTS:-p1 p2 p3 p4}
base=${BENCH_PORT_BASE:-19200}

if [ "$mode" = full ]; then
    : "${P1_ROUNDS:=10}" "${P1_DURATION:=3}" "${P1_RATE:=100}" "${P1_TLS_ROUNDS:=5}"
    : "${P1_MANY:=5000}" "${P1_MANY_ROUNDS:=3}" "${P1_MANY_DURATION:=10}"
    : "${P1_TLS_MANY:=5000}" "${P1_TLS_MANY_ROUNDS:=3}"
    : "${P2_STEPS:=1000,2000,5000}" "${P2_MAX:=8000}" "${P2_BROWSER:=1}"
    : "${P2_TLS_STEPS:=2000,5000}" "${P2_TLS_MAX:=10000}"
    : "${P3_REQUESTS:=1000}" "${P3_EVENTS:=2000}" "${P3_ROUNDS:=5}"
    : "${P4_STREAMS:=10000}" "${P4_RATE:=1}" "${P4_DURATION:=60}"
    : "${BENCH_PUBLISH:=1}"
else
    : "${P1_ROUNDS:=2}" "${P1_DURATION:=3}" "${P1_RATE:=100}" "${P1_TLS_ROUNDS:=0}"
    : "${P1_MANY:=500}" "${P1_MANY_ROUNDS:=1}" "${P1_MANY_DURATION:=5}"
    : "${P1_TLS_MANY:=500}" "${P1_TLS_MANY_ROUNDS:=0}"
    : "${P2_STEPS:=200}" "${P2_MAX:=1000}" "${P2_BROWSER:=0}"
    : "${P2_TLS_STEPS:=500}" "${P2_TLS_MAX:=1000}"
    : "${P3_REQUESTS:=200}" "${P3_EVENTS:=600}" "${P3_ROUNDS:=1}"
    : "${P4_STREAMS:=2000}" "${P4_RATE:=5}" "${P4_DURATION:=10}"
    : "${BENCH_PUBLISH:=0}"
fi
P3_EVENTS_BASE=${P3_EVENTS_BASE:-100}
P3_EVENT_RATE=${P3_EVENT_RATE:-200}
# Event shape: 32 bytes of padding make ~60-byte events (`data: <ns> <seq> <pad>\n\n`).
SIZE=${BENCH_EVENT_SIZE:-32}
# Many-stream latency runs: 1 event/s per stream. Held streams (P2): one event every 5 s.
MANY_RATE=${P1_MANY_RATE:-1}
HELD_RATE=${P2_RATE:-0.2}

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------

need_pkgs=()
command -v caddy >/dev/null || need_pkgs+=(caddy)
command -v haproxy >/dev/null || need_pkgs+=(haproxy)
command -v valgrind >/dev/null || need_pkgs+=(valgrind)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v curl >/dev/null || need_pkgs+=(curl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing: ${need_pkgs[*]} (apt-get install them, or run as root)"
    say "installing ${need_pkgs[*]}"
    apt-get update -qq >/dev/null
    # No services are started by the packages in containers (policy-rc.d); the benchmark
    # starts its own instances.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

. "$repo/scripts/bench/bench-lib.sh"

say "building sse-bench"
(cd "$repo" && cargo build --release -q -p sse-bench) || die "cargo build -p sse-bench failed"
bench=$repo/target/release/sse-bench

# The scenario "before": the module of an earlier revision, in the same nginx
before=()
if [ -n "${BENCH_BEFORE:-}" ]; then
    before_module=$("$repo/scripts/bench/module-at.sh" "$BENCH_BEFORE") || die "no module for BENCH_BEFORE=$BENCH_BEFORE"
    [ -f "$before_module" ] || die "no module for BENCH_BEFORE=$BENCH_BEFORE"
    before=(before)
fi

# A proxied stream takes two descriptors in the proxy (client and upstream): 10,000 streams (P2
# over TLS in full, P4) need more than 20,000 and the limits below follow what the bench gets.
# (With 20,000, nginx's 20,000 worker_connections and HAProxy's maxconn 9,900 were what cut
# the 10,000-stream steps short: "worker_connections are not enough", 100 refused.)
ulimit -n 50000 2>/dev/null || ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)
# connections per proxy process, with room for listeners, logs and the odd extra descriptor
conns=$((nofile - 100))

rm -rf "$out"
mkdir -p "$out/run"
chmod 755 "$out" "$out/run"
log=$out/bench.log
: >"$log"

# --- ports and processes ----------------------------------------------------------------------

port_up=$base
declare -A PORT=([direct]=$base [sse_auto]=$((base + 1)) [buffering_off]=$((base + 2))
    [stock]=$((base + 3)) [many]=$((base + 4)) [caddy]=$((base + 5)) [haproxy]=$((base + 6))
    [p4]=$((base + 7)) [cg_module]=$((base + 8)) [cg_plain]=$((base + 9)) [cg_off]=$((base + 10))
    [before]=$((base + 11)) [cg_before]=$((base + 12)))
tls_port() { echo $(($1 + 20)); }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }

for p in "${PORT[@]}"; do
    for q in "$p" "$(tls_port "$p")"; do
        ! listening "$q" || die "port $q is in use (set BENCH_PORT_BASE)"
    done
done

declare -A PID=()
started=()
cleanup() {
    local p
    for p in "${started[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${started[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
    local port=$1 pid=$2 i
    for i in $(seq 600); do
        listening "$port" && return 0
        alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}

stop() {
    local name=$1 pid=${PID[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
    # Let the closed connections' upstream halves end before the next run.
    sleep 1
}

# --- configurations ---------------------------------------------------------------------------

cert=$out/run/cert.pem
key=$out/run/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=127.0.0.1 -keyout "$key" -out "$cert" >/dev/null 2>&1 || die "openssl req failed"
cat "$cert" "$key" >"$out/run/combined.pem"
chmod 644 "$key" "$out/run/combined.pem"


# nginx_conf NAME WORKERS MODULE(0|1|PATH) HTTP_EXTRA LOCATION_EXTRA [MAIN_EXTRA [LISTEN_EXTRA]]
nginx_conf() {
    local name=$1 dir=$out/run/$1
    mkdir -p "$dir"
    chmod 755 "$dir"
    local load=""
    case $3 in
        0) ;;
        1) load="load_module $module;" ;;
        *) load="load_module $3;" ;;
    esac
    render "$repo/bench/nginx.conf.in" "$dir/nginx.conf" \
        "LOAD_MODULE=$load" "WORKERS=$2" "DIR=$dir" "PORT=${PORT[$name]}" \
        "TLS_PORT=$(tls_port "${PORT[$name]}")" "UPSTREAM_PORT=$port_up" \
        "CERT=$cert" "KEY=$key" "HTTP_EXTRA=$4" "LOCATION_EXTRA=$5" \
        "MAIN_EXTRA=${6:-daemon off;}" "LISTEN_EXTRA=${7:-}" "NOFILE=$nofile" "CONNS=$conns"
    "$nginx_bin" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "nginx -t failed for $name"
}

many_profile=$(sed 's/^/    /' "$repo/bench/nginx-many-streams.conf")
nginx_conf sse_auto 1 1 "" ""
nginx_conf buffering_off 1 0 "" "            proxy_buffering off;"
nginx_conf stock 1 0 "" ""
cg_before=()
if [ ${#before[@]} != 0 ]; then
    nginx_conf before 1 "$before_module" "" ""
    nginx_conf cg_before 1 "$before_module" "" "" "daemon off; master_process off;"
    cg_before=(cg_before)
fi
nginx_conf many 1 1 "$many_profile" ""
nginx_conf p4 2 1 "" "" "daemon off;" reuseport
nginx_conf cg_module 1 1 "" "" "daemon off; master_process off;"
nginx_conf cg_plain 1 0 "" "" "daemon off; master_process off;"
nginx_conf cg_off 1 0 "" "            proxy_buffering off;" "daemon off; master_process off;"
mkdir -p "$out/run/caddy" "$out/run/haproxy"
render "$repo/bench/Caddyfile.in" "$out/run/caddy/Caddyfile" "PORT=${PORT[caddy]}" \
    "TLS_PORT=$(tls_port "${PORT[caddy]}")" "UPSTREAM_PORT=$port_up" "CERT=$cert" "KEY=$key"
render "$repo/bench/haproxy.cfg.in" "$out/run/haproxy/haproxy.cfg" "PORT=${PORT[haproxy]}" \
    "TLS_PORT=$(tls_port "${PORT[haproxy]}")" "UPSTREAM_PORT=$port_up" \
    "PEM=$out/run/combined.pem" "MAXCONN=$((conns / 2))"

start() {
    local name=$1 dir=$out/run/$1 pid
    case $name in
        direct) return 0 ;;
        caddy)
            # One OS thread running Go code, like one nginx worker and one HAProxy thread.
            (cd "$dir" && exec env HOME="$dir" XDG_DATA_HOME="$dir" XDG_CONFIG_HOME="$dir" \
                GOMAXPROCS=1 caddy run --adapter caddyfile --config "$dir/Caddyfile") \
                >>"$dir/caddy.log" 2>&1 &
            ;;
        haproxy) haproxy -db -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 & ;;
        *) "$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >>"$dir/stderr.log" 2>&1 & ;;
    esac
    pid=$!
    started+=("$pid")
    PID[$name]=$pid
    wait_port "${PORT[$name]}" "$pid" || die "$name did not start (see $dir)"
}

pids_of() { [ "$1" = direct ] && echo "" || echo "${PID[$1]}"; }
url_of() { # NAME QUERY [tls]
    if [ "${3:-}" = tls ]; then
        echo "https://127.0.0.1:$(tls_port "${PORT[$1]}")/sse?$2"
    else
        echo "http://127.0.0.1:${PORT[$1]}/sse?$2"
    fi
}

# load NAME OUTFILE ARGS... : one sse-bench load run, its summary line into the log
load() {
    local label=$1 file=$2
    shift 2
    "$bench" load --label "$label" --out "$out/$file" "$@" 2>>"$log" || {
        say "load $label failed (see $log)"
        return 0
    }
    tail -n 1 "$log" >&2
}

"$bench" upstream --listen "127.0.0.1:$port_up" >>"$out/run/upstream.log" 2>&1 &
upstream_pid=$!
started+=("$upstream_pid")
wait_port "$port_up" "$upstream_pid" || die "upstream did not start"

{
    echo "mode=$mode"
    echo "date=$(date -u +%FT%TZ)"
    echo "nproc=$(nproc)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
    echo "mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    echo "kernel=$(uname -r)"
    echo "nginx=$("$nginx_bin" -v 2>&1 | sed 's/.*: //')"
    echo "caddy=$(caddy version 2>/dev/null | head -n1)"
    echo "haproxy=$(haproxy -v 2>/dev/null | head -n1 | awk '{print $3}')"
    echo "valgrind=$(valgrind --version 2>/dev/null)"
    echo "upstream_pid=$upstream_pid"
    [ ${#before[@]} = 0 ] ||
        echo "before=$(git -C "$repo" log -1 --format='%h %s' "$BENCH_BEFORE" | cut -c1-100)"
    echo "params=P1_ROUNDS=$P1_ROUNDS P1_DURATION=$P1_DURATION P1_RATE=$P1_RATE P1_MANY=$P1_MANY" \
        "P1_MANY_ROUNDS=$P1_MANY_ROUNDS P1_MANY_DURATION=$P1_MANY_DURATION P1_TLS_ROUNDS=$P1_TLS_ROUNDS" \
        "P1_TLS_MANY=$P1_TLS_MANY P1_TLS_MANY_ROUNDS=$P1_TLS_MANY_ROUNDS" \
        "P2_STEPS=$P2_STEPS P2_MAX=$P2_MAX P2_TLS_STEPS=$P2_TLS_STEPS P2_TLS_MAX=$P2_TLS_MAX P3_REQUESTS=$P3_REQUESTS P3_EVENTS=$P3_EVENTS" \
        "P4_STREAMS=$P4_STREAMS" \
        "P4_RATE=$P4_RATE P4_DURATION=$P4_DURATION SIZE=$SIZE"
} >"$out/env.txt"

has_part() { case " $parts " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# rotate N WORDS...: the words, starting at the N-th (round-robin order across rounds)
rotate() {
    local n=$1
    shift
    local a=("$@") i
    for i in "${!a[@]}"; do
        printf '%s ' "${a[$(((i + n) % ${#a[@]}))]}"
    done
}

# --- P1: latency ------------------------------------------------------------------------------

if has_part p1; then
    proxies=(sse_auto "${before[@]}" buffering_off stock caddy haproxy)
    for s in "${proxies[@]}"; do start "$s"; done
    scen=(direct sse_auto buffering_off stock caddy haproxy)
    # Stock nginx holds events until the response ends: it gets finite streams (2 s at 1 stream,
    # 10 s at many), and the client reconnects; the others get endless streams.
    q1="rate=$P1_RATE&size=$SIZE"
    q1stock="$q1&n=$((P1_RATE * 2))"
    say "P1: 1 stream, $P1_RATE events/s, ${P1_DURATION}s x $P1_ROUNDS rounds ($P1_TLS_ROUNDS with TLS)"
    for r in $(seq "$P1_ROUNDS"); do
        for s in $(rotate "$r" "${scen[@]}"); do
            if [ "$s" = stock ]; then
                load "p1-1-$s-r$r" "p1_1_${s}_r$r.json" --url "$(url_of "$s" "$q1stock")" \
                    --reconnect --open-timeout 3 --streams 1 --duration "$P1_DURATION" \
                    --warmup 0.5 --pids "$(pids_of "$s")"
            else
                load "p1-1-$s-r$r" "p1_1_${s}_r$r.json" --url "$(url_of "$s" "$q1")" \
                    --streams 1 --duration "$P1_DURATION" --warmup 0.5 --pids "$(pids_of "$s")"
            fi
        done
        if [ "$r" -le "$P1_TLS_ROUNDS" ]; then
            for s in $(rotate "$r" "${proxies[@]}"); do
                if [ "$s" = stock ]; then
                    load "p1-tls-$s-r$r" "p1_tls_${s}_r$r.json" \
                        --url "$(url_of "$s" "$q1stock" tls)" --reconnect --open-timeout 3 \
                        --streams 1 --duration "$P1_DURATION" --warmup 0.5 --pids "$(pids_of "$s")"
                else
                    load "p1-tls-$s-r$r" "p1_tls_${s}_r$r.json" --url "$(url_of "$s" "$q1" tls)" \
                        --streams 1 --duration "$P1_DURATION" --warmup 0.5 --pids "$(pids_of "$s")"
                fi
            done
        fi
    done

    qm="rate=$MANY_RATE&size=$SIZE"
    qmstock="$qm&n=10"
    say "P1: $P1_MANY streams, $MANY_RATE event/s each, ${P1_MANY_DURATION}s x $P1_MANY_ROUNDS rounds"
    for r in $(seq "$P1_MANY_ROUNDS"); do
        for s in $(rotate "$r" "${scen[@]}"); do
            if [ "$s" = stock ]; then
                [ "$r" = 1 ] || continue
                load "p1-many-$s-r$r" "p1_many_${s}_r$r.json" --url "$(url_of "$s" "$qmstock")" \
                    --reconnect --open-timeout 3 --streams "$P1_MANY" --duration "$P1_MANY_DURATION" \
                    --warmup 2 --pids "$(pids_of "$s")"
            else
                load "p1-many-$s-r$r" "p1_many_${s}_r$r.json" --url "$(url_of "$s" "$qm")" \
                    --streams "$P1_MANY" --duration "$P1_MANY_DURATION" --warmup 2 \
                    --pids "$(pids_of "$s")"
            fi
            sleep 2
        done
    done
    # The same over TLS (stock left out: it holds the events until the end either way)
    [ "$P1_TLS_MANY_ROUNDS" = 0 ] ||
        say "P1: $P1_TLS_MANY streams over TLS, $MANY_RATE event/s each, ${P1_MANY_DURATION}s x $P1_TLS_MANY_ROUNDS rounds"
    for r in $(seq "$P1_TLS_MANY_ROUNDS"); do
        for s in $(rotate "$r" sse_auto "${before[@]}" buffering_off caddy haproxy); do
            load "p1-tlsmany-$s-r$r" "p1_tlsmany_${s}_r$r.json" --url "$(url_of "$s" "$qm" tls)" \
                --streams "$P1_TLS_MANY" --duration "$P1_MANY_DURATION" --warmup 2 \
                --pids "$(pids_of "$s")"
            sleep 2
        done
    done
    for s in "${proxies[@]}"; do stop "$s"; done
fi

# --- P2: memory per held stream ---------------------------------------------------------------

if has_part p2; then
    say "P2: held streams (one event every $(python3 -c "print(1/$HELD_RATE)") s), steps $P2_STEPS,$P2_MAX"
    for s in sse_auto buffering_off many caddy haproxy; do
        start "$s"
        sleep 1
        load "p2-$s" "p2_$s.json" --url "$(url_of "$s" "rate=$HELD_RATE&size=$SIZE")" \
            --streams "$P2_MAX" --steps "$P2_STEPS" --settle 3 --warmup 0 --duration 6 \
            --pids "$(pids_of "$s")"
        stop "$s"
    done
    # The same over TLS (HTTPS, HTTP/1.1), as browsers reach event streams
    for s in sse_auto "${before[@]}" buffering_off caddy haproxy; do
        start "$s"
        sleep 1
        load "p2tls-$s" "p2tls_$s.json" --url "$(url_of "$s" "rate=$HELD_RATE&size=$SIZE" tls)" \
            --streams "$P2_TLS_MAX" --steps "$P2_TLS_STEPS" --settle 3 --warmup 0 --duration 6 \
            --pids "$(pids_of "$s")"
        stop "$s"
    done
    # The same with a browser's request headers (~750 bytes instead of ~120): where nginx's
    # request pool blocks end depends on them.
    if [ "$P2_BROWSER" = 1 ]; then
        for s in sse_auto buffering_off many haproxy; do
            start "$s"
            sleep 1
            load "p2b-$s" "p2b_$s.json" --url "$(url_of "$s" "rate=$HELD_RATE&size=$SIZE")" \
                --browser-headers --streams "$P2_MAX" --steps "$P2_STEPS" --settle 3 --warmup 0 \
                --duration 6 --pids "$(pids_of "$s")"
            stop "$s"
        done
    fi
fi

# --- P3: instructions per plain request (callgrind) -------------------------------------------

# Stops nginx under valgrind gracefully, so callgrind writes its totals. A SIGQUIT that arrives
# before nginx has installed its handlers (it listens before that) is lost: resend it.
cg_stop() {
    local pid=$1 i
    for i in $(seq 600); do
        alive "$pid" || break
        [ $((i % 30)) = 1 ] && kill -QUIT "$pid" 2>/dev/null
        sleep 0.1
    done
    if alive "$pid"; then
        say "nginx under valgrind ($pid) ignored SIGQUIT for 60 s; terminating it"
        kill -TERM "$pid" 2>/dev/null
        sleep 5
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}

# cg_start VARIANT CGOUT: the variant's nginx under callgrind, listening; its pid in $pid
cg_start() {
    local dir=$out/run/$1
    valgrind --tool=callgrind --callgrind-out-file="$2" \
        "$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        >>"$dir/valgrind.log" 2>&1 &
    pid=$!
    started+=("$pid")
    wait_port "${PORT[$1]}" "$pid" || die "nginx under valgrind did not start"
}

# cg_events VARIANT EVENTS BASE_URL TOTALS: one stream of EVENTS events through the variant's
# nginx under callgrind; its total Ir appended to TOTALS
cg_events() {
    local variant=$1 e=$2 url=$3 totals=$4 cgout got tag
    tag=${totals#p3_event}
    cgout=$out/callgrind.events${tag%_totals.txt}.$variant.$e.out
    cg_start "$variant" "$cgout"
    got=$(curl -skN --max-time 120 "$url/sse?n=$e&rate=$P3_EVENT_RATE&size=$SIZE" |
        grep -c '^data: ' || true)
    [ "$got" = "$e" ] || say "P3 events: $variant got $got of $e events ($url)"
    cg_stop "$pid"
    printf '%s %s %s\n' "$variant" "$e" \
        "$(sed -n 's/^totals: *//p; s/^summary: *//p' "$cgout" | head -n1 | awk '{print $1}')" \
        >>"$out/$totals"
}

if has_part p3; then
    # How the upstream's response is split across nginx's reads depends on timing, which moves
    # a run's count by up to ~0.7 % even without the module: P3_ROUNDS rounds, each with both
    # variants, and the report takes the median.
    say "P3: callgrind, $P3_REQUESTS plain requests, module loaded vs. not, $P3_ROUNDS round(s)"
    # "u<N>": N requests for an HTML page without Content-Length, which nginx buffers and
    # sse_auto soft-streams (the per-response cost of soft streaming).
    for round in $(seq "$P3_ROUNDS"); do
    for variant in cg_plain cg_module; do
        for n in 0 "$P3_REQUESTS" "u$P3_REQUESTS"; do
            cgout=$out/callgrind.$variant.$n.out
            cg_start "$variant" "$cgout"
            case $n in
            u*) "$bench" plain --url "http://127.0.0.1:${PORT[$variant]}/plain?size=1024&unsized=1" \
                    --requests "${n#u}" --out "$out/p3_${variant}_unsized.json" 2>>"$log" \
                    || die "unsized requests failed" ;;
            0) ;;
            *) "$bench" plain --url "http://127.0.0.1:${PORT[$variant]}/plain?size=1024" \
                    --requests "$n" --out "$out/p3_${variant}_plain.json" 2>>"$log" \
                    || die "plain requests failed" ;;
            esac
            cg_stop "$pid"
            # The module's own functions (exclusive Ir), for the report.
            if [ "$variant" = cg_module ] && [ "$n" = "$P3_REQUESTS" ]; then
                callgrind_annotate "$cgout" 2>/dev/null | grep 'libngx_http_sse_auto_module' \
                    >"$out/p3_module_functions.txt" || true
            fi
            if [ "$variant" = cg_module ] && [ "$n" = "u$P3_REQUESTS" ]; then
                callgrind_annotate "$cgout" 2>/dev/null | grep 'libngx_http_sse_auto_module' \
                    >"$out/p3u_module_functions.txt" || true
            fi
            printf '%s %s %s %s\n' "$variant" "$n" \
                "$(sed -n 's/^totals: *//p; s/^summary: *//p' "$cgout" | head -n1 | awk '{print $1}')" \
                "$round" >>"$out/p3_totals.txt"
        done
    done
    done
    cat "$out/p3_totals.txt" >&2

    # Instructions per forwarded event: one stream of E events through nginx + sse_auto and
    # through nginx with proxy_buffering off; per event = (Ir(E2) - Ir(E1)) / (E2 - E1), which
    # leaves out start-up and the request itself. The steal-free twin of P1's latency ratio.
    # Over plain HTTP, then over TLS (with the module before a change, when BENCH_BEFORE is set).
    say "P3: callgrind, instructions per forwarded event ($P3_EVENTS events at $P3_EVENT_RATE/s)"
    for variant in cg_off cg_module; do
        for e in "$P3_EVENTS_BASE" "$P3_EVENTS"; do
            cg_events "$variant" "$e" "http://127.0.0.1:${PORT[$variant]}" p3_event_totals.txt
        done
    done
    cat "$out/p3_event_totals.txt" >&2
    say "P3: callgrind, instructions per forwarded event over TLS"
    for variant in cg_off "${cg_before[@]}" cg_module; do
        for e in "$P3_EVENTS_BASE" "$P3_EVENTS"; do
            cg_events "$variant" "$e" "https://127.0.0.1:$(tls_port "${PORT[$variant]}")" \
                p3_event_tls_totals.txt
        done
    done
    cat "$out/p3_event_tls_totals.txt" >&2
fi

# --- P4: 10,000 streams, two workers ----------------------------------------------------------

if has_part p4; then
    say "P4: $P4_STREAMS streams x $P4_RATE events/s through nginx + sse_auto, two workers"
    start p4
    sleep 1
    load "p4" "p4.json" --url "$(url_of p4 "rate=$P4_RATE&size=$SIZE")" \
        --streams "$P4_STREAMS" --connect-rate 1000 --warmup 5 --duration "$P4_DURATION" \
        --pids "$(pids_of p4)"
    stop p4
fi

# --- report -----------------------------------------------------------------------------------

python3 "$repo/bench/report.py" "$out"
if [ "$BENCH_PUBLISH" = 1 ]; then
    mkdir -p "$repo/docs/bench"
    cp "$out"/*.svg "$out/results.md" "$out/summary.json" "$repo/docs/bench/"
    say "published results.md, summary.json and the plots to docs/bench/"
fi
say "results: $out/results.md"
