#!/usr/bin/env python3
"""A tiny Server-Sent Events backend for the sse_auto demo (Python 3 standard library only).

GET /events[?count=N&interval=SECONDS] answers `text/event-stream` and sends N events (default
10), INTERVAL seconds apart (default 1; the first one at once), then `event: done` and closes
the connection. Each event's data is a JSON object:

    {"seq": 1, "count": 10, "interval": 1.0, "sent": <ms since epoch>, "elapsed": <ms>}

`sent` is the server's clock when the event was written, so a page on the same host can show
each event's delay; `elapsed` is the time since the stream started. Nothing else is served.

Listens on 127.0.0.1:8091; DEMO_BACKEND_PORT (or the first argument) overrides the port.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
DEFAULT_COUNT = 10
DEFAULT_INTERVAL = 1.0
MAX_COUNT = 1000


def _param(query, name, kind, default, lo, hi):
    try:
        value = kind(query[name][0])
    except (KeyError, IndexError, ValueError):
        return default
    return min(max(value, lo), hi)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sse-auto-demo-backend"
    sys_version = ""

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/events":
            body = b"not found: this backend only serves /events\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return

        query = parse_qs(url.query)
        count = _param(query, "count", int, DEFAULT_COUNT, 1, MAX_COUNT)
        interval = _param(query, "interval", float, DEFAULT_INTERVAL, 0.0, 60.0)

        # No Content-Length and no chunking: the body ends when the connection closes, which
        # works for HTTP/1.0 clients too (nginx talks HTTP/1.0 to upstreams by default).
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        start = time.time()
        try:
            self.wfile.write(b": sse_auto demo stream\n\n")
            for seq in range(1, count + 1):
                if seq > 1:
                    # Sleep to the schedule, not by a fixed amount, so delays don't accumulate.
                    time.sleep(max(0.0, start + (seq - 1) * interval - time.time()))
                now = time.time()
                data = {
                    "seq": seq,
                    "count": count,
                    "interval": interval,
                    "sent": int(now * 1000),
                    "elapsed": int((now - start) * 1000),
                }
                self._event(data, event_id=seq)
            self._event({"count": count, "sent": int(time.time() * 1000)}, event="done")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client (nginx) went away; nothing to do

    def do_HEAD(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _event(self, data, event=None, event_id=None):
        lines = []
        if event:
            lines.append("event: " + event)
        if event_id is not None:
            lines.append("id: %d" % event_id)
        lines.append("data: " + json.dumps(data, separators=(",", ":")))
        self.wfile.write(("\n".join(lines) + "\n\n").encode())
        self.wfile.flush()

    def log_message(self, fmt, *args):
        if os.environ.get("DEMO_BACKEND_VERBOSE"):
            sys.stderr.write("backend: %s %s\n" % (self.address_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True  # open streams never keep the process alive on shutdown
    allow_reuse_address = True


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DEMO_BACKEND_PORT", "8091"))

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server = Server((HOST, port), Handler)
    except OSError as e:
        sys.stderr.write("backend: cannot listen on %s:%d: %s\n" % (HOST, port, e))
        return 1
    sys.stderr.write("backend: SSE on http://%s:%d/events\n" % (HOST, port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
