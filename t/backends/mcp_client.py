# An MCP client on the official Python SDK (mcp 2.x: Client over its Streamable HTTP
# transport, httpx2 not verifying the test's self-signed certificate), the way an agent uses a
# remote MCP server: initialize (the handshake; the SDK then opens its GET stream for
# server-initiated messages), list the tools, call them.
#
# Run: python mcp_client.py URL [MODE [QUIET]]
#   MODE: legacy (default): the initialize handshake (protocol 2025-11-25), all the steps
#         below; auto: what the SDK negotiates by default (server/discover: 2026-07-28, one
#         POST a request, no session, no GET stream), the steps up to progress
#   QUIET (seconds, default 3): how long the long tool call works silently, and how long the
#   GET stream stays quiet before the server's notification; above the proxy_read_timeout of
#   the nginx under test.
#
# Prints one JSON object a line, one per step, then {"step": "exit"}; every step and the whole
# run are bounded in time, so it ends in any case:
#   connect       ok, protocol (the negotiated version)
#   list_tools    ok, tools (names)
#   echo          ok, text
#   progress      ok, delays_ms (each progress report: arrival - sent), text
#   slow          ok, text or error
#   notify        ok (the notification arrived), delay_ms (arrival - sent), quiet_s (how long
#                 the GET stream was quiet before it)

import json
import sys
import time

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

url = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else 'legacy'
quiet = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0

notices = []


def out(**fields):
    print(json.dumps(fields), flush=True)


async def on_log(params):
    notices.append((time.time(), params.data))


async def progress_step(client):
    delays = []

    async def on_progress(progress, total, message):
        delays.append((time.time() - float(message.split('=')[1])) * 1000)

    result = await client.call_tool('progress', {'n': 3, 'gap': 0.5}, progress_callback=on_progress)
    out(step='progress', ok=not result.is_error, delays_ms=[round(d) for d in delays],
        text=result.content[0].text)


async def slow_step(client):
    try:
        result = await client.call_tool('slow', {'seconds': quiet})
        out(step='slow', ok=not result.is_error, text=result.content[0].text)
    except Exception as e:
        out(step='slow', ok=False, error='%s: %s' % (type(e).__name__, e))


async def notify_step(client, opened):
    await client.call_tool('notify_later', {'delay': quiet})

    # the notification is due "quiet" seconds from now; give it 2 more
    with anyio.move_on_after(quiet + 2):
        while not notices:
            await anyio.sleep(0.02)

    if notices:
        arrived, data = notices[0]
        out(step='notify', ok=True, delay_ms=round((arrived - data['sent']) * 1000),
            quiet_s=round(data['sent'] - opened, 3))
    else:
        out(step='notify', ok=False, error='no notification within %gs' % (quiet + 2))


async def main():
    http = httpx2.AsyncClient(verify=False, timeout=httpx2.Timeout(30, read=300))
    transport = streamable_http_client(url, http_client=http)

    async with http:
        try:
            async with Client(transport, mode=mode, logging_callback=on_log) as client:
                # the GET stream (handshake era) opens right after the handshake
                opened = time.time()
                out(step='connect', ok=True, protocol=client.protocol_version)

                tools = await client.list_tools()
                out(step='list_tools', ok=True, tools=sorted(t.name for t in tools.tools))

                result = await client.call_tool('echo', {'text': 'hello'})
                out(step='echo', ok=not result.is_error, text=result.content[0].text)

                await progress_step(client)
                if mode != 'legacy':
                    return

                # both quiet for longer than proxy_read_timeout, side by side
                async with anyio.create_task_group() as tg:
                    tg.start_soon(slow_step, client)
                    tg.start_soon(notify_step, client, opened)
        except Exception as e:
            out(step='error', ok=False, error='%s: %s' % (type(e).__name__, e))


async def bounded():
    try:
        with anyio.fail_after(quiet * 2 + 20):
            await main()
    except TimeoutError:
        out(step='timeout', ok=False)


start = time.time()
anyio.run(bounded)
out(step='exit', elapsed=round(time.time() - start, 3))
