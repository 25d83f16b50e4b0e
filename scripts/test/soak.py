#!/usr/bin/env python3
"""Soak test with faults: thousands of SSE streams through nginx + sse_auto for minutes, with
client aborts, upstream resets in the middle of an event, slow clients and reloads.

    scripts/test/soak.py --nginx PATH --module PATH [--seconds 600] [--streams 2000]

Everything runs on loopback: nginx (two workers, module loaded, a plain proxy_pass with
sse_auto_heartbeat 250ms), the streaming upstream and the clients, both in this process
(asyncio). Reports, as text and JSON:
worker crashes ("exited on signal" in the error log), fds and connections of the workers and
RSS of all nginx processes when idle before and after, and events lost on streams that were
neither aborted nor reset (must be 0). Exits non-zero when a check fails.
"""

import argparse
import asyncio
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

CONF = """
{load_module}
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 10000;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;

    server {{
        listen 127.0.0.1:{port};

        location / {{
            {buffering}
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""


# --- upstream ------------------------------------------------------------------------------

async def upstream(reader, writer):
    """Streams n events; with reset=k, sends half of event k and resets the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        writer.close()
        return
    q = dict(re.findall(r"[?&](\w+)=([^& ]+)", head.split(b"\r\n", 1)[0].decode()))
    n, interval = int(q.get("n", 10)), int(q.get("ms", 500)) / 1000
    size, reset = int(q.get("size", 0)), int(q.get("reset", 0))
    sid = q.get("id", "0")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
    pad = "x" * size
    try:
        for seq in range(1, n + 1):
            event = f"id: {seq}\ndata: stream={sid} seq={seq} {pad}\n\n".encode()
            if seq == reset:
                writer.write(event[: len(event) // 2])
                await writer.drain()
                writer.transport.abort()  # RST: the upstream dies mid-event
                return
            writer.write(event)
            await writer.drain()
            await asyncio.sleep(interval)
    except (ConnectionError, OSError):
        pass
    writer.close()


# --- clients -------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.kinds = {}
        self.lost = 0
        self.lost_examples = []
        self.errors = 0
        self.error_examples = []
        self.events = 0
        self.heartbeats = 0

    def count(self, kind, key):
        self.kinds.setdefault(kind, {}).setdefault(key, 0)
        self.kinds[kind][key] += 1


async def read_chunked(reader, slow):
    """Yields the decoded body of a chunked response as it arrives."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed inside the body")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        if slow:
            await asyncio.sleep(0.05)
        yield data


async def client(port, sid, kind, stats):
    n = random.randint(5, 30)
    query = f"/events?id={sid}&n={n}&ms={random.randint(100, 600)}"
    abort_after = reset_at = 0
    if kind == "abort":
        abort_after = random.randint(1, n - 1)
    elif kind == "reset":
        reset_at = random.randint(2, n)
        query += f"&reset={reset_at}"
    elif kind == "slow":
        query += "&size=8000&ms=50"

    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
    except OSError as e:
        stats.errors += 1
        stats.error_examples.append(f"connect: {e}")
        return
    if kind == "slow":
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    writer.write(f"GET {query} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
    seqs, body, clean = [], b"", False
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())
        async for data in read_chunked(reader, kind == "slow"):
            body += data
            while b"\n\n" in body:
                event, body = body.split(b"\n\n", 1)
                if event == b":":
                    stats.heartbeats += 1  # sse_auto_heartbeat; one inside an event corrupts it
                    continue
                m = re.search(rb"stream=(\d+) seq=(\d+)", event)
                if not m or m.group(1).decode() != str(sid):
                    raise ValueError(f"corrupt event {event[:60]!r}")
                seqs.append(int(m.group(2)))
                stats.events += 1
                if abort_after and len(seqs) == abort_after:
                    writer.transport.abort()  # the client goes away
                    stats.count(kind, "aborted")
                    return
        clean = True
    except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError) as e:
        if kind != "reset":
            stats.errors += 1
            stats.error_examples.append(f"{kind} {sid}: {e}")
    finally:
        writer.close()

    expected = list(range(1, (reset_at - 1 if kind == "reset" else n) + 1))
    if seqs != expected:
        stats.lost += 1
        stats.lost_examples.append(f"{kind} {sid}: got {seqs}, expected {expected}")
    # after an upstream reset nginx may end the response cleanly (a close-delimited upstream
    # response) or cut it; either way the events before the reset arrive whole
    stats.count(kind, "done" if clean or kind != "reset" else "cut")


async def load(port, streams, seconds, stats, reloads, master_pid):
    deadline = time.monotonic() + seconds
    kinds = ["normal"] * 7 + ["abort", "reset", "slow"]
    sid = 0

    async def worker():
        nonlocal sid
        await asyncio.sleep(random.random() * 5)  # ramp up
        while time.monotonic() < deadline:
            sid += 1
            await client(port, sid, random.choice(kinds), stats)

    async def reloader():
        for i in range(reloads):
            await asyncio.sleep(seconds / (reloads + 1))
            os.kill(master_pid, signal.SIGHUP)

    await asyncio.gather(reloader(), *(worker() for _ in range(streams)))


# --- measurements --------------------------------------------------------------------------

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return sorted(out)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fds(pid):
    names = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    return len(names), sum(1 for n in names if n.startswith("socket:"))


def snapshot(master):
    workers = children(master)
    return {
        "workers": workers,
        "master_rss_kib": rss_kib(master),
        "workers_rss_kib": [rss_kib(w) for w in workers],
        "rss_kib": rss_kib(master) + sum(rss_kib(w) for w in workers),
        "worker_fds": [fds(w)[0] for w in workers],
        "worker_sockets": [fds(w)[1] for w in workers],
    }


async def idle(master, expected_workers=2, timeout=120):
    """Waits until only the current workers are left (old ones exited after a reload)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(children(master)) > expected_workers:
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)


# --- main ----------------------------------------------------------------------------------

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--module", default="",
                    help="the module; without it, stock nginx with proxy_buffering off")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--reloads", type=int, default=5)
    ap.add_argument("--port", type=int, default=19500)
    ap.add_argument("--json", default="")
    a = ap.parse_args()

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    random.seed(1)

    tmp = tempfile.mkdtemp(prefix="sse-soak-")
    os.chmod(tmp, 0o755)
    up_port = a.port + 1
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(CONF.format(
            load_module=f"load_module {a.module};" if a.module else "",
            # with the module: heartbeats in every gap over 250 ms, so the heartbeat and its
            # failed writes to aborted clients run under the faults too
            buffering="sse_auto_heartbeat 250ms;" if a.module else "proxy_buffering off;",
            dir=tmp, port=a.port, upstream=up_port))

    server = await asyncio.start_server(upstream, "127.0.0.1", up_port, backlog=4096)
    env = dict(os.environ)
    env.pop("NGINX", None)  # nginx reads NGINX for inherited sockets
    proc = subprocess.Popen([a.nginx, "-p", tmp + "/", "-c", f"{tmp}/nginx.conf",
                             "-e", f"{tmp}/error.log"], env=env)
    for _ in range(100):
        if os.path.exists(f"{tmp}/nginx.pid") and len(children(proc.pid)) == 2:
            break
        await asyncio.sleep(0.1)

    # warm-up at full concurrency, with a reload, then the idle baseline: what the soak
    # checks is that memory does not keep growing, not that a process that has served
    # thousands of streams is as small as one that has served none
    # The workers measured at the end are those of the last reload, which served the last
    # stretch of the run; the baseline workers serve a stretch as long, after a reload too.
    stretch = a.seconds / (a.reloads + 1)
    os.kill(proc.pid, signal.SIGHUP)
    await idle(proc.pid)
    warm = Stats()
    await load(a.port, a.streams, stretch, warm, 0, proc.pid)
    await idle(proc.pid)
    before = snapshot(proc.pid)

    stats = Stats()
    started = time.monotonic()
    await load(a.port, a.streams, a.seconds, stats, a.reloads, proc.pid)
    duration = time.monotonic() - started
    await idle(proc.pid)
    after = snapshot(proc.pid)

    proc.send_signal(signal.SIGQUIT)
    proc.wait(timeout=60)
    server.close()

    with open(f"{tmp}/error.log") as f:
        log = f.read()
    crashes = len(re.findall(r"exited on signal", log))
    alerts = len(re.findall(r"\[alert\]", log))

    rss_change = (after["rss_kib"] - before["rss_kib"]) / before["rss_kib"]
    checks = {
        "no worker crashes": crashes == 0,
        "no events lost on streams not aborted or reset": stats.lost == 0,
        "no client errors": stats.errors == 0,
        # Idle RSS of freshly reloaded workers moves by several per cent either way with how
        # the load happened to fall on them (glibc keeps freed memory); a leak only grows.
        "RSS not above baseline (+5 % at most)": rss_change <= 0.05,
        "worker fds back to baseline": sorted(after["worker_fds"]) == sorted(before["worker_fds"]),
    }
    report = {
        "seconds": round(duration), "streams": a.streams, "reloads": a.reloads,
        "events": stats.events, "heartbeats": stats.heartbeats, "kinds": stats.kinds, "lost": stats.lost,
        "lost_examples": stats.lost_examples[:5], "errors": stats.errors,
        "error_examples": stats.error_examples[:5], "crashes": crashes, "alerts": alerts,
        "before": before, "after": after, "rss_change": round(rss_change, 4),
        "checks": checks, "dir": tmp,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)

    print(f"soak ({'sse_auto' if a.module else 'stock nginx, proxy_buffering off'}): "
          f"{a.streams} concurrent streams for {round(duration)} s, {a.reloads} reloads, "
          f"{stats.events} events, {stats.heartbeats} heartbeats")
    for kind, counts in sorted(stats.kinds.items()):
        print(f"  {kind:7} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"  worker crashes {crashes}, alerts {alerts}, client errors {stats.errors}, "
          f"streams with lost events {stats.lost}")
    for name, snap in (("before", before), ("after", after)):
        print(f"  idle {name:6}: RSS {snap['rss_kib']} KiB (master {snap['master_rss_kib']}, "
              f"workers {snap['workers_rss_kib']}), worker fds {snap['worker_fds']}, "
              f"sockets {snap['worker_sockets']}")
    print(f"  RSS change {rss_change:+.1%}")
    for example in stats.lost_examples[:3] + stats.error_examples[:3]:
        print(f"  ! {example}")
    failed = [name for name, ok in checks.items() if not ok]
    print("soak: " + ("PASS" if not failed else "FAIL: " + "; ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
