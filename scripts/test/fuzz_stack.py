#!/usr/bin/env python3
"""Differential stream fuzzer: generated upstream responses through nginx + sse_auto (the
AddressSanitizer build of `make asan`), each compared with the same case through a reference
location (`sse_auto off` and unbuffered, otherwise the same).

    scripts/test/fuzz_stack.py --nginx PATH --module PATH [--seed N] [--cases N] [--seconds N]
                          [--only CASE] [--json FILE] [--config-cases N]

Everything runs on loopback, in this process (asyncio): nginx (master, two workers), one
upstream responder per kind speaking its real wire format (HTTP/1.0 and HTTP/1.1 for
proxy_pass; FastCGI records split and padded at random; uwsgi packets; SCGI netstrings), and
the clients (HTTP/1.1 plain and TLS here, HTTP/2 over TLS through curl).

A case is a pure function of (seed, case number): the upstream kind, the location profile
(sse_auto on/off, buffering, heartbeats, drain, gzip, cache, type lists, small buffers), the
upstream's response (status, headers, framing, body, write splits and pauses, the end) and
the client. `--seed S --only K` replays case K of run S.

Oracle, per case (see docs/RELIABILITY.md for what is strict and why):
- test and reference give the same status and the same kind of end (complete / truncated);
- complete: the same body bytes (decompressed when gzip), after removing the heartbeat
  comments of the test location, each of which must sit at an event boundary; heartbeats only
  where the module treated the response;
- truncated: one body is a prefix of the other;
- a well-formed response must arrive complete and equal to what the upstream meant to send;
- $sse_auto (returned in a header) agrees with a model of the decision for the plain cases,
  and `X-Accel-Buffering: no` is sent exactly for streams (with the hint on);
- a response the module left alone under buffering is compared with a third location
  (`sse_auto off`, buffering as in the test) when it differs from the reference: nginx's own
  buffered and unbuffered paths differ on broken upstreams, which is not the module's doing.
Across the run: no ASan report, no worker exit on a signal, no [alert]/[crit] in error.log,
worker fds back to their idle count at the end.

Exit status: 0 when no case failed and the run checks passed.
"""

import argparse
import asyncio
import collections
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import zlib

KINDS = ["http10", "http11", "fastcgi", "uwsgi", "scgi"]
PREFIX = {"http10": "proxy", "http11": "proxy", "fastcgi": "fastcgi", "uwsgi": "uwsgi",
          "scgi": "scgi"}

# Location profiles: each exists per kind in three roles: t (test), r (reference: sse_auto
# off, unbuffered), s (stock: sse_auto off, buffering as in the test).
PROFILES = [
    dict(),                                              # 0: the defaults
    dict(buffering=False),                               # 1: proxy_buffering off
    dict(heartbeat="40ms"),                              # 2
    dict(buffering=False, heartbeat="30ms", ignore_abort=True),  # 3
    dict(gzip=True),                                     # 4
    dict(gzip=True, heartbeat="50ms"),                   # 5
    dict(cache=True),                                    # 6
    dict(cache=True, heartbeat="40ms"),                  # 7
    dict(types="custom"),                                # 8
    dict(types="off"),                                   # 9
    dict(hint=False, drain="1s", read_timeout="30s"),    # 10
    dict(heartbeat="30ms", drain="50ms"),                # 11
    dict(ignore_xab=True),                               # 12
    # (ignore_abort: nginx does not watch the client, so a heartbeat is what finds it gone)
    dict(small=True, heartbeat="35ms", ignore_abort=True),  # 13
    dict(enable=False, buffering=False, heartbeat="30ms"),  # 14: sse_auto off
    dict(small=True, gzip=True, buffering=False),        # 15
    # soft streaming (on by default): pushed early and often, and off
    dict(soft_idle="5ms", soft_hold="20ms", gzip=True),  # 16
    dict(soft_idle="1ms", soft_hold="1ms", small=True, cache=True),  # 17
    dict(soft=False, heartbeat="40ms"),                  # 18
]

# $sse_auto of the responses that get the stream treatment (soft-streamed ones do not)
STREAM_LABELS = ("switched", "unsized", "unbuffered")

HEARTBEAT = b":\n\n"

# --- configuration ------------------------------------------------------------------------


def location(kind, pi, role, ports):
    p = PROFILES[pi]
    px = PREFIX[kind]
    enable = p.get("enable", True) and role == "t"
    buffering = p.get("buffering", True) and role != "r"
    lines = [f"sse_auto {'on' if enable else 'off'};",
             f"{px}_buffering {'on' if buffering else 'off'};",
             "add_header X-Fuzz-Sse-Auto \"$sse_auto\" always;"]
    if role == "t":
        if "heartbeat" in p:
            lines.append(f"sse_auto_heartbeat {p['heartbeat']};")
        if "drain" in p:
            lines.append(f"sse_auto_drain {p['drain']};")
        if "read_timeout" in p:
            lines.append(f"sse_auto_read_timeout {p['read_timeout']};")
        if p.get("hint") is False:
            lines.append("sse_auto_downstream_hint off;")
        if p.get("types") == "custom":
            lines.append("sse_auto_types application/x-fuzz-stream text/x-Fuzz;")
            lines.append("sse_auto_unsized_types text/html none;")
        elif p.get("types") == "off":
            lines.append("sse_auto_unsized_types off;")
        if p.get("soft") is False:
            lines.append("sse_auto_soft off;")
        if "soft_idle" in p:
            lines.append(f"sse_auto_soft_idle {p['soft_idle']};")
        if "soft_hold" in p:
            lines.append(f"sse_auto_soft_hold {p['soft_hold']};")
    if p.get("gzip"):
        lines.append("gzip on; gzip_types *; gzip_min_length 1; gzip_proxied any;")
    if p.get("cache"):
        lines.append(f"{px}_cache fz_{px}; {px}_cache_key $request_uri; "
                     f"{px}_cache_valid 200 30s;")
    if p.get("ignore_xab"):
        lines.append(f"{px}_ignore_headers X-Accel-Buffering;")
    if p.get("ignore_abort"):
        lines.append(f"{px}_ignore_client_abort on;")
    if p.get("small"):
        lines.append(f"{px}_buffer_size 1k; {px}_buffers 4 1k; {px}_busy_buffers_size 2k;")
    lines.append(f"{px}_read_timeout 10s;")
    up = f"127.0.0.1:{ports[kind]}"
    if px == "proxy":
        lines.append(f"proxy_http_version {'1.0' if kind == 'http10' else '1.1'};")
        lines.append(f"proxy_pass http://{up};")
    elif px == "fastcgi":
        lines.append("fastcgi_param REQUEST_URI $request_uri; "
                     "fastcgi_param REQUEST_METHOD $request_method;")
        lines.append(f"fastcgi_pass {up};")
    elif px == "uwsgi":
        lines.append("uwsgi_param REQUEST_URI $request_uri; "
                     "uwsgi_param REQUEST_METHOD $request_method;")
        lines.append(f"uwsgi_pass {up};")
    else:
        lines.append("scgi_param REQUEST_URI $request_uri; "
                     "scgi_param REQUEST_METHOD $request_method;")
        lines.append(f"scgi_pass {up};")
    body = "\n            ".join(lines)
    return f"        location /f/{kind}/{pi}/{role}/ {{\n            {body}\n        }}\n"


def nginx_conf(d, load_module, port, tls_port, ports, workers, log_level="warn"):
    locs = "".join(location(k, pi, role, ports)
                   for k in KINDS for pi in range(len(PROFILES)) for role in "trs")
    caches = "".join(
        f"    {px}_cache_path {d}/cache_{px} levels=1 keys_zone=fz_{px}:1m max_size=20m "
        f"inactive=10m;\n" for px in ("proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
{load_module}
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 8192;
pid {d}/nginx.pid;
error_log {d}/error.log {log_level};

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
{caches}
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        http2 on;
        server_name localhost;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;

{locs}
    }}
}}
"""


# --- case generation ----------------------------------------------------------------------

CT_VALUES = [
    b"text/event-stream", b"text/event-stream; charset=utf-8", b"TEXT/EVENT-STREAM",
    b"Text/Event-Stream;charset=UTF-8", b"text/event-stream ; foo=bar", b"text/event-stream;",
    b"text/event-streamX", b"text/event-stream,text/html", b"text/event-", b"text/event-stream\t",
    b"application/x-ndjson", b"APPLICATION/X-NDJSON; charset=x", b"application/x-fuzz-stream",
    b"text/x-fuzz", b"text/plain", b"text/plain; charset=utf-8", b"TEXT/PLAIN;", b"text/html",
    b"text/html; charset=utf-8", b"application/json", b"application/octet-stream", b"", b" ",
    b";", b"/", b"text/", b"text/event-stream\x00", b"text/even\x00t-stream",
    b"text/\xc3\xa9vent-stream", b"\xff\xfe", b"text/event-stream; q=\"a;b\"",
    b"application/grpc-web+proto",
]
STREAM_CT = {b"text/event-stream", b"text/event-stream; charset=utf-8", b"TEXT/EVENT-STREAM",
             b"Text/Event-Stream;charset=UTF-8", b"text/event-stream ; foo=bar",
             b"application/x-ndjson", b"APPLICATION/X-NDJSON; charset=x"}
EVENT_CT = {b"text/event-stream", b"text/event-stream; charset=utf-8", b"TEXT/EVENT-STREAM",
            b"Text/Event-Stream;charset=UTF-8", b"text/event-stream ; foo=bar"}
UNSIZED_CT = {b"text/plain", b"text/plain; charset=utf-8", None}
OTHER_CT = {b"text/html", b"text/html; charset=utf-8", b"application/json",
            b"application/octet-stream", b"text/event-streamX"}
XAB_VALUES = [b"no", b"yes", b"NO", b"Yes", b"no ", b"maybe", b"", b"0", b"off"]
EOLS = [b"\n", b"\r\n", b"\r"]


def pick_weighted(rng, items):
    total = sum(w for w, _ in items)
    x = rng.uniform(0, total)
    for w, v in items:
        x -= w
        if x <= 0:
            return v
    return items[-1][1]


def gen_sse(rng):
    style = rng.choice(["lf", "crlf", "cr", "mixed"])

    def eol():
        if style == "mixed":
            return rng.choice(EOLS)
        return {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}[style]

    out = bytearray()
    big = rng.random() < 0.05
    for seq in range(rng.randint(0, 200 if big else 12)):
        for _ in range(rng.randint(1, 4)):
            r = rng.random()
            if r < 0.15:
                out += b":" + rng.choice([b"", b" ping", b" comment " + b"c" * rng.randint(0, 50)])
            elif r < 0.25:
                out += b"id: " + str(seq).encode()
            elif r < 0.32:
                out += b"event: " + rng.choice([b"msg", b"update", b""])
            elif r < 0.35:
                out += b"retry: " + str(rng.randint(0, 5000)).encode()
            else:
                size = rng.randint(0, 8000 if big else 120)
                out += b"data: " + bytes(rng.choice(b"abcdefghij {}\":,0123456789")
                                         for _ in range(size))
            out += eol()
        out += eol()
    if rng.random() < 0.2:
        out += b"data: partial" + (eol() if rng.random() < 0.5 else b"")
    return bytes(out)


def gen_body(rng):
    flavour = pick_weighted(rng, [(6, "sse"), (1.5, "ndjson"), (1, "text"), (1, "binary"),
                                  (0.5, "empty"), (0.3, "large")])
    if flavour == "sse":
        return gen_sse(rng)
    if flavour == "ndjson":
        return b"".join(b'{"seq":%d,"v":"%s"}\n' % (i, b"x" * rng.randint(0, 60))
                        for i in range(rng.randint(0, 20)))
    if flavour == "text":
        return b"".join(b"token %d " % i for i in range(rng.randint(0, 100)))
    if flavour == "binary":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000)))
    if flavour == "large":
        return (b"data: " + b"L" * 1000 + b"\n\n") * rng.randint(50, 400)
    return b""


def chunk_body(rng, body, bad):
    """Chunked framing of body; bad: None or the kind of invalid framing to produce."""
    out = bytearray()
    i = 0
    upper = rng.random() < 0.5
    while i < len(body):
        n = min(len(body) - i, rng.choice([1, 2, 7, 64, 500, 4096, 20000]))
        size = (b"%X" if upper else b"%x") % n
        if rng.random() < 0.1:
            size = b"000" + size
        ext = b";ext=" + b"v" * rng.randint(0, 10) if rng.random() < 0.15 else b""
        out += size + ext + b"\r\n" + body[i:i + n] + b"\r\n"
        i += n
    if bad == "hex":
        pos = rng.randint(0, len(out))
        out = out[:pos] + b"zz\r\n" + out[pos:]
    elif bad == "nocrlf" and len(out) > 4:
        pos = out.rfind(b"\r\n")
        out = out[:pos] + out[pos + 2:]
    elif bad == "short":
        out += b"ff\r\nabc"
        return bytes(out)
    if bad != "nolast":
        out += b"0\r\n"
        if rng.random() < 0.1:
            out += b"X-Trailer: t\r\n"
        out += b"\r\n"
    return bytes(out)


def fcgi_records(rng, req_id, stdout, bad):
    """The FCGI_STDOUT records (and the rest) of stdout; and whether stdout is closed by an
    empty record."""
    out = bytearray()
    closed = False
    i = 0
    version = 1
    while i < len(stdout) or i == 0:
        n = min(len(stdout) - i, rng.choice([1, 8, 100, 1000, 8192, 65535]))
        pad = rng.choice([0, 0, 0, 1, 7, 255])
        if rng.random() < 0.05:
            msg = b"fuzz stderr line"
            out += struct.pack(">BBHHBB", 1, 7, req_id, len(msg), 0, 0) + msg
        out += struct.pack(">BBHHBB", version, 6, req_id, n, pad, 0)
        out += stdout[i:i + n] + bytes(pad)
        i += n
        if n == 0:
            break
        if bad == "version" and rng.random() < 0.3:
            version = 2
    if rng.random() < 0.5 and len(stdout) > 0:
        out += struct.pack(">BBHHBB", 1, 6, req_id, 0, 0, 0)
        closed = True
    if bad != "noend":
        out += struct.pack(">BBHHBB", 1, 3, req_id, 8, 0, 0) + bytes(8)
    return bytes(out), closed or len(stdout) == 0


class Case:
    pass


def gen_case(seed, n, profiles=None):
    rng = random.Random(f"{seed}:{n}")
    c = Case()
    c.n = n
    c.kind = rng.choice(KINDS)
    c.profile = rng.choice(profiles) if profiles else rng.randrange(len(PROFILES))
    c.client = pick_weighted(rng, [(5, "plain"), (2, "tls"), (2, "h2")])
    c.mode = pick_weighted(rng, [(8, "normal"), (1.5, "slow"), (1, "abort")])
    c.method = "HEAD" if rng.random() < 0.04 else "GET"
    c.gzip = rng.random() < 0.5
    c.abort_after = rng.randint(0, 3000)
    c.abort_ms = rng.randint(0, 400)
    c.recheck_cache = rng.random() < 0.3

    http = c.kind.startswith("http")
    # status
    status = pick_weighted(rng, [(75, 200), (3, 201), (3, 204), (3, 304), (2, 100), (1, 101),
                                 (2, 103), (1, 199), (2, 302), (3, 404), (3, 500), (1, 502),
                                 (1, 999), (1, 0)])
    interim = http and status == 200 and rng.random() < 0.03
    # Content-Type
    ct_roll = rng.random()
    if ct_roll < 0.1:
        cts = []
    elif ct_roll < 0.14:
        cts = [rng.choice(CT_VALUES), rng.choice(CT_VALUES)]
    elif ct_roll < 0.17:
        cts = [b"text/event-stream; p=" + b"a" * rng.choice([100, 1000, 3000, 9000])]
    else:
        cts = [pick_weighted(rng, [(10, b"text/event-stream"),
                                   (4, b"text/event-stream; charset=utf-8"),
                                   (3, b"text/plain; charset=utf-8"), (3, b"text/html"),
                                   (2, b"application/x-ndjson"), (12, None)])]
        if cts[0] is None:
            cts = [rng.choice(CT_VALUES)]
    ct_name = rng.choice([b"Content-Type", b"content-type", b"CONTENT-TYPE"])
    xabs = []
    r = rng.random()
    if r < 0.25:
        xabs = [rng.choice(XAB_VALUES)]
    elif r < 0.28:
        xabs = [rng.choice(XAB_VALUES), rng.choice(XAB_VALUES)]

    body = gen_body(rng)
    framing = "raw"
    bad = None
    cl = None
    if http and rng.random() < 0.45:
        framing = "chunked"
        bad = pick_weighted(rng, [(85, None), (4, "hex"), (4, "nocrlf"), (4, "short"),
                                  (3, "nolast")])
    if framing == "raw" and rng.random() < 0.3:
        cl = pick_weighted(rng, [(6, b"%d" % len(body)), (1, b"%d" % (len(body) + 5)),
                                 (1, b"%d" % max(0, len(body) - 5)), (0.5, b"abc"),
                                 (0.5, b"-1"), (0.3, b"99999999999999999999")])
    elif framing == "chunked" and rng.random() < 0.05:
        cl = b"%d" % len(body)  # both: nginx must refuse or ignore consistently

    headers = []
    for v in cts:
        headers.append(ct_name + b": " + v)
    for v in xabs:
        headers.append(b"X-Accel-Buffering: " + v)
    if cl is not None:
        headers.append(b"Content-Length: " + cl)
    if framing == "chunked":
        headers.append(rng.choice([b"Transfer-Encoding: chunked", b"Transfer-Encoding: Chunked",
                                   b"transfer-encoding: chunked"]))
    if rng.random() < 0.3:
        headers.append(b"Cache-Control: no-cache")
    junk_ctl = False
    if rng.random() < 0.05:
        junk = bytes(rng.getrandbits(7) | 0x20 for _ in range(50))
        junk_ctl = b"\x7f" in junk  # HTTP/2 clients refuse it
        headers.append(b"X-Junk: " + junk)
    rng.shuffle(headers)

    style = "http"
    if c.kind == "fastcgi" or (c.kind in ("uwsgi", "scgi") and rng.random() < 0.5):
        style = "cgi"
    eol = b"\r\n" if rng.random() < 0.9 else b"\n"
    if style == "http":
        version = b"HTTP/1.0" if (c.kind == "http10" and rng.random() < 0.5) else b"HTTP/1.1"
        head = b"" if status == 0 else version + b" %d Fuzz" % status + eol
        if interim:
            head = version + b" 100 Continue" + eol + eol + head
        if http:
            headers.append(b"Connection: close")
    else:
        head = b"" if status == 0 else b"Status: %d Fuzz" % status + eol
        version = None
    head += b"".join(h + eol for h in headers) + eol

    framed = chunk_body(rng, body, bad) if framing == "chunked" else body
    stdout = head + framed
    end = pick_weighted(rng, [(85, "close"), (7, "rst"), (8, "cut")])
    if end == "cut":
        stdout = stdout[:rng.randint(len(head) // 2, max(len(head) // 2, len(stdout) - 1))]
    if c.kind == "fastcgi":
        fbad = pick_weighted(rng, [(94, None), (3, "version"), (3, "noend")])
        # request id patched at send time
        wire, c.fcgi_closed = fcgi_records(rng, 1, stdout, fbad)
        c.fcgi_bad = fbad
    else:
        wire = stdout
        c.fcgi_bad = None
        c.fcgi_closed = False

    # write splits and pauses
    writes = []
    i = 0
    total_pause = 0
    while i < len(wire):
        n = min(len(wire) - i, rng.choice([1, 3, 10, 50, 300, 2000, 16384, 100000]))
        pause = pick_weighted(rng, [(55, 0), (30, rng.randint(1, 30)),
                                    (15, rng.randint(30, 300))])
        if total_pause + pause > 1500:
            pause = 0
        total_pause += pause
        writes.append((i, i + n, pause))
        i += n
    c.wire = wire
    c.writes = writes
    c.end = end
    # drain locations: some streams last a few seconds, so that reloads find them open
    c.long = bool(PROFILES[c.profile].get("drain")) and rng.random() < 0.4
    # HTTP/1.1 clients: a second request on the same connection after the first response
    c.keepalive = c.client != "h2" and rng.random() < 0.2
    if c.long:
        lr = random.Random(f"{seed}:{n}:long")
        step = max(1, len(wire) // lr.randint(3, 8))
        c.writes = [(a, min(a + step, len(wire)), lr.randint(200, 900))
                    for a in range(0, len(wire), step)]

    # what a well-formed response must deliver
    c.status = status
    c.cts = cts
    c.xabs = xabs
    c.cl = cl
    c.framing = framing
    c.bad = bad
    c.body = body
    c.interim = interim
    well = (end == "close" and bad is None and c.fcgi_bad is None and status in (200, 201, 404, 500)
            and not interim and (cl is None or cl == b"%d" % len(body))
            and not (framing == "chunked" and (cl is not None or version != b"HTTP/1.1"))
            and len(cts) <= 1 and all(len(v) < 900 and b"\x00" not in v for v in cts)
            and len(xabs) <= 1 and not junk_ctl)
    c.expected = body if well and c.method == "GET" else None
    c.well = well
    c.event_stream = len(cts) == 1 and cts[0] in EVENT_CT
    return c


def model_label(c):
    """The $sse_auto the decision rules give a plain case, or None when it is not plain."""
    p = PROFILES[c.profile]
    if not c.well or c.method != "GET" or c.status != 200 or p.get("types"):
        return None
    if not p.get("enable", True):
        return ""
    ct = c.cts[0].strip(b" \t") if c.cts else None  # nginx trims header values
    # nginx drops the whitespace around header values
    xab = c.xabs[0].strip(b" \t").lower() if c.xabs else None
    ignore = p.get("ignore_xab", False)
    # nginx's own buffering: the location's, unless the upstream's X-Accel-Buffering says
    # otherwise and is not ignored
    buffered = p.get("buffering", True)
    if not ignore and xab in (b"yes", b"no"):
        buffered = xab == b"yes"
    unbuffered = not buffered
    says_buffer = xab == b"yes" and not ignore
    soft = "soft" if p.get("soft", True) else ""
    if ct in STREAM_CT:
        if unbuffered:
            return "unbuffered"
        return "" if says_buffer else "switched"
    if ct not in UNSIZED_CT and ct not in OTHER_CT:
        return None  # a type the model does not know (parameters, malformed)
    if c.cl is not None:
        return ""
    if ct in UNSIZED_CT:
        if unbuffered:
            return "unbuffered"
        if p.get("cache"):
            return None  # depends on the cacheability rules
        return "" if says_buffer else "unsized"
    if ct in OTHER_CT:
        # buffered without a length: soft-streamed (X-Accel-Buffering: yes does not stop it)
        return "" if unbuffered else soft
    return None


# --- upstream responders ------------------------------------------------------------------

CASES = {}
URI_RE = re.compile(rb"/f/[a-z0-9]+/\d+/[trs]/(\d+)")


def case_of(uri):
    m = URI_RE.search(uri)
    return CASES.get(int(m.group(1))) if m else None


async def send_script(writer, c, wire):
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    try:
        for a, b, pause in c.writes:
            writer.write(wire[a:b])
            await writer.drain()
            if pause:
                await asyncio.sleep(pause / 1000)
        if c.end == "rst":
            await asyncio.sleep(0.05)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        await asyncio.sleep(0.002)
    except (ConnectionError, OSError):
        pass
    except asyncio.CancelledError:
        # the run is over (a stream still being sent to a client that left)
        writer.transport.abort()
        return
    writer.close()


async def serve_http(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    c = case_of(head.split(b"\r\n", 1)[0])
    if c is None:
        writer.write(b"HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        writer.close()
        return
    await send_script(writer, c, c.wire)


async def serve_fastcgi(reader, writer):
    params = b""
    req_id = 1
    try:
        while True:
            hdr = await reader.readexactly(8)
            _, typ, req_id, clen, plen, _ = struct.unpack(">BBHHBB", hdr)
            data = await reader.readexactly(clen + plen)
            if typ == 4:
                params += data[:clen]
            if typ == 5 and clen == 0:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return
    uri = b""
    i = 0
    while i < len(params):
        lens = []
        for _ in range(2):
            if params[i] & 0x80:
                lens.append(struct.unpack(">I", params[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
            else:
                lens.append(params[i])
                i += 1
        name = params[i:i + lens[0]]
        value = params[i + lens[0]:i + lens[0] + lens[1]]
        i += lens[0] + lens[1]
        if name == b"REQUEST_URI":
            uri = value
    c = case_of(uri)
    if c is None:
        writer.close()
        return
    wire = c.wire
    if req_id != 1:
        # records were made for request id 1: patch every record header's id
        wire = bytearray(wire)
        j = 0
        while j + 8 <= len(wire):
            clen, plen = struct.unpack(">H", wire[j + 4:j + 6])[0], wire[j + 6]
            wire[j + 2:j + 4] = struct.pack(">H", req_id)
            j += 8 + clen + plen
        wire = bytes(wire)
    await send_script(writer, c, wire)


async def serve_uwsgi(reader, writer):
    try:
        hdr = await reader.readexactly(4)
        size = struct.unpack("<H", hdr[1:3])[0]
        data = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return
    uri = b""
    i = 0
    while i + 2 <= len(data):
        kl = struct.unpack("<H", data[i:i + 2])[0]
        k = data[i + 2:i + 2 + kl]
        i += 2 + kl
        vl = struct.unpack("<H", data[i:i + 2])[0]
        v = data[i + 2:i + 2 + vl]
        i += 2 + vl
        if k == b"REQUEST_URI":
            uri = v
    c = case_of(uri)
    if c is None:
        writer.close()
        return
    await send_script(writer, c, c.wire)


async def serve_scgi(reader, writer):
    try:
        size = int((await reader.readuntil(b":"))[:-1])
        data = await reader.readexactly(size + 1)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        writer.close()
        return
    fields = data[:-1].split(b"\0")
    uri = b""
    for k, v in zip(fields[0::2], fields[1::2]):
        if k == b"REQUEST_URI":
            uri = v
    c = case_of(uri)
    if c is None:
        writer.close()
        return
    await send_script(writer, c, c.wire)


SERVERS = {"http10": serve_http, "http11": serve_http, "fastcgi": serve_fastcgi,
           "uwsgi": serve_uwsgi, "scgi": serve_scgi}

# --- clients ------------------------------------------------------------------------------


class Result:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.end = None  # complete | truncated | overrun | timeout | aborted | extra
        self.note = ""
        self.second = None  # keepalive: the status of the second response on the connection

    def short(self):
        return (f"status={self.status} end={self.end} len={len(self.body)} "
                f"sse={self.headers.get('x-fuzz-sse-auto')!r} {self.note}")


def parse_head(raw):
    lines = raw.split(b"\r\n")
    m = re.match(rb"HTTP/[\d.]+ (\d{3})", lines[0])
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            k = k.strip().lower().decode("latin-1")
            v = v.strip().decode("latin-1")
            headers[k] = headers[k] + "," + v if k in headers else v
    return status, headers


def frame_length(raw, method):
    """The length of the first response in raw when it is all there and framed (chunked or
    with a Content-Length, as nginx frames keepalive responses), else None."""
    i = raw.find(b"\r\n\r\n")
    if i < 0:
        return None
    status, headers = parse_head(bytes(raw[:i]))
    if status is None or "close" in headers.get("connection", ""):
        return None
    j = i + 4
    if method == "HEAD" or status in (204, 304) or status < 200:
        return j
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            k = raw.find(b"\r\n", j)
            if k < 0:
                return None
            try:
                n = int(bytes(raw[j:k]).split(b";")[0], 16)
            except ValueError:
                return None
            if n == 0:
                end = raw.find(b"\r\n\r\n", k)  # trailers, then the empty line
                return end + 4 if end >= 0 else None
            j = k + 2 + n + 2
            if j > len(raw):
                return None
    if "content-length" in headers:
        n = int(headers["content-length"].split(",")[0])
        return j + n if len(raw) >= j + n else None
    return None


def decode_h1(raw, method):
    """(status, headers, body, end) of a raw HTTP/1.1 response read to EOF."""
    res = Result()
    i = raw.find(b"\r\n\r\n")
    if i < 0:
        res.end = "truncated"
        res.note = "no header"
        return res
    res.status, res.headers = parse_head(raw[:i])
    rest = raw[i + 4:]
    if method == "HEAD" or res.status in (204, 304) or (res.status or 0) < 200:
        res.end = "complete" if not rest else "extra"
        return res
    if "chunked" in res.headers.get("transfer-encoding", ""):
        body = bytearray()
        j = 0
        while True:
            k = rest.find(b"\r\n", j)
            if k < 0:
                res.end = "truncated"
                break
            try:
                n = int(rest[j:k].split(b";")[0], 16)
            except ValueError:
                res.end = "bad-chunk"
                break
            if n == 0:
                res.end = "complete" if rest[k:k + 4] == b"\r\n\r\n" else "truncated"
                break
            if len(rest) < k + 2 + n + 2:
                body += rest[k + 2:k + 2 + n]
                res.end = "truncated"
                break
            body += rest[k + 2:k + 2 + n]
            j = k + 2 + n + 2
        res.body = bytes(body)
    elif "content-length" in res.headers:
        n = int(res.headers["content-length"].split(",")[0])
        res.body = rest[:n]
        res.end = "complete" if len(rest) >= n else "truncated"
        if len(rest) > n:
            # on a keepalive connection these would be read as the next response
            res.end = "overrun"
            res.note = f"{len(rest) - n} bytes after Content-Length"
    else:
        res.body = rest
        res.end = "complete"  # close-delimited
    return res


async def client_h1(c, path, port, tls, deadline):
    res = Result()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if c.mode == "slow":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    raw = bytearray()
    writer = None
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 5)
        ctx = None
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            sock=sock, ssl=ctx, server_hostname="localhost" if tls else None), 5)
        keepalive = getattr(c, "keepalive", False) and c.mode != "abort"
        req = (f"{c.method} {path} HTTP/1.1\r\nHost: localhost\r\n"
               + ("" if keepalive else "Connection: close\r\n")
               + ("Accept-Encoding: gzip\r\n" if c.gzip else "") + "\r\n")
        writer.write(req.encode())
        await writer.drain()
        start = time.monotonic()
        first = None  # keepalive: the length of the first response, once it is all there
        while True:
            if keepalive and first is None:
                first = frame_length(raw, c.method)
                if first is not None:
                    # the same request again on the same connection: what comes back must
                    # start with a status line, not with what is left of the first
                    writer.write(f"GET {path}?again HTTP/1.1\r\nHost: localhost\r\n"
                                 f"Connection: close\r\n\r\n".encode())
                    await writer.drain()
            left = deadline - time.monotonic()
            if left <= 0:
                res.end = "timeout"
                break
            if c.mode == "abort" and (len(raw) >= c.abort_after
                                      or time.monotonic() - start > c.abort_ms / 1000):
                res.end = "aborted"
                break
            size = 1024 if c.mode == "slow" else 65536
            data = await asyncio.wait_for(reader.read(size), left)
            if not data:
                break
            raw += data
            if c.mode == "slow":
                await asyncio.sleep(0.002)
    except asyncio.TimeoutError:
        res.end = "timeout"
    except (ConnectionError, OSError, ssl.SSLError) as e:
        res.note = type(e).__name__
    finally:
        if writer is not None:
            if c.mode == "abort" and res.end == "aborted":
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            writer.transport.abort()
        else:
            sock.close()
    if res.end in ("timeout", "aborted"):
        return res
    second = None
    if first is not None:
        raw, second = raw[:first], bytes(raw[first:])
    out = decode_h1(bytes(raw), c.method)
    if second is not None:
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", second)
        out.second = int(m.group(1)) if m else f"no status line: {second[:40]!r}"
    if res.note and out.end == "complete" and "chunked" not in out.headers.get(
            "transfer-encoding", "") and "content-length" not in out.headers:
        out.end = "truncated"  # a close-delimited body cut by a reset
    out.note = res.note
    return out


async def client_h2(c, path, port, tmp, deadline):
    res = Result()
    bodyf = f"{tmp}/h2.{c.n}.{path.split('/')[4]}.body"
    headf = bodyf + ".head"
    args = ["curl", "-sk", "--http2", "-o", bodyf, "-D", headf, "--max-time",
            f"{max(1, deadline - time.monotonic()):.1f}", "-w", "%{http_code}"]
    if c.method == "HEAD":
        args.append("-I")
    if c.gzip:
        args += ["-H", "Accept-Encoding: gzip"]
    if c.mode == "slow":
        args += ["--limit-rate", "20k"]
    if c.mode == "abort":
        args[args.index("--max-time") + 1] = f"{max(0.05, c.abort_ms / 1000):.2f}"
    args.append(f"https://localhost:{port}{path}")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "CURL_HOME": tmp},
    )
    out, _ = await proc.communicate()
    rc = proc.returncode
    try:
        with open(headf, "rb") as f:
            head = f.read()
        with open(bodyf, "rb") as f:
            res.body = f.read()
    except OSError:
        head = b""
    for fn in (headf, bodyf):
        try:
            os.unlink(fn)
        except OSError:
            pass
    if c.method == "HEAD":
        res.body = b""  # curl -I writes the header there
    if head:
        # the last header block (after interim ones)
        blocks = [b for b in head.split(b"\r\n\r\n") if b.strip()]
        res.status, res.headers = parse_head(blocks[-1] if blocks else b"")
    if c.mode == "abort" and rc == 28:
        res.end = "aborted"
    elif rc == 0:
        res.end = "complete"
    elif rc == 28:
        res.end = "timeout"
    else:
        res.end = "truncated"
        res.note = f"curl={rc}"
    return res


def gunzip(data):
    d = zlib.decompressobj(31)
    try:
        return d.decompress(data) + d.flush(), d.eof
    except zlib.error:
        return None, False


# --- the oracle ---------------------------------------------------------------------------

def at_boundary_after(data):
    """True when data (an SSE stream so far) ends at an event boundary: at its start or right
    after an empty line (CRLF, LF or CR line ends). The reference for where heartbeats may go,
    written independently of the module's tracker; only the run of line ends at the end
    matters."""
    core = data.rstrip(b"\r\n")
    tail = data[len(core):]
    lines = re.split(rb"\r\n|\n|\r", (b"x" if core else b"") + tail)
    # the stream is at a boundary when its last line end ends an empty line
    return len(lines) == 1 and not core or (len(lines) >= 2 and lines[-1] == b""
                                            and (lines[-2] == b"" or (not core
                                                                      and len(lines) == 2)))


def common_run(a, i, b, j):
    """Length of the common run of a[i:] and b[j:]."""
    lo, hi = 0, min(len(a) - i, len(b) - j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i:i + mid] == b[j:j + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def strip_heartbeats(test, ref):
    """Removes the heartbeat comments from test, the bytes of a location with heartbeats, to
    compare it with ref, the same response without them; returns (stripped, count, positions
    of heartbeats not at an event boundary). Where both have ":\n\n", matching it as ref's
    own is always right: a heartbeat there can move past it, still at a boundary. Elsewhere a
    ":\n\n" in test that ref lacks can only be a heartbeat: one inside ref's bytes would not
    be at a boundary."""
    out = bytearray()
    i = j = 0
    count = 0
    bad = []
    while i < len(test):
        # skip the bytes both have in common, but for the last two (a heartbeat may start
        # there): compared in C, a slice at a time
        run = common_run(test, i, ref, j)
        if run > 2:
            out += test[i:i + run - 2]
            i += run - 2
            j += run - 2
        if test.startswith(HEARTBEAT, i) and not ref.startswith(HEARTBEAT, j):
            count += 1
            tail = bytes(out[-8:])
            if not at_boundary_after(tail if tail.rstrip(b"\r\n") else bytes(out)):
                bad.append(len(out))
            i += 3
            continue
        if j < len(ref) and test[i] == ref[j]:
            out.append(test[i])
            i += 1
            j += 1
            continue
        out += test[i:]
        break
    return bytes(out), count, bad


def is_event_stream(value):
    """The media type of a Content-Type value is text/event-stream (any case, parameters)."""
    return value is not None and value.split(";")[0].strip(" \t").lower() == "text/event-stream"


# Tengine's own error pages show the request's URL (the test and the reference location differ
# in one path segment), the host and the time: compared without that table
ERROR_INFO = re.compile(rb"<table>\r?\n<tr>\r?\n<td>URL:</td>.*?</table>\r?\n", re.S)


def classify(c, t, r):
    """Failure messages for test result t against reference result r (empty: pass)."""
    fails = []
    p = PROFILES[c.profile]
    sse_t = t.headers.get("x-fuzz-sse-auto", "")
    # invalid upstream framing: nginx drops the header it still holds when its first read
    # has the error in it, so "nothing" and "truncated" are the same end (seed 20261201
    # case 28855 flips between them in either location)
    def nothing(x):
        return x.status is None and not x.body and x.end == "truncated"
    if t.status != r.status and not ((c.bad or c.fcgi_bad) and t.end == r.end == "truncated"
                                     and (nothing(t) or nothing(r))):
        fails.append(f"status {t.status} != reference {r.status}")
    end_t = t.end
    end_r = r.end
    if end_t != end_r:
        fails.append(f"end {end_t} != reference {end_r}")
    if t.second != r.second and not getattr(c, "reloaded", False):
        # (an exiting worker answers with Connection: close and closes idle keepalive
        # connections)
        fails.append(f"keepalive: second response {t.second} != reference {r.second}")
    tb, rb = t.body, r.body
    if t.headers.get("content-encoding") == "gzip":
        tb, _ = gunzip(tb)
    if r.headers.get("content-encoding") == "gzip":
        rb, _ = gunzip(rb)
    if tb is None or rb is None:
        if end_t == "complete" and end_r == "complete":
            fails.append("gzip body does not decompress")
        return fails, sse_t
    if (t.status or 0) >= 400 and (r.status or 0) >= 400:
        tb, rb = ERROR_INFO.sub(b"", tb), ERROR_INFO.sub(b"", rb)
    hb = 0
    if p.get("heartbeat") and sse_t in STREAM_LABELS:
        tb, hb, bad = strip_heartbeats(tb, rb)
        if bad:
            fails.append(f"heartbeat inside an event at {bad[:3]}")
        if hb and not is_event_stream(t.headers.get("content-type")):
            fails.append(f"{hb} heartbeats in a {t.headers.get('content-type')!r} response")
    if end_t == "complete" and end_r == "complete":
        if tb != rb:
            fails.append(f"body differs: {len(tb)} vs {len(rb)} bytes, first difference at "
                         f"{next((k for k in range(min(len(tb), len(rb))) if tb[k] != rb[k]), min(len(tb), len(rb)))}")
    elif end_t in ("truncated", "complete") and end_r in ("truncated", "complete"):
        if not (tb.startswith(rb) or rb.startswith(tb)):
            fails.append("truncated bodies are not prefixes of each other")
    c.heartbeats = hb
    return fails, sse_t


def known_issue(c, t):
    """The open module bug a failure is, if it is one: reported apart, so that CI stays green
    until its fix lands (then remove it here, and the TODO of its test)."""
    # (none open: heartbeats and drain in responses with a Content-Length, found by this
    # fuzzer, were fixed in filter.rs; t/sse_auto_fuzz.t)
    return None


def drained_ok(c, t, r):
    """A stream with sse_auto_drain during a reload: complete, and either the whole reference
    body or a prefix of it that ends at an event boundary."""
    if "timeout" in (t.end, r.end):
        # the client gave up (a slow one, a loaded machine): how far each got says nothing
        return [] if t.end == r.end else [f"drained: end {t.end}, reference {r.end}"]
    tb, rb = t.body, r.body
    if t.headers.get("content-encoding") == "gzip":
        tb, _ = gunzip(tb)
    if r.headers.get("content-encoding") == "gzip":
        rb, _ = gunzip(rb)
    if tb is None or rb is None:
        return ["drained: gzip body does not decompress"]
    if PROFILES[c.profile].get("heartbeat"):
        tb, _, bad = strip_heartbeats(tb, rb)
        if bad:
            return [f"drained: heartbeat inside an event at {bad[:3]}"]
    if t.status != r.status:
        return [f"drained: status {t.status} != reference {r.status}"]
    if tb == rb and t.end == r.end:
        return []
    c.drained = True
    if t.end != "complete":
        return [f"drained: end {t.end}, reference {r.end}"]
    if not rb.startswith(tb) or not at_boundary_after(tb):
        return ["drained: body is not a prefix of the reference at an event boundary"]
    return []


def sent_early_prefix(c, t):
    """The test's body, less heartbeats, is the start of the upstream's body."""
    tb = t.body
    if t.headers.get("content-encoding") == "gzip":
        tb, _ = gunzip(tb)
    if tb is None:
        return False
    if PROFILES[c.profile].get("heartbeat"):
        tb, _, bad = strip_heartbeats(tb, c.body)
        if bad:
            return False
    return c.body.startswith(bytes(tb))


def soft_beat_the_reset(c, t, r):
    """The test got the upstream's whole body, the reference a prefix of it (a shorter one,
    or all of it with a truncated end)."""
    tb, rb = t.body, r.body
    if t.headers.get("content-encoding") == "gzip":
        tb, _ = gunzip(tb)
    if r.headers.get("content-encoding") == "gzip":
        rb, _ = gunzip(rb)
    return tb is not None and rb is not None and tb == c.body and tb.startswith(rb)


def check_alone(c, t, r, sse_t):
    """Checks of the test result alone: well-formed delivery, the hint, the model."""
    fails = []
    p = PROFILES[c.profile]
    if t.end not in ("complete", "truncated") or t.status is None:
        # (no status line: nginx forwarded an HTTP/0.9 answer, the upstream's bytes as they
        # are, which may look like headers to the client: seed 20261202 case 34688)
        return fails
    xab = t.headers.get("x-accel-buffering")
    hint = p.get("hint", True) and p.get("enable", True)
    stream = sse_t in STREAM_LABELS
    if stream and hint and xab != "no":
        fails.append(f"stream ({sse_t}) without X-Accel-Buffering: no (got {xab!r})")
    if (not stream or not hint) and xab is not None:
        fails.append(f"X-Accel-Buffering {xab!r} on a response that is not a hinted stream")
    if sse_t not in ("", "soft") + STREAM_LABELS:
        fails.append(f"$sse_auto {sse_t!r}")
    want = model_label(c)
    if want is not None and t.status == 200 and want != sse_t:
        fails.append(f"$sse_auto {sse_t!r}, the decision rules say {want!r}")
    if (c.expected is not None and c.mode == "normal"
            and not (t.status in (502, 504) and t.status != c.status and r.status == t.status)):
        # (both locations answered with nginx's own 502/504: the responder was not read in
        # time, a loaded machine; counted apart as "upstream timed out in both")
        body = t.body
        if t.headers.get("content-encoding") == "gzip":
            body, _ = gunzip(body)
        if body is not None and p.get("heartbeat") and sse_t in STREAM_LABELS:
            body, _, _ = strip_heartbeats(body, c.expected)
        if t.end != "complete":
            fails.append(f"well-formed response ended {t.end} {t.note}")
        elif body != c.expected:
            fails.append(f"well-formed response: body {len(body or b'')} bytes, "
                         f"upstream sent {len(c.expected)}")
    return fails


# --- the run ------------------------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.stats = collections.Counter()
        self.by_kind = collections.Counter()
        self.fail_kinds = collections.Counter()
        self.failures = []
        self.unconfirmed = []
        self.nginx_diffs = collections.Counter()
        self.by_client = collections.Counter()
        self.by_mode = collections.Counter()
        self.by_profile = collections.Counter()
        self.log_pos = 0
        self.generation = 0
        self.timeouts = []
        self.known = collections.Counter()
        self.nginx_diff_examples = {}
        self.log_findings = []
        self.hold_reloads = 0  # reruns of failing cases in progress: no reloads meanwhile

    # nginx

    def start_nginx(self):
        d = self.dir
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", f"{d}/key.pem", "-out",
                        f"{d}/cert.pem"], check=True, capture_output=True)
        conf = nginx_conf(d, f"load_module {self.args.module};", self.port, self.tls_port,
                          self.ports, self.args.workers, self.args.log_level)
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        # workers run as nobody when the driver is root: ASan's reports need a writable place
        os.makedirs(f"{d}/asan", exist_ok=True)
        os.chmod(f"{d}/asan", 0o777)
        env = {**os.environ, "ASAN_OPTIONS": f"detect_leaks=0:log_path={d}/asan/asan"}
        self.nginx = subprocess.Popen([self.args.nginx, "-p", d, "-c", f"{d}/nginx.conf"],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(f"{d}/stderr.log", "wb"), env=env)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.tls_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("nginx did not start: " + open(f"{d}/error.log").read()[-2000:])

    def workers(self):
        try:
            with open(f"/proc/{self.nginx.pid}/task/{self.nginx.pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def worker_fds(self):
        """fd counts of the worker processes (not the cache manager and loader, not workers
        shutting down), as a sorted list."""
        out = []
        for pid in self.live_workers():
            try:
                out.append(len(os.listdir(f"/proc/{pid}/fd")))
            except OSError:
                pass
        return sorted(out)

    def live_workers(self):
        pids = []
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().rstrip(b"\0") == b"nginx: worker process":
                        pids.append(pid)
            except OSError:
                pass
        return pids

    def worker_busy_fds(self):
        """What a worker holds that an idle one does not: TCP sockets other than listening
        ones, and files other than its logs (temp files, cache files), as descriptions."""
        tcp = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    for line in f.readlines()[1:]:
                        parts = line.split()
                        tcp[parts[9]] = parts[3]  # inode -> state (0A: LISTEN)
            except OSError:
                pass
        busy = []
        for pid in self.live_workers():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", target)
                if m and tcp.get(m.group(1), "0A") != "0A":
                    busy.append(f"{pid}: tcp {target} state {tcp[m.group(1)]}")
                elif target.startswith("/") and not target.endswith(".log") \
                        and target != "/dev/null":
                    busy.append(f"{pid}: file {target}")
        return busy

    def reload(self):
        self.generation += 1
        self.stats["reloads"] += 1
        self.nginx.send_signal(signal.SIGHUP)

    def scan_log(self):
        found = []
        try:
            with open(f"{self.dir}/error.log", "rb") as f:
                f.seek(self.log_pos)
                data = f.read()
        except OSError:
            return found
        cut = data.rfind(b"\n") + 1
        self.log_pos += cut
        chunk = data[:cut]
        # what the module's C boundary did (logged at info): drains and failed heartbeats
        self.stats["log_drained_streams"] += chunk.count(b"ended at an event boundary for shutdown")
        self.stats["log_heartbeat_client_gone"] += chunk.count(b"sse_auto: client gone, heartbeat")
        # nginx's own: stderr before the response header, read in pieces, makes the FastCGI
        # module move r->cache->header_start (its "large stderr" workaround), and the file it
        # caches is refused later as an md5 collision; the same with sse_auto off (seed
        # 20261202 case 10298 with the location's sse_auto off)
        fcgi_md5 = re.compile(rb'\[crit\] .*cache file "[^"]*/cache_fastcgi/[^"]*" has md5 '
                              rb'collision')
        for line in chunk.splitlines():
            if fcgi_md5.search(line):
                self.stats["log_fastcgi_md5_collision"] += 1
                continue
            # (under ASan a crashing worker exits with code 1 after its report)
            if re.search(rb"\[(alert|crit|emerg)\]|Sanitizer|exited on signal"
                         rb"|exited with code [1-9]", line):
                found.append(line.decode("latin-1")[:400])
        for fn in os.listdir(f"{self.dir}/asan"):
            if fn.startswith("asan.") and fn not in getattr(self, "_asan_seen", set()):
                self._asan_seen = getattr(self, "_asan_seen", set()) | {fn}
                found.append("ASan report " + fn + ": " +
                             open(f"{self.dir}/asan/{fn}", errors="replace").read()[:6000])
        return found

    # one case

    async def fetch(self, c, role, tag=""):
        # tag: a rerun's own URI, so that a cache location does not answer it from the
        # first run's entry (the responder still finds the case number)
        path = f"/f/{c.kind}/{c.profile}/{role}/{c.n}{tag}"
        # curl --limit-rate 20k needs about 45 s for 900 KB: the slow HTTP/2 client's
        # deadline fits the body (seed 20261201 case 27576 was cut at 30 s in either location)
        slow = 30 if c.client != "h2" else max(30, 15 + 2 * len(c.wire) / 20480)
        deadline = time.monotonic() + (slow if c.mode == "slow" else 15)
        if c.client == "h2":
            return await client_h2(c, path, self.tls_port, self.dir, deadline)
        port = self.tls_port if c.client == "tls" else self.port
        return await client_h1(c, path, port, c.client == "tls", deadline)

    async def evaluate(self, c, tag=""):
        """(failures, test result, reference result) of one run of case c."""
        gen = self.generation
        t, r = await asyncio.gather(self.fetch(c, "t", tag), self.fetch(c, "r", tag))
        if c.mode == "abort":
            return [], t, r
        p = PROFILES[c.profile]
        if gen != self.generation:
            # a reload during the case: an old worker closes connections that have not sent
            # their request yet; drained streams end early
            c.reloaded = True
            if any(x.status is None and not x.body for x in (t, r)):
                return [], t, r
            if p.get("drain") and t.headers.get("x-fuzz-sse-auto") in STREAM_LABELS:
                return drained_ok(c, t, r), t, r
        fails, sse_t = classify(c, t, r)
        if fails and sse_t not in STREAM_LABELS and p.get("buffering", True):
            # left alone and buffered: nginx's own buffered path is the reference
            # up to three tries: on a broken upstream nginx's own buffered path races with
            # the reset (seed 2298803071 case 940: the stock location times out as the test
            # did in three replays of three, and once in CI it did not)
            for k in range(3 if c.well is False else 1):
                s = await self.fetch(c, "s", f"{tag}-s{k}" if k else tag)
                if not classify(c, t, s)[0]:
                    c.nginx_diff = fails[0].split(":")[0]
                    fails = []
                    break
        if (fails and sse_t == "soft" and c.kind == "fastcgi" and c.end == "rst"
                and t.end == "complete" and soft_beat_the_reset(c, t, r)
                and all(f.startswith(("end ", "body differs", "keepalive: second"))
                        for f in fails)):
            # finding 6 (a complete end lets a keepalive client ask again): the soft push ran FastCGI's input filter up to the end of stdout (an
            # empty FCGI_STDOUT record, FCGI_END_REQUEST) before the reset came, so the client
            # got the whole body, ended as the upstream ended it; unbuffered nginx meets the
            # reset first (truncated), buffered nginx loses the body in its pipe (complete and
            # empty: finding 7; also a reference made buffered by X-Accel-Buffering: yes)
            c.nginx_diff = "soft: FastCGI stdout ended before the reset (finding 6)"
            fails = []
        if (fails and sse_t in STREAM_LABELS + ("soft",) and r.status is None and not r.body
                and t.status is not None and t.end == r.end == "truncated"
                and all(f.startswith(("status ", "end ", "keepalive: second")) for f in fails)
                and sent_early_prefix(c, t)):
            # finding 6: the module sent the header early (a stream's header at once, a soft
            # push, a heartbeat) and then the upstream failed; the reference still held its
            # header and sent nothing. Truncated either way; what the test got is the start
            # of what the upstream meant to send (seed 20261203 cases 3794, 7766, 27249)
            c.nginx_diff = "header sent before an upstream error (finding 6)"
            fails = []
        fails += check_alone(c, t, r, sse_t)
        if (c.expected is not None and t.status in (502, 504) and t.status != c.status
                and r.status == t.status):
            self.stats["upstream_5xx_both"] += 1
        if not fails and p.get("cache") and c.recheck_cache and t.end == "complete":
            t2 = await self.fetch(c, "t", tag)
            f2 = classify(c, t2, r)[0]
            if f2 and sse_t not in STREAM_LABELS:
                # the same twice through the stock location
                await self.fetch(c, "s", tag)
                s2 = await self.fetch(c, "s", tag)
                if classify(c, s2, r)[0]:
                    c.nginx_diff = "cache replay differs in the stock location too"
                    f2 = []
            fails += ["cache replay: " + f for f in f2]
        if gen != self.generation and not getattr(c, "reloaded", False):
            # the reload came during the stock fetch or the cache replay: they ran in another
            # worker generation than what they are compared with
            c.reloaded = True
            fails = [f for f in fails if "keepalive: second response" not in f
                     and "timeout" not in f]
        return fails, t, r

    async def run_case(self, n):
        # a thread, so that a large case's generation does not stall the responders
        c = await asyncio.get_running_loop().run_in_executor(None, gen_case, self.seed, n,
                                                             self.args.profiles)
        CASES[n] = c
        try:
            fails, t, r = await self.evaluate(c)
            if self.args.verbose:
                print(f"case {n}: kind {c.kind} profile {c.profile} {PROFILES[c.profile]} "
                      f"client {c.client} {c.mode} {c.method} gzip={c.gzip} end={c.end} "
                      f"well={c.well} model={model_label(c)!r}\n  wire: {c.wire[:600]!r}"
                      f"\n  writes: {c.writes[:20]}")
                for name, res in (("test", t), ("ref", r)):
                    print(f"  {name}: {res.short()} {res.headers}\n    {res.body[:600]!r}")
                print(f"  fails: {fails}")
            if fails:
                # twice more: differences that do not come back are reported apart
                again = 0
                # without reloads: a case of 15 s or more overlaps every reload period, and
                # its reruns would confirm what a reload did (seed 20261201 cases 12740, 17345)
                self.hold_reloads += 1
                try:
                    for k in range(2):
                        if (await self.evaluate(c, f"-{k + 1}"))[0]:
                            again += 1
                finally:
                    self.hold_reloads -= 1
                # the oracle does not depend on timing, but whether a failure shows may (a
                # heartbeat needs a pause): one rerun that fails too confirms it
                entry = dict(case=n, kind=c.kind, profile=c.profile, client=c.client,
                             mode=c.mode, fails=fails, test=t.short(), ref=r.short(),
                             during_reload=getattr(c, "reloaded", False), repro=self.repro(n))
                known = known_issue(c, t)
                if known and again >= 1:
                    self.known[known] += 1
                    print(f"known issue, case {n}: {known}: {'; '.join(fails)} "
                          f"({self.repro(n)})", flush=True)
                elif again >= 1:
                    self.failures.append(entry)
                    for f in fails:
                        self.fail_kinds[re.sub(r"\d+", "N", f)[:60]] += 1
                    print(f"FAIL case {n} (seed {self.seed}): {'; '.join(fails)}\n"
                          f"  test: {t.short()}\n  ref:  {r.short()}\n  {self.repro(n)}",
                          flush=True)
                else:
                    self.unconfirmed.append(entry)
                    print(f"unconfirmed case {n} ({again} of 2 reruns failed"
                          f"{', during a reload' if entry['during_reload'] else ''}): "
                          f"{'; '.join(fails)} | test {t.short()} | ref {r.short()}", flush=True)
            if getattr(c, "nginx_diff", None):
                self.nginx_diffs[c.nginx_diff] += 1
                examples = self.nginx_diff_examples.setdefault(c.nginx_diff, [])
                if len(examples) < 5:
                    examples.append(n)
            self.stats["cases"] += 1
            self.by_kind[c.kind] += 1
            self.by_client[c.client] += 1
            self.by_mode[c.mode] += 1
            self.by_profile[c.profile] += 1
            self.stats["heartbeats"] += getattr(c, "heartbeats", 0)
            self.stats["during_reload"] += getattr(c, "reloaded", False)
            self.stats["drained"] += getattr(c, "drained", False)
            self.stats["end_" + str(t.end)] += 1
            if t.end == "timeout" and c.mode != "abort":
                self.timeouts.append(n)
            self.stats["sse_" + (t.headers.get("x-fuzz-sse-auto") or "none")] += 1
        finally:
            del CASES[n]

    def repro(self, n):
        if self.args.profiles:
            return (f"scripts/test/fuzz_stack.py --nginx ... --module ... --seed {self.seed} "
                    f"--only {n} --profiles {','.join(map(str, self.args.profiles))} --verbose")
        return f"FUZZ_SEED={self.seed} FUZZ_ONLY={n} make fuzz-stack"

    async def main(self):
        a = self.args
        self.dir = tempfile.mkdtemp(prefix="fuzz-stack-")
        # workers run as nobody when the driver is root
        os.chmod(self.dir, 0o755)
        socks = []
        ports = []
        for _ in range(2 + len(KINDS)):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
            socks.append(s)
        for s in socks:
            s.close()
        self.port, self.tls_port = ports[0], ports[1]
        self.ports = {}
        servers = []
        for k, p in zip(KINDS, ports[2:]):
            self.ports[k] = p
            servers.append(await asyncio.start_server(SERVERS[k], "127.0.0.1", p, backlog=512,
                                                      limit=1 << 20))
        self.start_nginx()
        # warm up, then the idle fd count of the workers
        await asyncio.sleep(0.5)
        idle = self.worker_fds()
        started = time.monotonic()
        print(f"fuzz-stack: seed {self.seed}, nginx {a.nginx}, dir {self.dir}", flush=True)

        if a.only is not None:
            numbers = iter([a.only])
        else:
            numbers = iter(range(a.cases))
        pending = set()
        # SIGTERM / SIGINT: no new cases; the ones running finish, the report is written
        self.stopping = False

        def stop():
            self.stopping = True
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop)
        last_report = started

        async def reloads():
            while True:
                await asyncio.sleep(a.reload_every)
                if not self.hold_reloads:
                    self.reload()
        reloader = asyncio.ensure_future(reloads()) if a.reload_every else None
        done_all = False
        while True:
            while (not done_all and not self.stopping and len(pending) < a.parallel
                   and time.monotonic() - started < a.seconds):
                n = next(numbers, None)
                if n is None:
                    done_all = True
                    break
                pending.add(asyncio.ensure_future(self.run_case(n)))
            if not pending:
                break
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for f in finished:
                if f.exception():
                    print(f"driver error: {f.exception()!r}", flush=True)
                    self.stats["driver_errors"] += 1
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                self.log_findings += self.scan_log()
                print(f"  {self.stats['cases']} cases, {time.monotonic() - started:.0f} s, "
                      f"{len(self.failures)} failures, {len(self.unconfirmed)} unconfirmed, "
                      f"{len(self.log_findings)} log findings", flush=True)
            if time.monotonic() - started >= a.seconds:
                done_all = True

        if reloader:
            reloader.cancel()
        # idle again: fds must be back where they started, old workers gone
        # (the count may drop below the start's: the cache loader's channel closes after
        # a minute)
        fds_end = []
        busy = []
        for _ in range(50):
            await asyncio.sleep(0.2)
            fds_end = self.worker_fds()
            busy = self.worker_busy_fds()
            if not busy and all(e <= i for e, i in zip(fds_end, idle)):
                break
        fds_ok = not busy and all(e <= i for e, i in zip(fds_end, idle))
        if busy:
            self.log_findings.append("workers still hold, when idle: " + "; ".join(busy[:10]))
        if len(self.workers()) and any(
                open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"nginx: worker process is")
                for pid in self.workers() if os.path.exists(f"/proc/{pid}/cmdline")):
            self.log_findings.append("a worker still shutting down at the end")
        self.log_findings += self.scan_log()
        elapsed = time.monotonic() - started

        self.nginx.send_signal(signal.SIGQUIT)
        try:
            self.nginx.wait(20)
        except subprocess.TimeoutExpired:
            self.log_findings.append("nginx did not exit within 20 s of SIGQUIT")
            self.nginx.kill()
        self.log_findings += self.scan_log()
        for s in servers:
            s.close()

        ok = (not self.failures and not self.log_findings and fds_ok
              and not self.stats["driver_errors"])
        report = dict(
            seed=self.seed, cases=self.stats["cases"], seconds=round(elapsed, 1),
            failures=self.failures, unconfirmed=self.unconfirmed[:50],
            unconfirmed_count=len(self.unconfirmed), log_findings=self.log_findings[:50],
            idle_fds=idle, end_fds=fds_end, stats=dict(self.stats),
            nginx_differences=dict(self.nginx_diffs),
            nginx_difference_cases=self.nginx_diff_examples,
            by_kind=dict(sorted(self.by_kind.items())),
            by_client=dict(sorted(self.by_client.items())),
            by_mode=dict(sorted(self.by_mode.items())),
            by_profile=dict(sorted(self.by_profile.items())),
            fail_kinds=dict(self.fail_kinds), ok=ok, timeouts=self.timeouts[:200],
            known_issues=dict(self.known),
        )
        print(f"fuzz-stack: seed {self.seed}: {report['cases']} cases in {elapsed:.0f} s "
              f"({report['cases'] / max(elapsed, 1):.1f}/s); by kind {report['by_kind']}; "
              f"by client {report['by_client']}; by mode {report['by_mode']}")
        print(f"  ends {dict((k[4:], v) for k, v in self.stats.items() if k.startswith('end_'))}; "
              f"$sse_auto {dict((k[4:], v) for k, v in self.stats.items() if k.startswith('sse_'))}; "
              f"heartbeats removed {self.stats['heartbeats']}; reloads {self.stats['reloads']}, cases during "
              f"a reload {self.stats['during_reload']}, drained shorter than the reference "
              f"{self.stats['drained']}; in the log (info): streams drained "
              f"{self.stats['log_drained_streams']}, heartbeats that found the client gone "
              f"{self.stats['log_heartbeat_client_gone']}")
        if self.stopping:
            print("  stopped early by a signal")
            report["stopped_early"] = True
        print(f"  failures {len(self.failures)}, unconfirmed (not reproduced) "
              f"{len(self.unconfirmed)}, nginx's own buffered/unbuffered differences "
              f"{sum(self.nginx_diffs.values())}, nginx's 502/504 in both locations "
              f"{self.stats['upstream_5xx_both']}, nginx's FastCGI cache md5 collisions "
              f"{self.stats['log_fastcgi_md5_collision']}, log findings {len(self.log_findings)}, "
              f"worker fds idle {idle} end {fds_end}")
        if self.known:
            print(f"  known issues (not counted as failures): {dict(self.known)}")
        if self.timeouts:
            print(f"  client timeouts (15 s, slow clients 30 s; both locations alike) in cases {self.timeouts[:20]}")
        for u in self.unconfirmed[:5]:
            print(f"  unconfirmed case {u['case']}: {'; '.join(u['fails'])} ({u['repro']})")
        for line in self.log_findings[:10]:
            print("  LOG: " + line[:600])
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f, indent=1, default=str)
        # the closing line test-output readers count; the run checks count as one more case
        failed = len(self.failures) + (0 if ok or self.failures else 1)
        print(f"fuzz-stack: {self.stats['cases'] - len(self.failures)} passed, {failed} failed")
        if ok and not a.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"  kept {self.dir}")
        return 0 if ok else 1


# --- configuration fuzzing ----------------------------------------------------------------

DIRECTIVES = ["sse_auto", "sse_auto_types", "sse_auto_unsized_types", "sse_auto_downstream_hint",
              "sse_auto_read_timeout", "sse_auto_heartbeat", "sse_auto_drain", "sse_auto_soft",
              "sse_auto_soft_idle", "sse_auto_soft_hold"]


def gen_value(rng):
    return rng.choice([
        "on", "off", "ON", "none", "1", "0", "-1", "yes", "", "''", "\"\"", "10", "10ms", "1s",
        "1h", "5m", "2d", "1y", "500", "0ms", "99999999999999999999", "18446744073709551615",
        "4294967296ms", "1.5s", "ms", "1x", "text/event-stream", "text/plain", "TEXT/HTML",
        "*/*", "text/*", "text/event-stream\\;x", "a/b/c", "/", "x/", "/y",
        "application/x-ndjson", "\"text/event-stream\"", "\"text/event-stream;charset=x\"", "$sse_auto", "a" * rng.choice([1, 300, 5000]),
        "text/\\x00", "tëxt/plain", "off off", "none none",
    ])


GOOD_VALUES = {
    "sse_auto": ["on", "off"], "sse_auto_downstream_hint": ["on", "off"],
    "sse_auto_types": ["text/event-stream", "application/x-ndjson text/x-a", "A/B c/d e/f"],
    "sse_auto_unsized_types": ["text/plain", "none", "off", "text/plain none", "x/y"],
    "sse_auto_read_timeout": ["1s", "1h", "500ms", "0", "10"],
    "sse_auto_heartbeat": ["off", "15s", "1ms", "1d"], "sse_auto_drain": ["off", "30s", "0"],
    "sse_auto_soft": ["on", "off"], "sse_auto_soft_idle": ["50ms", "1ms", "2s"],
    "sse_auto_soft_hold": ["500ms", "1ms", "10s"],
}


def gen_config(rng, load_module):
    """A random configuration with sse_auto directives in random places; returns (text,
    directive lines as [(line number, directive)])."""
    places = ["main", "events", "http", "server", "location", "if", "limit_except", "nested"]
    spots = collections.defaultdict(list)
    sane = rng.random() < 0.5  # mostly valid: the merge of valid values gets exercised too
    for _ in range(rng.randint(1, 6)):
        d = rng.choice(DIRECTIVES)
        if sane and rng.random() < 0.9:
            vals = rng.choice(GOOD_VALUES[d])
            place = rng.choice(["http", "server", "location", "nested"]
                               + (["if"] if d in ("sse_auto", "sse_auto_downstream_hint",
                                                  "sse_auto_soft") else []))
        else:
            nargs = rng.choice([0, 1, 1, 1, 2, 3])
            vals = " ".join(gen_value(rng) for _ in range(nargs))
            place = rng.choice(places)
        spots[place].append(f"{d} {vals};" if vals else f"{d};")
    lines = [load_module, "daemon off;", "error_log stderr;"] + spots["main"] + [
        "events {"] + spots["events"] + ["}", "http {", "access_log off;"] + spots["http"] + [
        "server {", "listen 127.0.0.1:1;"] + spots["server"] + [
        "location / {", "proxy_pass http://127.0.0.1:2;"] + spots["location"] + [
        "if ($arg_x) {"] + spots["if"] + ["}", "limit_except GET {"] + spots["limit_except"] + [
        "}", "location /n/ {"] + spots["nested"] + ["}", "}", "}", "}"]
    where = [(i + 1, ln.split()[0].rstrip(";")) for i, ln in enumerate(lines)
             if ln.split() and ln.split()[0].rstrip(";") in DIRECTIVES]
    return "\n".join(lines) + "\n", where


def config_fuzz(args):
    d = tempfile.mkdtemp(prefix="fuzz-conf-")
    os.mkdir(f"{d}/logs")
    rng = random.Random(f"{args.seed}:conf")
    stats = collections.Counter()
    failures = []
    t0 = time.monotonic()
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    for n in range(args.config_cases):
        text, where = gen_config(rng, f"load_module {args.module};")
        path = f"{d}/c{n % 4}.conf"
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([args.nginx, "-t", "-p", d, "-c", path], capture_output=True,
                           env=env, timeout=60)
        err = p.stderr.decode("latin-1")
        stats["configs"] += 1
        if p.returncode < 0 or "Sanitizer" in err or "panicked" in err:
            failures.append((n, f"crash rc={p.returncode}", err[-1500:], text))
            continue
        if p.returncode == 0:
            stats["accepted"] += 1
            continue
        stats["rejected"] += 1
        m = re.search(r"\[emerg\] (?:\d+#\d+: )?(.*) in (\S+):(\d+)\s*$", err, re.M)
        if not m:
            failures.append((n, "rejected without file:line", err[-600:], text))
            continue
        msg, fline = m.group(1), int(m.group(3))
        if msg.startswith("too long parameter"):
            stats["rejected_by_parser"] += 1  # nginx's tokenizer, before any directive
            continue
        names = [dname for ln, dname in where if ln == fline]
        if not names:
            failures.append((n, f"error at line {fline}, not an sse_auto directive", err[-600:],
                             text))
            continue
        if names[0] not in msg:
            failures.append((n, f"error does not name {names[0]}", err[-600:], text))
            continue
        stats["rejected_named"] += 1
    print(f"config-fuzz: seed {args.seed}: {stats['configs']} configurations, "
          f"{stats['accepted']} accepted, {stats['rejected']} rejected "
          f"({stats['rejected_named']} naming the directive and file:line, "
          f"{stats['rejected_by_parser']} by nginx's tokenizer), "
          f"{len(failures)} failures")
    for n, why, err, text in failures[:5]:
        print(f"CONFIG FAIL {n}: {why}\n{err}\n--- config ---\n{text}")
    print(f"config-fuzz: {stats['configs'] - len(failures)} passed, {len(failures)} failed")
    if not failures:
        shutil.rmtree(d, ignore_errors=True)
    return dict(configs=stats["configs"], accepted=stats["accepted"],
                rejected=stats["rejected"], rejected_named=stats["rejected_named"],
                rejected_by_parser=stats["rejected_by_parser"],
                failures=[f[:3] for f in failures], seconds=round(time.monotonic() - t0, 1))


def self_test(cases=20000):
    """The oracle's own checks: the boundary reference against a byte-by-byte state machine
    (the one of sse-auto-core's reference.rs), and heartbeat removal on streams with
    heartbeats inserted at known places."""
    rng = random.Random(7)

    def slow_boundary(stream):
        at, content, prev_cr = True, False, False
        for b in stream:
            if b == 10 and prev_cr:
                prev_cr = False
            elif b in (10, 13):
                at, content, prev_cr = not content, False, b == 13
            else:
                at, content, prev_cr = False, True, False
        return at

    for _ in range(cases):
        ref = bytes(rng.choice(b"\r\n\r\n:xd") for _ in range(rng.randint(0, 24)))
        assert bool(at_boundary_after(ref)) == slow_boundary(ref), ref
        cuts = sorted(rng.sample(range(len(ref) + 1), min(len(ref) + 1, rng.randint(0, 3))))
        test = bytearray()
        last = 0
        inside = False
        for cut in cuts:
            test += ref[last:cut] + HEARTBEAT
            inside |= not slow_boundary(ref[:cut])
            last = cut
        test += ref[last:]
        stripped, count, bad = strip_heartbeats(bytes(test), ref)
        if not inside:
            assert stripped == ref and not bad, (ref, bytes(test), stripped, bad)
        elif b":" not in ref:
            # (with ":" in ref, a heartbeat inside an event can give the same bytes as one
            # at a boundary: ":\n\n" put in front of ref's own ":\n\n")
            assert bad or stripped != ref, (ref, bytes(test), cuts)
    print(f"self-test: {cases} oracle cases passed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--nginx")
    ap.add_argument("--module")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cases", type=int, default=1000000)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--only", type=int, default=None)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--config-cases", type=int, default=0)
    ap.add_argument("--reload-every", type=float, default=0,
                    help="seconds between reloads (SIGHUP) while cases run; 0: none")
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--profiles", type=lambda v: [int(x) for x in v.split(",")],
                    help="explore: only these location profiles (other cases than a full run)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return 0
    if not args.nginx or not args.module:
        ap.error("--nginx and --module are required")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    rc = 0
    conf = None
    if args.config_cases:
        conf = config_fuzz(args)
        rc |= 1 if conf["failures"] else 0
    if args.cases and args.seconds > 0:
        rc |= asyncio.run(Runner(args).main())
    if conf and args.json and os.path.exists(args.json):
        with open(args.json) as f:
            rep = json.load(f)
        rep["config"] = conf
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=1, default=str)
    return rc


if __name__ == "__main__":
    sys.exit(main())
