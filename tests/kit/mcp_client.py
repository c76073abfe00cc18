"""Uses Hearth's MCP server with the official MCP Python SDK's client, over Streamable HTTP
(bearer token in a header) and over the 2024-11-05 HTTP+SSE transport with the token in
the URL, as Home Assistant 2025.4's `mcp` integration connects (it takes only a URL).

Usage: mcp_client.py BASE_URL TOKEN
Prints one JSON object with what each call returned; the Rust test checks it.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client

base, token = sys.argv[1], sys.argv[2]


def texts(result):
    return {"isError": result.isError, "text": "".join(c.text for c in result.content if c.type == "text")}


async def streamable():
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{base}/mcp", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            out["protocol"] = init.protocolVersion
            out["server"] = init.serverInfo.name
            out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
            out["ask"] = texts(await s.call_tool("ask_agent", {"message": "hello from home assistant", "session": "ha"}))
            out["search"] = texts(await s.call_tool("memory_search", {"query": "spare key"}))
            out["bad"] = texts(await s.call_tool("memory_get", {}))
    return out


async def legacy_sse():
    out = {}
    async with sse_client(f"{base}/mcp/{token}/sse") as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            out["protocol"] = init.protocolVersion
            # Home Assistant's config flow initializes twice on one session.
            await s.initialize()
            out["tools"] = sorted(t.name for t in (await s.list_tools()).tools)
            out["ask"] = texts(await s.call_tool("ask_agent", {"message": "second question", "session": "ha"}))
    return out


async def main():
    result = {"streamable": await streamable(), "sse": await legacy_sse()}
    print(json.dumps(result))


asyncio.run(main())
