"""An MCP server built on the official MCP Python SDK (FastMCP) for tests/mcp.rs.

Usage: mcp_server.py stdio | http | http-stateless | sse

- stdio: the protocol on stdin/stdout.
- http: Streamable HTTP at /mcp, stateful (Mcp-Session-Id, a GET stream for
  notifications), answers as event streams.
- http-stateless: Streamable HTTP at /mcp, stateless, one JSON object per POST (as newer
  Home Assistant's /api/mcp).
- sse: the 2024-11-05 HTTP+SSE transport at /sse (as Home Assistant 2025.4's
  /mcp_server/sse); a POST to /sse gets 405.

HTTP modes listen on a free 127.0.0.1 port and print {"port": N} as the first line on
stdout. With MCP_KIT_TOKEN set, every HTTP request must carry `Authorization: Bearer
<token>` (401 otherwise). With MCP_KIT_PID_FILE set, the server starts a `sleep` child (in
its process group) and writes "<own pid> <sleep pid>" to that file.

Tools: add(a, b), echo(text), hang() (sleeps for an hour), crash() (exits with status 3),
fail() (raises), grow() (adds the tool `extra` and sends
notifications/tools/list_changed). Resource kit://motd, prompt greet(name).
"""

import json
import os
import socket
import subprocess
import sys

import anyio
from mcp.server.fastmcp import Context, FastMCP

mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
mcp = FastMCP(
    "hearth-test-kit",
    log_level="WARNING",
    stateless_http=(mode == "http-stateless"),
    json_response=(mode == "http-stateless"),
)


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Returns the text unchanged."""
    return text


@mcp.tool()
async def hang() -> str:
    """Never answers (sleeps for an hour)."""
    await anyio.sleep(3600)
    return "woke up"


@mcp.tool()
def crash() -> str:
    """Ends the server process at once with exit status 3."""
    os._exit(3)


@mcp.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("the kit tool failed on purpose")


def extra() -> str:
    """A tool that exists only after grow()."""
    return "extra here"


@mcp.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `extra` and tells the client that the tool list changed."""
    mcp.add_tool(extra, name="extra")
    await ctx.session.send_tool_list_changed()
    return "grown"


@mcp.resource("kit://motd", name="motd")
def motd() -> str:
    """The message of the day."""
    return "hello from the kit"


@mcp.prompt()
def greet(name: str) -> str:
    """A greeting."""
    return f"Say hello to {name}."


def with_token(app, token):
    """ASGI middleware: 401 for HTTP requests without the bearer token."""

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token"})
                return
        await app(scope, receive, send)

    return guarded


async def serve_http():
    import uvicorn

    app = mcp.sse_app() if mode == "sse" else mcp.streamable_http_app()
    token = os.environ.get("MCP_KIT_TOKEN")
    if token:
        app = with_token(app, token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening before the port is printed: clients that connect at once wait in the backlog.
    sock.listen(64)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    await server.serve(sockets=[sock])


def main():
    pid_file = os.environ.get("MCP_KIT_PID_FILE")
    if pid_file:
        child = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        with open(pid_file, "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
    if mode == "stdio":
        mcp.run("stdio")
    elif mode in ("http", "http-stateless", "sse"):
        anyio.run(serve_http)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
