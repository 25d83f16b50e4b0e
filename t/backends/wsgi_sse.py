# A WSGI application streaming Server-Sent Events the way such apps are written: a generator
# that yields one event at a time (uWSGI writes each yielded chunk to its socket at once).
#
# Query string: n=3 (events), gap=300 (ms between events), ct=text/event-stream (type).
# Events: "id: N\ndata: seq=N sent=<epoch seconds> req=<requests served by this process>\n\n".

import itertools
import time
from urllib.parse import parse_qs

requests = itertools.count(1)


def application(environ, start_response):
    q = parse_qs(environ.get('QUERY_STRING', ''))
    n = int(q.get('n', ['3'])[0])
    gap = int(q.get('gap', ['300'])[0]) / 1000.0
    req = next(requests)
    ct = q.get('ct', ['text/event-stream'])[0]

    start_response('200 OK', [
        ('Content-Type', ct),
        ('Cache-Control', 'no-cache'),
    ])

    def events():
        for seq in range(1, n + 1):
            if seq > 1:
                time.sleep(gap)
            yield ('id: %d\ndata: seq=%d sent=%.6f req=%d\n\n'
                   % (seq, seq, time.time(), req)).encode()

    return events()
