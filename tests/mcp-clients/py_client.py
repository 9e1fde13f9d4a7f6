"""Drives `runner mcp` with the Python `mcp` package's stdio client.

Usage: py_client.py PLAN.json
PLAN: {"command": "...", "args": [...], "env": {...},
       "calls": [{"tool": "NAME", "arguments": {...}}, ...]}
Prints one JSON object: the client's view of the server (name, version),
the listed tools, and for each call either its result or its protocol error.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp import MCPError


async def main(plan):
    server = StdioServerParameters(
        command=plan["command"], args=plan["args"], env=plan.get("env")
    )
    report = {"calls": []}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            report["server"] = init.server_info.model_dump(mode="json")
            tools = await session.list_tools()
            report["tools"] = [t.model_dump(mode="json") for t in tools.tools]
            for call in plan["calls"]:
                try:
                    result = await session.call_tool(call["tool"], call.get("arguments"))
                    entry = {"result": result.model_dump(mode="json", by_alias=True)}
                except MCPError as error:
                    entry = {"error": {"code": error.error.code, "message": error.error.message}}
                report["calls"].append(entry)
            # The server is still healthy after every call above.
            again = await session.list_tools()
            report["tools_after"] = [t.name for t in again.tools]
    print(json.dumps(report))


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
