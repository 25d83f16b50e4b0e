#!/usr/bin/python3
# A small SCGI server (Python standard library only) streaming Server-Sent Events, as an
# application server speaking SCGI behind scgi_pass does: one thread per connection, the
# request read as a netstring of NUL-separated headers followed by CONTENT_LENGTH bytes of
# body, a CGI-style response ("Status:" and headers, an empty line, the body), each event
# written to the socket as it is produced.
#
# Usage: scgi_sse.py PORT
# Query string: n=3 (events), gap=300 (ms between events), ct=text/event-stream (type).
# Events: "id: N\ndata: seq=N sent=<epoch seconds> req=<requests served so far>\n\n".

import itertools
import socketserver
import sys
import time
from urllib.parse import parse_qs

requests = itertools.count(1)


def read_request(rfile):
    """Parses an SCGI request: '<len>:<headers>,<body>'; returns the headers as a dict."""
    digits = b''
    while True:
        c = rfile.read(1)
        if not c:
            raise EOFError('connection closed before the netstring length')
        if c == b':':
            break
        if not c.isdigit() or len(digits) > 10:
            raise ValueError('bad netstring length')
        digits += c

    length = int(digits)
    block = rfile.read(length)
    if len(block) != length or rfile.read(1) != b',':
        raise ValueError('bad netstring')

    items = block.split(b'\0')
    if items and items[-1] == b'':
        items.pop()
    if len(items) % 2:
        raise ValueError('odd number of header items')
    headers = {items[i].decode('latin-1'): items[i + 1].decode('latin-1')
               for i in range(0, len(items), 2)}

    if headers.get('SCGI') != '1' or 'CONTENT_LENGTH' not in headers:
        raise ValueError('not an SCGI request')

    rfile.read(int(headers['CONTENT_LENGTH'] or 0))
    return headers


class Handler(socketserver.StreamRequestHandler):

    def handle(self):
        try:
            env = read_request(self.rfile)
        except (EOFError, ValueError) as e:
            self.wfile.write(b'Status: 400 Bad Request\r\n'
                             b'Content-Type: text/plain\r\n\r\n'
                             + str(e).encode() + b'\n')
            return

        q = parse_qs(env.get('QUERY_STRING', ''))
        n = int(q.get('n', ['3'])[0])
        gap = int(q.get('gap', ['300'])[0]) / 1000.0
        req = next(requests)
        ct = q.get('ct', ['text/event-stream'])[0].encode()

        sock = self.connection
        try:
            sock.sendall(b'Status: 200 OK\r\n'
                         b'Content-Type: ' + ct + b'\r\n'
                         b'Cache-Control: no-cache\r\n'
                         b'\r\n')
            for seq in range(1, n + 1):
                if seq > 1:
                    time.sleep(gap)
                sock.sendall(('id: %d\ndata: seq=%d sent=%.6f req=%d\n\n'
                              % (seq, seq, time.time(), req)).encode())
        except OSError:
            pass  # nginx closed the connection: the client went away


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    port = int(sys.argv[1])
    with Server(('127.0.0.1', port), Handler) as server:
        server.serve_forever()


if __name__ == '__main__':
    main()
