# An ASGI application (Starlette, served by uvicorn) streaming the way such apps are written:
#
#   /events  StreamingResponse of an async generator, media_type="text/event-stream"
#            (Starlette sends "text/event-stream; charset=utf-8")
#   /plain   FastAPI-style StreamingResponse of a plain generator, media_type="text/plain"
#            (LLM APIs streaming text; Starlette iterates it in its thread pool)
#
# Run: python3 -m uvicorn --app-dir t/backends asgi_sse:app --host 127.0.0.1 --port PORT
# Query string: n=3 (records), gap=300 (ms between records).
# Records: "seq=N sent=<epoch seconds> req=<requests served so far>", as an event
# ("id: N\ndata: ...\n\n") on /events, as a line on /plain.

import asyncio
import itertools
import time

from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

requests = itertools.count(1)


def params(request):
    n = int(request.query_params.get('n', '3'))
    gap = int(request.query_params.get('gap', '300')) / 1000.0
    return n, gap, next(requests)


async def events(request):
    n, gap, req = params(request)

    async def gen():
        for seq in range(1, n + 1):
            if seq > 1:
                await asyncio.sleep(gap)
            yield 'id: %d\ndata: seq=%d sent=%.6f req=%d\n\n' % (seq, seq, time.time(), req)

    return StreamingResponse(gen(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-cache'})


async def plain(request):
    n, gap, req = params(request)

    def gen():
        for seq in range(1, n + 1):
            if seq > 1:
                time.sleep(gap)
            yield 'seq=%d sent=%.6f req=%d\n' % (seq, time.time(), req)

    return StreamingResponse(gen(), media_type='text/plain')


app = Starlette(routes=[Route('/events', events), Route('/plain', plain)])
