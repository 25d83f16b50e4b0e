# A FastAPI application streaming the way LLM chat APIs are written (seed: a course project's
# "ask-stream-chat" endpoint behind 1Panel's OpenResty, which buffered it until the answer was
# complete):
#
#   POST /ask-stream-chat  the endpoint as written: a JSON body (question, session_id), an
#                          async generator of chunks, StreamingResponse(media_type="text/plain",
#                          headers={"X-Session-ID": ...}); no Content-Length, chunked
#   GET  /untyped          StreamingResponse without media_type: no Content-Type at all
#   GET  /answer           PlainTextResponse: a complete reply, with Content-Length
#   GET  /sized            StreamingResponse that sends Content-Length and then its body in
#                          timed pieces: a sized text/plain reply that happens to be slow
#
# Run: python -m uvicorn --app-dir t/backends fastapi_app:app --host 127.0.0.1 --port PORT
# Query string (all endpoints): n=3 (records), gap=300 (ms between records).
# Records, one a line: "seq=N sent=<epoch seconds> req=<requests served so far>", the chunks
# the model would produce, each timed by the test client.

import asyncio
import itertools
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

app = FastAPI()
requests = itertools.count(1)


class StreamQueryRequest(BaseModel):
    question: str
    session_id: str | None = None


def params(request: Request):
    n = int(request.query_params.get('n', '3'))
    gap = int(request.query_params.get('gap', '300')) / 1000.0
    return n, gap, next(requests)


def record(seq, req, sent=None):
    return 'seq=%d sent=%.6f req=%d\n' % (seq, time.time() if sent is None else sent, req)


async def chunks(n, gap, req):
    # what chain.astream() yields: pieces of the answer as the model produces them
    for seq in range(1, n + 1):
        if seq > 1:
            await asyncio.sleep(gap)
        yield record(seq, req)


@app.post('/ask-stream-chat')
async def ask_stream_chat(req: StreamQueryRequest, request: Request):
    session_id = req.session_id or str(uuid.uuid4())
    n, gap, served = params(request)

    async def generate():
        async for chunk in chunks(n, gap, served):
            yield chunk

    return StreamingResponse(
        generate(),
        media_type="text/plain",
        headers={"X-Session-ID": session_id}
    )


@app.get('/untyped')
async def untyped(request: Request):
    return StreamingResponse(chunks(*params(request)))


@app.get('/answer')
async def answer(request: Request):
    n, _, served = params(request)
    return PlainTextResponse(''.join(record(seq, served) for seq in range(1, n + 1)))


@app.get('/sized')
async def sized(request: Request):
    n, gap, served = params(request)

    # "sent=" is fixed-width (%.6f of the epoch), so the length is known before the records
    # are: the same records as chunks() yields, announced with a Content-Length
    length = sum(len(record(seq, served)) for seq in range(1, n + 1))

    return StreamingResponse(chunks(n, gap, served), media_type='text/plain',
                             headers={'Content-Length': str(length)})
