# An MCP server on the official Python SDK (mcp 2.x: MCPServer), Streamable HTTP transport,
# served by uvicorn, at /mcp. Its SSE responses come from sse-starlette, which sends
# "X-Accel-Buffering: no" with each of them.
#
# Tools:
#   echo(text)               returns text at once
#   progress(n, gap)         reports progress n times, gap seconds apart, then returns; each
#                            report's message is "sent=<epoch seconds>"
#   slow(seconds)            works silently for that long, then returns: a long tool call (an
#                            LLM or a build behind the tool), nothing on its response stream
#   notify_later(delay)      returns at once; delay seconds later the server logs a message to
#                            the client ("notifications/message", data {"sent": <epoch>}),
#                            which a handshake-era session sends on the client's GET stream
#
# Run: python -m uvicorn --app-dir t/backends mcp_server:app --host 127.0.0.1 --port PORT

import asyncio
import time
import warnings

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

# logging to the client is deprecated from protocol 2026-07-28 on; handshake-era sessions,
# which this test's client speaks, still have it
warnings.filterwarnings('ignore', category=MCPDeprecationWarning)

server = MCPServer('sse-auto-test', log_level='WARNING')

# background notifications, kept referenced until they are sent
pending = set()


@server.tool()
async def echo(text: str) -> str:
    return text


@server.tool()
async def progress(ctx: Context, n: int = 3, gap: float = 0.5) -> str:
    for i in range(1, n + 1):
        await asyncio.sleep(gap)
        await ctx.report_progress(i, n, 'sent=%.6f' % time.time())
    return 'counted to %d' % n


@server.tool()
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return 'done after %gs' % seconds


@server.tool()
async def notify_later(ctx: Context, delay: float) -> str:
    session = ctx.session

    async def later():
        await asyncio.sleep(delay)
        # no related request: the session's standalone stream, the client's GET
        await session.send_log_message('info', {'sent': time.time()}, logger='notify_later')

    task = asyncio.ensure_future(later())
    pending.add(task)
    task.add_done_callback(pending.discard)
    return 'in %gs' % delay


app = server.streamable_http_app()
