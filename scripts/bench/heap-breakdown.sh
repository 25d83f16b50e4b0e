#!/usr/bin/env bash
# Where nginx's heap goes per held HTTPS stream, measured by allocation site (issue 20): nginx
# runs under valgrind's massif, N held streams of P2 over TLS are opened through it (the bench's
# shape: sse-bench upstream and client, HTTP/1.1, ECDSA P-256 certificate, one ~60-byte event
# every 5 s per stream), and the heap is taken by allocation stack at two moments: before the
# streams (after one warm-up request) and after they have been held HOLD seconds. The
# difference, sorted into buckets by stack and divided by the open streams, is the per-stream
# heap. Two configurations of the same binary and template (bench/nginx.conf.in):
#   sse_auto       load_module only (the module gives the TLS send buffer back after each write)
#   buffering_off  load_module, `proxy_buffering off; sse_auto off;` (the control: nginx keeps
#                  its 16 KiB TLS send buffer per connection)
#
#   scripts/bench/heap-breakdown.sh [-n N] [--hold S] [--only sse_auto|buffering_off]
#
# N (HEAP_STREAMS, default 1000) streams, held HOLD (HEAP_HOLD, default 30) s. Ports 19500-19599
# (HEAP_PORT_BASE, default 19500; the bench uses 19200-19299). NGINX, MODULE: default `make paths`;
# needs target/release/sse-bench (cargo build --release -p sse-bench). Results in
# target/heap-breakdown/ (HEAP_THRESHOLD=T, default 0.5: massif's --threshold; another
# T writes to target/heap-breakdown/threshold-T/): table.md (also printed), per configuration the massif snapshots
# (baseline, held, after), their ms_print output, the client's JSON, valgrind's log.
# About 2.5 minutes for both configurations at N=1000 on 2 cores.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

streams=${HEAP_STREAMS:-1000}
hold=${HEAP_HOLD:-30}
base=${HEAP_PORT_BASE:-19500}
configs=(sse_auto buffering_off)
while [ $# -gt 0 ]; do
    case $1 in
        -n) streams=$2; shift 2 ;;
        --hold) hold=$2; shift 2 ;;
        --only) configs=("$2"); shift 2 ;;
        -h | --help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "heap-breakdown.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
threshold=${HEAP_THRESHOLD:-0.5}
# Another threshold's run goes beside the default one, not over it.
out=$repo/target/heap-breakdown
[ "$threshold" = 0.5 ] || out=$out/threshold-$threshold
bench=$repo/target/release/sse-bench
# The bench's event shape and held-stream rate (scripts/bench/bench.sh: SIZE, HELD_RATE).
query="rate=0.2&size=32"
# massif's settings: 0.5 % threshold (sites below it are merged into their caller's node,
# so their bytes still land under a stack prefix), every snapshot detailed.
# HEAP_THRESHOLD changes the threshold: a lower one resolves more sites (at 0.5 % of the ~40 MB
# heap, sites under ~200 bytes per stream are merged), the totals stay the same.
massif_opts=(--tool=massif --threshold="$threshold" --detailed-freq=1 --max-snapshots=200)
# TLS handshakes under valgrind take milliseconds each: open the streams at a rate one
# valgrind'ed nginx keeps up with, so none times out (the client's connect timeout is 10 s).
connect_rate=${HEAP_CONNECT_RATE:-100}

say() { printf '[heap %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'heap-breakdown.sh: %s\n' "$*" >&2; exit 1; }

for t in valgrind vgdb ms_print openssl python3 curl ss; do
    command -v "$t" >/dev/null || die "missing $t"
done
[ -x "$bench" ] || die "no $bench (cargo build --release -p sse-bench)"
. "$repo/scripts/bench/bench-lib.sh"

# nginx needs 2 descriptors per stream (client, upstream), the client and the upstream one each.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((2 * streams + 200)) ] || die "ulimit -n $(ulimit -n) too small for $streams streams"

port_up=$base
declare -A PORT=([sse_auto]=$((base + 10)) [buffering_off]=$((base + 20)))
tls_port() { echo $(($1 + 1)); }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
for p in "$port_up" "${PORT[@]}" $(for p in "${PORT[@]}"; do tls_port "$p"; done); do
    ! listening "$p" || die "port $p is in use (set HEAP_PORT_BASE)"
done

# Everything this script starts, by pid, so that exactly these are stopped on exit.
started=()
cleanup() {
    local p
    for p in "${started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # PORT PID SECONDS
    local i
    for i in $(seq $(($3 * 10))); do
        listening "$1" && return 0
        alive "$2" || return 1
        sleep 0.1
    done
    return 1
}

# Only what this script writes (target/heap-breakdown/ is its own; other thresholds' runs in
# subdirectories stay).
rm -rf "$out/run" "$out/sse_auto" "$out/buffering_off" "$out/table.md"
mkdir -p "$out/run"
t_start=$(date +%s)

cert=$out/run/cert.pem
key=$out/run/key.pem
# The bench's certificate: self-signed ECDSA P-256 (scripts/bench/bench.sh).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=127.0.0.1 -keyout "$key" -out "$cert" >/dev/null 2>&1 || die "openssl req failed"


# The bench's configuration, with `master_process off`: one process that is the worker, so
# valgrind runs one process (no fork to follow, one massif file per run, vgdb talks to the
# process that holds the streams). The per-connection code is the worker's either way.
nginx_conf() { # NAME LOCATION_EXTRA
    local dir=$out/$1
    mkdir -p "$dir"
    render "$repo/bench/nginx.conf.in" "$dir/nginx.conf" \
        "LOAD_MODULE=load_module $module;" "WORKERS=1" "DIR=$dir" "PORT=${PORT[$1]}" \
        "TLS_PORT=$(tls_port "${PORT[$1]}")" "UPSTREAM_PORT=$port_up" \
        "CERT=$cert" "KEY=$key" "HTTP_EXTRA=" "LOCATION_EXTRA=$2" \
        "MAIN_EXTRA=daemon off; master_process off;" "LISTEN_EXTRA=" \
        "NOFILE=$(ulimit -n)" "CONNS=$(($(ulimit -n) - 100))"
    "$nginx_bin" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "nginx -t failed for $1"
}
nginx_conf sse_auto ""
nginx_conf buffering_off "            proxy_buffering off;
            sse_auto off;"

nice -n 10 "$bench" upstream --listen "127.0.0.1:$port_up" >>"$out/run/upstream.log" 2>&1 &
started+=("$!")
wait_port "$port_up" "$!" 10 || die "upstream did not start"

# Streams proxied right now: nginx's established connections to the upstream (one per stream
# whose request reached it; only this script's nginx uses this upstream port).
proxied() { ss -Htn state established "( dport = :$port_up )" | wc -l; }
# Streams held right now, from nginx's side of the client connections.
held() { ss -Htn state established "( sport = :$1 )" | wc -l; }

# snapshot DIR PID NAME: a detailed massif snapshot of the live heap, now.
snapshot() {
    vgdb --vgdb-prefix="$1/vgdb" --pid="$2" detailed_snapshot "$1/$3.massif" >>"$1/vgdb.log" 2>&1 \
        || die "vgdb snapshot $3 failed (see $1/vgdb.log)"
    [ -s "$1/$3.massif" ] || die "no snapshot $1/$3.massif"
}

run_config() {
    local name=$1 dir=$out/$1 tls pid client i n
    tls=$(tls_port "${PORT[$name]}")
    say "$name: nginx under massif on :$tls"
    nice -n 10 valgrind "${massif_opts[@]}" --vgdb=yes --vgdb-prefix="$dir/vgdb" \
        --massif-out-file="$dir/massif.out" --log-file="$dir/valgrind.log" \
        "$nginx_bin" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        >>"$dir/stderr.log" 2>&1 &
    pid=$!
    started+=("$pid")
    wait_port "$tls" "$pid" 120 || die "$name did not start (see $dir)"

    # One complete stream first (3 events, then the upstream ends it): one-time allocations
    # of the first TLS connection and request (OpenSSL's lazily fetched algorithms, nginx's
    # caches) land in the baseline, not in the per-stream difference.
    curl -sk --max-time 30 -o /dev/null "https://127.0.0.1:$tls/sse?n=3&rate=10&size=32" \
        || die "$name: warm-up request failed"
    sleep 2
    snapshot "$dir" "$pid" baseline

    # The client holds the streams HOLD + 20 s after all are open; the held snapshot is taken
    # HOLD s after nginx proxies all of them, so every stream has had ~HOLD/5 events by then.
    nice -n 10 "$bench" load --label "heap-$name" --out "$dir/load.json" \
        --url "https://127.0.0.1:$tls/sse?$query" --streams "$streams" \
        --connect-rate "$connect_rate" --open-timeout 300 --settle 0 --warmup 0 \
        --duration $((hold + 20)) 2>>"$dir/load.log" &
    client=$!
    started+=("$client")
    for i in $(seq 3000); do
        n=$(proxied)
        [ "$n" -ge "$streams" ] && break
        alive "$client" || break
        [ $((i % 100)) = 0 ] && say "$name: $n streams proxied"
        sleep 0.1
    done
    say "$name: $(proxied) streams proxied; holding ${hold} s"
    sleep "$hold"
    # The streams counted for the division: those held at the moment of the snapshot.
    n=$(proxied)
    echo "$n $(held "$tls")" >"$dir/open.txt"
    snapshot "$dir" "$pid" held
    say "$name: held snapshot with $n proxied streams ($(held "$tls") client connections)"
    wait "$client" || say "$name: client exited with $?"
    tail -n 1 "$dir/load.log" >&2 || true
    sleep 3
    # After the client has dropped every stream: the heap should be back near the baseline.
    snapshot "$dir" "$pid" after
    kill -TERM "$pid"
    wait "$pid" || true
    for s in baseline held after; do
        ms_print "$dir/$s.massif" >"$dir/$s.ms_print.txt" || true
    done
}

for c in "${configs[@]}"; do
    run_config "$c"
done

# --- classification ---------------------------------------------------------------------------
# Each node of massif's tree is a call site; a node's bytes not covered by its children are
# allocations whose recorded stack ends there (or sites below the threshold, which massif
# merges into one child "in N places, all below massif's threshold"). Every such piece is
# put in a bucket by its stack, innermost frame first.
python3 - "$out" "$streams" "$hold" "$(( $(date +%s) - t_start ))" "$threshold" "${configs[@]}" <<'PY' | tee "$out/table.md"
import re, sys, collections, json, os

out, streams, hold, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
threshold, configs = sys.argv[5], sys.argv[6:]

NODE = re.compile(r'^( *)n(\d+): (\d+) (.*)$')

def parse(path):
    """The heap tree of the (last) detailed snapshot: [(frames, bytes)] for every piece of a
    node not covered by its children; frames innermost first; plus heap and extra bytes."""
    text = open(path).read().split('\n')
    # the last snapshot in the file (a vgdb detailed_snapshot file has one)
    start = max(i for i, l in enumerate(text) if l.startswith('snapshot='))
    heap = int(next(l for l in text[start:] if l.startswith('mem_heap_B=')).split('=')[1])
    extra = int(next(l for l in text[start:] if l.startswith('mem_heap_extra_B=')).split('=')[1])
    pieces = []
    stack = []  # the path from the root: [frame, bytes, bytes of the children so far]
    def close(level):
        while len(stack) > level:
            frame, b, cs = stack.pop()
            if stack and b > cs:
                # innermost frame first: the root's child is the caller of malloc
                pieces.append(([f for f, _, _ in stack[1:]] + [frame], b - cs))
    for l in text[start + 1:]:
        if l.startswith('snapshot='):
            break
        m = NODE.match(l)
        if not m:
            continue
        depth, b, rest = len(m.group(1)), int(m.group(3)), m.group(4)
        close(depth)
        if stack:
            stack[-1][2] += b
        stack.append([rest, b, 0])
    close(0)
    fixed = pieces
    return fixed, heap, extra

def fname(frame):
    m = re.match(r'0x[0-9A-F]+: (.*?) \((?:in )?(.*)\)$', frame)
    if m:
        return m.group(1), m.group(2)
    if 'below massif' in frame:
        return '(below threshold)', ''
    return frame, ''

def name_of(frame):
    n, where = fname(frame)
    # the module is stripped: its frames have no names
    if n == '???' and 'sse_auto' in where:
        return 'sse_auto_module', where
    return n, where

# nginx's allocators and containers: not the site that decides what the memory is for
ALLOC = {'ngx_alloc', 'ngx_calloc', 'ngx_memalign', 'ngx_palloc', 'ngx_pnalloc', 'ngx_pcalloc',
         'ngx_palloc_small', 'ngx_palloc_large', 'ngx_palloc_block', 'ngx_pmemalign',
         'ngx_create_temp_buf', 'ngx_array_create', 'ngx_array_push', 'ngx_array_push_n',
         'ngx_array_init', 'ngx_list_create', 'ngx_list_push', 'ngx_list_init',
         'ngx_alloc_chain_link', 'ngx_chain_get_free_buf', 'ngx_pstrdup', 'ngx_create_pool',
         'ngx_hash_init', 'ngx_palloc_small.constprop.0', '(below threshold)'}
OPENSSL = re.compile(r'^(CRYPTO_|OPENSSL_|SSL_|ssl|BIO_|EVP_|BUF_|ERR_|OSSL_|tls|dtls|ossl_)')
def is_openssl(name, where):
    return 'libssl' in where or 'libcrypto' in where or bool(OPENSSL.match(name))

# functions that allocate from the client connection's pool (c->pool) or its buffers
CONN = {'ngx_event_accept', 'ngx_http_init_connection', 'ngx_ssl_create_connection',
        'ngx_ssl_handshake', 'ngx_http_ssl_handshake', 'ngx_http_wait_request_handler',
        'ngx_http_alloc_large_header_buffer', 'ngx_http_set_keepalive', 'ngx_ssl_send_chain',
        'ngx_http_ssl_servername', 'ngx_ssl_new_client_session', 'ngx_ssl_new_session'}

BUCKETS = [
    ('tls_buf', 'TLS send buffer (ngx_ssl_send_chain, ssl_buffer_size)'),
    ('openssl', "OpenSSL's connection state (libssl/libcrypto)"),
    ('req_pool', 'request pool (ngx_http_alloc_request, its blocks and large allocations)'),
    ('conn_pool', 'client connection pool and header buffer (c->pool, c->buffer)'),
    ('up_buf', 'upstream buffer (proxy_buffer_size, ngx_http_upstream_process_header)'),
    ('up_pool', 'upstream connection pool (ngx_http_upstream_connect)'),
    ('other', 'other'),
]

def classify(frames):
    fs = [name_of(f) for f in frames]
    names = [n for n, _ in fs]
    if not fs:
        return 'other', '?'
    # made by OpenSSL: the caller of malloc is in libssl/libcrypto
    if is_openssl(*fs[0]):
        ngx = next((n for n in names if n.startswith('ngx_')), '?')
        osl = next((n for n, w in fs if is_openssl(n, w) and n != '???'
                    and not n.startswith('CRYPTO_')), None)
        if osl is None:
            osl = next((n for n, w in fs if is_openssl(n, w) and n != '???'), 'libssl/libcrypto internal')
        if '(below threshold)' in names:
            osl += ' (sites below threshold)'
        return 'openssl', f'{osl} <- {ngx}'
    # the first nginx frame that is not an allocator: what the memory is for
    site = next((n for n in names if n not in ALLOC and n != '???'), names[-1])
    how = ('pool' if 'ngx_create_pool' in names else 'block' if 'ngx_palloc_block' in names
           else 'large' if 'ngx_palloc_large' in names else 'malloc')
    key = f'{how}: {site}'
    if 'ngx_create_pool' in names:
        if site in ('ngx_http_alloc_request', 'ngx_http_create_request'):
            return 'req_pool', key
        if site == 'ngx_event_accept':
            return 'conn_pool', key
        if site == 'ngx_http_upstream_connect':
            return 'up_pool', key
        return 'other', key
    if site == 'ngx_ssl_send_chain' and how == 'large':
        return 'tls_buf', key
    if site == 'ngx_http_upstream_process_header' and how == 'large':
        return 'up_buf', key
    if site in CONN:
        return 'conn_pool', key
    if site == 'sse_auto_module' and not any(n.startswith('ngx_http_') for n in names):
        return 'other', key  # the module's own process-wide state (init_process)
    if site.startswith('ngx_http_') or site.startswith('ngx_event_pipe') or site.startswith('ngx_output') \
            or site.startswith('ngx_chain') or site.startswith('sse_auto') or site == 'sse_auto_module':
        return 'req_pool', key
    if site == '(below threshold)' and len(names) == 1:
        return 'other', 'below threshold (top level)'
    return 'other', key

def breakdown(path):
    pieces, heap, extra = parse(path)
    b = collections.Counter()
    s = collections.Counter()
    for frames, n in pieces:
        bucket, key = classify(frames)
        b[bucket] += n
        s[(bucket, key)] += n
    return b, s, heap, extra

res = {}
for c in configs:
    d = os.path.join(out, c)
    base, bs, bh, be = breakdown(os.path.join(d, 'baseline.massif'))
    held, hs, hh, he = breakdown(os.path.join(d, 'held.massif'))
    after, _, ah, _ = breakdown(os.path.join(d, 'after.massif'))
    proxied, clients = map(int, open(os.path.join(d, 'open.txt')).read().split())
    try:
        load = json.load(open(os.path.join(d, 'load.json')))
    except Exception:
        load = {}
    res[c] = dict(delta={k: held[k] - base[k] for k, _ in BUCKETS},
                  sites={k: hs[k] - bs.get(k, 0) for k in set(hs) | set(bs)},
                  heap=(bh, hh, ah), extra=(be, he), open=proxied, clients=clients, load=load)

def kib(x):
    return f'{x / 1024:.2f}'

print(f'# nginx heap per held HTTPS stream, by allocation site (massif)\n')
print(f'{streams} streams requested, held {hold} s (one ~60-byte event every 5 s each); '
      f'divided by the streams open at the snapshot. massif --threshold={threshold}. Runtime {secs // 60} min {secs % 60} s.\n')
print('| bytes per stream | ' + ' | '.join(configs) + ' |')
print('|---|' + '---:|' * len(configs))
for k, label in BUCKETS:
    print(f'| {label} | ' + ' | '.join(f"{res[c]['delta'][k] / res[c]['open']:,.0f}" for c in configs) + ' |')
tot = {c: sum(res[c]['delta'].values()) / res[c]['open'] for c in configs}
print('| **total heap (requested bytes)** | ' + ' | '.join(f'**{tot[c]:,.0f}** ({kib(tot[c])} KiB)' for c in configs) + ' |')
ext = {c: (res[c]['extra'][1] - res[c]['extra'][0]) / res[c]['open'] for c in configs}
print("| malloc's per-block overhead (massif's estimate, mem_heap_extra) | " + ' | '.join(f'{ext[c]:,.0f}' for c in configs) + ' |')
print('| total incl. overhead | ' + ' | '.join(f'{tot[c] + ext[c]:,.0f} ({kib(tot[c] + ext[c])} KiB)' for c in configs) + ' |')
print('| streams open at the snapshot (proxied / client connections) | ' + ' | '.join(f"{res[c]['open']} / {res[c]['clients']}" for c in configs) + ' |')
print('| client errors / events received | ' + ' | '.join(
    f"{res[c]['load'].get('errors', {}).get('total', '?')} / {res[c]['load'].get('events', {}).get('total', '?')}" for c in configs) + ' |')
print('| heap bytes: baseline / held / after the streams closed | ' + ' | '.join(
    ' / '.join(f'{x:,}' for x in res[c]['heap']) for c in configs) + ' |')
print()
for c in configs:
    print(f'## {c}: largest sites (bytes per stream, held − baseline)\n')
    print('| bucket | site (how: first non-allocator frame; OpenSSL: function <- nginx caller) | bytes/stream |')
    print('|---|---|---:|')
    items = sorted(res[c]['sites'].items(), key=lambda kv: -abs(kv[1]))
    for (bucket, key), n in items[:25]:
        if abs(n) / res[c]['open'] < 8:
            break
        print(f'| {bucket} | `{key}` | {n / res[c]["open"]:,.0f} |')
    print()
PY
say "done in $(( $(date +%s) - t_start )) s; results in $out/"
