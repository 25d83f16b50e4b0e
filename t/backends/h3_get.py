"""An HTTP/3 client (aioquic) for the streaming tests: one GET, every piece of the response
printed as a JSON line the moment it arrives, with its arrival time (seconds since the epoch,
the clock the test backends stamp their events with).

Usage: h3_get.py [--timeout 10] [--header 'name: value']... https://127.0.0.1:PORT/path

Lines: {"t": ..., "type": "connected", "alpn": "h3"}
       {"t": ..., "type": "headers", "headers": [[name, value], ...]}  (interim ones too)
       {"t": ..., "type": "data", "data": "..."}                      (latin-1 decoded)
       {"t": ..., "type": "end"} | "reset" (with "code") | "closed" (the connection, with
       "reason") | "timeout" | "error" (with "error")
The certificate is not verified (the tests' own, self-signed). Exit code 0 after "end".
"""

import argparse
import asyncio
import json
import ssl
import sys
import time
from urllib.parse import urlparse

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamReset


def emit(kind, **fields):
    fields.update(t=time.time(), type=kind)
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.stream_id = None
        self.done = asyncio.get_running_loop().create_future()

    def finish(self, kind, **fields):
        if not self.done.done():
            emit(kind, **fields)
            self.done.set_result(kind)

    def get(self, authority, path, headers):
        self.stream_id = self._quic.get_next_available_stream_id()
        request = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"user-agent", b"h3_get (aioquic)"),
        ] + headers
        self.h3.send_headers(self.stream_id, request, end_stream=True)
        self.transmit()

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            self.finish("closed", reason=event.reason_phrase, code=event.error_code)
            return
        if isinstance(event, StreamReset) and event.stream_id == self.stream_id:
            self.finish("reset", code=event.error_code)
            return

        for ev in self.h3.handle_event(event):
            if getattr(ev, "stream_id", None) != self.stream_id:
                continue
            if isinstance(ev, HeadersReceived):
                emit("headers", headers=[[k.decode("latin-1"), v.decode("latin-1")]
                                         for k, v in ev.headers])
            elif isinstance(ev, DataReceived) and ev.data:
                emit("data", data=ev.data.decode("latin-1"))
            if getattr(ev, "stream_ended", False):
                self.finish("end")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("url")
    args = ap.parse_args()

    url = urlparse(args.url)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    headers = []
    for h in args.header:
        name, _, value = h.partition(":")
        headers.append((name.strip().lower().encode(), value.strip().encode()))

    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN,
                               verify_mode=ssl.CERT_NONE, server_name="localhost")

    async def run():
        async with connect(url.hostname, url.port or 443, configuration=config,
                           create_protocol=Client) as client:
            emit("connected", alpn=client._quic.tls.alpn_negotiated)
            client.get(url.netloc, path, headers)
            return await client.done

    try:
        kind = await asyncio.wait_for(run(), args.timeout)
    except asyncio.TimeoutError:
        emit("timeout")
        return 2
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
        emit("error", error=repr(e))
        return 1
    return 0 if kind == "end" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
