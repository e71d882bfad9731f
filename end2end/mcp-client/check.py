"""The gateway's MCP endpoint through the official MCP Python SDK (a client nobody here wrote).

Run by scripts/mcp-client against a fresh gateway. Sets up over REST what an admin would (a
group, two SQLite connections, an admin key and a key scoped to one group), then over MCP
(streamable HTTP, the classic initialize handshake):
  - tools/list for the admin key and for the scoped key (admin tools hidden from the latter);
  - whoami, list_connections, describe_schema;
  - exec allowed by group, refused by group, a failing script (tool errors, not protocol errors);
  - an admin tool called anyway by the scoped key: refused;
  - the scoped key deactivated (by the admin, through MCP) in the middle of its session: its
    next call is refused with 401.
Secrets arrive through the environment and the raw keys are written to $HOOP_KEYS_FILE, so
the script around this one can check that none reached the gateway's log.
"""

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import urllib.request

import httpx2
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

BASE = os.environ["HOOP_URL"]
WORK = os.environ["HOOP_WORK_DIR"]
ADMIN_TOOLS = {"list_api_keys", "api_key_usage", "deactivate_api_key", "activate_api_key"}
AGENT_TOOLS = {"whoami", "list_connections", "exec", "describe_schema", "list_sessions", "get_session"}


def rest(method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read() or b"null")


def setup():
    login = {"email": os.environ["HOOP_ADMIN_EMAIL"], "password": os.environ["HOOP_ADMIN_PASSWORD"]}
    admin = rest("POST", "/api/localauth/login", None, login)["token"]
    for group in ("engineering", "ops"):
        rest("POST", "/api/groups", admin, {"name": group})
    for name, group in (("eng-db", "engineering"), ("ops-db", "ops")):
        path = os.path.join(WORK, name + ".db")
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER)")
            db.execute("INSERT INTO orders (item, qty) VALUES ('widget', 3), ('gadget', 5)")
        spec = {"name": name, "type": "sqlite", "target": path, "access_groups": [group]}
        rest("POST", "/api/connections", admin, spec)
    admin_key = rest("POST", "/api/api-keys", admin, {"name": "mcp-admin", "groups": ["admin"]})["key"]
    agent_key = rest("POST", "/api/api-keys", admin, {"name": "mcp-agent", "groups": ["engineering"]})["key"]
    with open(os.environ["HOOP_KEYS_FILE"], "w") as keys:
        keys.write(admin_key + "\n" + agent_key + "\n" + admin + "\n")
    return admin_key, agent_key


class Mcp:
    """One MCP session (initialize handshake) under one key."""

    def __init__(self, key):
        self.key = key

    async def __aenter__(self):
        self.stack = contextlib.AsyncExitStack()
        http = create_mcp_http_client(headers={"Authorization": "Bearer " + self.key})
        await self.stack.enter_async_context(http)
        read, write = await self.stack.enter_async_context(
            streamable_http_client(BASE + "/api/mcp", http_client=http)
        )
        session = await self.stack.enter_async_context(ClientSession(read, write))
        init = await session.initialize()
        check(init.server_info.name == "hoop", f"initialize answers as hoop ({init.protocol_version})")
        return session

    async def __aexit__(self, *exc):
        await self.stack.__aexit__(*exc)


def text(result):
    return "".join(block.text for block in result.content if getattr(block, "text", None) is not None)


def check(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)
    print("ok - " + message)


async def main():
    admin_key, agent_key = setup()
    async with Mcp(admin_key) as admin, Mcp(agent_key) as agent:
        admin_tools = {t.name for t in (await admin.list_tools()).tools}
        check(admin_tools == AGENT_TOOLS | ADMIN_TOOLS, f"admin tools/list has every tool: {sorted(admin_tools)}")
        agent_tools = {t.name for t in (await agent.list_tools()).tools}
        check(agent_tools == AGENT_TOOLS, f"scoped tools/list hides the admin tools: {sorted(agent_tools)}")

        me = await agent.call_tool("whoami", {})
        who = json.loads(text(me))
        check(not me.is_error and who["name"] == "mcp-agent" and not who["is_admin"], "whoami names the scoped key")
        listed = json.loads(text(await agent.call_tool("list_connections", {})))
        names = {c["name"] for c in listed["connections"]}
        check(names == {"eng-db"}, f"list_connections shows only the key's connections: {sorted(names)}")

        ran = await agent.call_tool("exec", {"connection": "eng-db", "script": "SELECT item, qty FROM orders ORDER BY id"})
        check(not ran.is_error and text(ran).startswith("item\tqty\nwidget\t3\ngadget\t5"), "exec allowed by group answers TSV")
        session_id = ran.structured_content["session_id"]
        refused = await agent.call_tool("exec", {"connection": "ops-db", "script": "SELECT 1"})
        check(refused.is_error and "forbidden" in text(refused), f"exec refused by group is a tool error: {text(refused)!r}")
        failed = await agent.call_tool("exec", {"connection": "eng-db", "script": "SELECT nope FROM nowhere"})
        check(failed.is_error and "no such table" in text(failed), f"a failing script is a tool error: {text(failed)!r}")
        schema = await agent.call_tool("describe_schema", {"connection": "eng-db"})
        check(not schema.is_error and "orders\tqty\tINTEGER" in text(schema), "describe_schema lists tables and columns")
        mine = json.loads(text(await agent.call_tool("get_session", {"id": session_id})))
        check(mine["connection"] == "eng-db" and mine["status"] == "success", "get_session reads the exec's record")
        sneaky = await agent.call_tool("list_api_keys", {})
        check(sneaky.is_error and "admin" in text(sneaky), "an admin tool called by a scoped key is refused")

        keys = json.loads(text(await admin.call_tool("list_api_keys", {})))["api_keys"]
        check(all(agent_key not in json.dumps(k) and admin_key not in json.dumps(k) for k in keys), "list_api_keys shows no secret")
        off = await admin.call_tool("deactivate_api_key", {"name_or_id": "mcp-agent"})
        check(not off.is_error, "the admin deactivates the scoped key through MCP")
        try:
            await agent.call_tool("whoami", {})
        except MCPError as refusal:  # the SDK reports the 401 as an error response
            check(True, f"the deactivated key's next call is refused: {refusal}")
        else:
            check(False, "the deactivated key's next call is refused")
        # The same over plain HTTP, to see the status itself.
        probe = httpx2.post(BASE + "/api/mcp", headers={"Authorization": "Bearer " + agent_key, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        check(probe.status_code == 401 and probe.headers.get("www-authenticate") == "Bearer", "and answered 401 with WWW-Authenticate: Bearer")


asyncio.run(main())
print("mcp-client: all checks passed")
