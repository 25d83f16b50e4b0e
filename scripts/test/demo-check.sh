#!/usr/bin/env bash
# Checks the demo page in Debian's headless Chromium: starts examples/demo/run.sh, opens the page
# (a real EventSource per pane), and passes when /on/ (the module's default) got every event live
# and /off/ (`sse_auto off;`) got them only at the end, and when the page's metrics panel (nginx's
# /sse_auto_status) showed an open stream while /on/ was connected.
# Stops the demo again, whatever happens.
#
#   scripts/test/demo-check.sh [SCREENSHOT]     default target/demo-check/demo.png; next to it go a
#                                          second picture taken halfway through (*-midstream.png),
#                                          one of the metrics panel's open stream (*-metrics.png),
#                                          result.json (all numbers) and run.log (the demo's output)
#
# Environment: NGINX, MODULE (default: from `make -s paths`), DEMO_PORT / DEMO_BACKEND_PORT (default
# 18090 / 18091, or the next free pair when those are taken), DEMO_CHECK_COUNT (5),
# DEMO_CHECK_INTERVAL (0.5), DEMO_CHECK_SCREENSHOT (instead of the argument), DEMO_CHECK_LIVE_MS
# (250), CHROMIUM (/usr/bin/chromium). Installs what is missing: Debian's chromium (as root) and
# t/browser's node modules (npm ci; never a browser download).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

say() { printf 'demo-check: %s\n' "$*"; }
die() { printf 'demo-check: %s\n' "$*" >&2; exit 2; }

case ${1:-} in
    -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
[ $# -le 1 ] || die "too many arguments (try --help)"

shot=${1:-${DEMO_CHECK_SCREENSHOT:-target/demo-check/demo.png}}
case $shot in /*) ;; *) shot=$repo/$shot ;; esac
outdir=$(dirname "$shot")
count=${DEMO_CHECK_COUNT:-5}
interval=${DEMO_CHECK_INTERVAL:-0.5}
live_ms=${DEMO_CHECK_LIVE_MS:-250}
chromium_bin=${CHROMIUM:-/usr/bin/chromium}

# ---- what the check needs ---------------------------------------------------------------------

installed() { dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null \
        | grep -Eq "^install ok installed ($(dpkg --print-architecture)|all)\$"; }

missing=()
if [ "$chromium_bin" = /usr/bin/chromium ]; then
    installed chromium || missing+=(chromium)
fi
# The page's monospace and sans-serif stacks name Liberation fonts; chromium alone brings DejaVu.
installed fonts-liberation || missing+=(fonts-liberation)
for p in curl python3; do command -v "$p" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$chromium_bin" ] || die "no browser at $chromium_bin (set CHROMIUM=...)"
command -v node >/dev/null || die "node not found (Node 20 or later is needed)"
command -v npm >/dev/null || die "npm not found"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old (20 or later is needed)"

# t/browser's node modules, from package-lock.json; again when the lock file changed.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -f t/browser/node_modules/playwright-core/package.json ] ||
   [ t/browser/package-lock.json -nt t/browser/node_modules/.package-lock.json ]; then
    say "npm ci in t/browser"
    (cd t/browser && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in t/browser failed"
fi

if [ -z "${NGINX:-}" ] || [ -z "${MODULE:-}" ]; then
    paths=$(make -s paths) || die "make paths failed; build first with: make build"
    [ -n "${NGINX:-}" ] || NGINX=$(printf '%s\n' "$paths" | sed -n 's/^nginx=//p')
    [ -n "${MODULE:-}" ] || MODULE=$(printf '%s\n' "$paths" | sed -n 's/^module=//p')
fi

# ---- ports ------------------------------------------------------------------------------------

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${DEMO_PORT:-}" ] || [ -n "${DEMO_BACKEND_PORT:-}" ]; then
    port=${DEMO_PORT:-18090}
    backend_port=${DEMO_BACKEND_PORT:-$((port + 1))}
else
    port=
    for p in $(seq 18090 2 18190); do
        if ! listening "$p" && ! listening "$((p + 1))"; then port=$p; break; fi
    done
    [ -n "$port" ] || die "no free pair of ports in 18090..18191 (set DEMO_PORT / DEMO_BACKEND_PORT)"
    backend_port=$((port + 1))
fi
base=http://127.0.0.1:$port

# ---- run the demo, check it, stop it ----------------------------------------------------------

mkdir -p "$outdir"
metrics_shot=${shot%.png}-metrics.png
rm -f "$shot" "${shot%.png}-midstream.png" "$metrics_shot"
run_log=$outdir/run.log
result_json=$outdir/result.json
profile=$(mktemp -d "${TMPDIR:-/tmp}/sse-auto-chromium.XXXXXX")
demo_pid=
check_pid=

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# Processes in process group $1 (each of run.sh and the check runs in a group of its own).
# Zombies (exited, not yet reaped) do not count.
group_pids() { ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'; }

# Stops the process group led by $1: SIGTERM to the leader (run.sh stops nginx and the backend
# itself), then, after ~10 s or once the leader is gone, SIGKILL to whatever is left of the group.
stop_group() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    for i in $(seq 20); do
        [ -n "$(group_pids "$pid")" ] || break
        sleep 0.1
    done
    if [ -n "$(group_pids "$pid")" ]; then
        say "warning: processes of group $pid still running after SIGTERM; killing them" >&2
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    trap - EXIT INT TERM
    stop_group "$check_pid"
    stop_group "$demo_pid"
    check_pid='' demo_pid=''
    # A browser that outlived its driver would still hold the profile directory open.
    local left
    # (The directory goes to awk through its environment: in its arguments awk would find itself.)
    left=$(ps -e -o pid=,stat=,args= | PROFILE=$profile awk '$2 !~ /^Z/ && index($0, ENVIRON["PROFILE"]) { print $1 }')
    if [ -n "$left" ]; then
        say "warning: killing browser processes left behind: ${left//$'\n'/ }" >&2
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
    rm -rf "$profile"
}
trap cleanup EXIT
trap 'say "interrupted"; cleanup; exit 130' INT TERM

# setsid: run.sh leads a process group of its own, so that nothing of it can be left behind.
env -u DEMO_CHECK NGINX="$NGINX" MODULE="$MODULE" DEMO_PORT="$port" DEMO_BACKEND_PORT="$backend_port" \
    setsid ./examples/demo/run.sh </dev/null >"$run_log" 2>&1 &
demo_pid=$!

# Wait (up to 20 s) until the page answers.
for i in $(seq 200); do
    if ! alive "$demo_pid"; then
        wait "$demo_pid" 2>/dev/null || true
        demo_pid=
        cat "$run_log" >&2
        die "run.sh exited during startup"
    fi
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/" || true)
    [ "$status" = 200 ] && break
    [ "$i" -lt 200 ] || { cat "$run_log" >&2; die "the demo did not answer on $base/ within 20 s"; }
    sleep 0.1
done
say "demo up on $base/ (backend on port $backend_port); checking it in $("$chromium_bin" --version 2>/dev/null | head -n 1)"

set +e
setsid node t/browser/demo_check.mjs --base "$base" --count "$count" --interval "$interval" \
    --live-ms "$live_ms" --screenshot "$shot" --json "$result_json" --chromium "$chromium_bin" \
    --user-data-dir "$profile" &
check_pid=$!
wait "$check_pid"
rc=$?
check_pid=
set -e

cleanup
sleep 0.2
for p in "$port" "$backend_port"; do
    if listening "$p"; then say "warning: port $p still answers after the demo stopped" >&2; rc=1; fi
done
if ! grep -q '^stopped\.$' "$run_log"; then
    say "warning: run.sh did not report a clean stop; see $run_log" >&2
    rc=1
fi

shot_rel=${shot#"$repo"/}
if [ "$rc" -eq 0 ] && [ -s "$shot" ]; then
    say "PASS (screenshot: $shot_rel)"
    exit 0
fi
[ -s "$shot" ] || shot_rel="none"
say "FAIL (exit $rc; screenshot: $shot_rel; demo log: ${run_log#"$repo"/})"
exit 1
