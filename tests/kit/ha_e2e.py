"""Drives a real Home Assistant (2025.4, run by tests/home_assistant.rs) the way a user's
clicks would, over its REST and WebSocket APIs only. Runs with Home Assistant's own venv
Python (aiohttp is there).

  ha_e2e.py onboard HA_URL                 -> {"token": <long-lived access token>}
  ha_e2e.py mcp-server HA_URL TOKEN        -> adds the MCP Server integration (Assist API)
  ha_e2e.py ollama HA_URL TOKEN OLLAMA_URL -> adds the Ollama integration with model
                                              hearth:latest and the Assist API, returns
                                              the conversation entity
  ha_e2e.py converse HA_URL TOKEN AGENT TEXT -> {"speech": ..., "response_type": ...}
  ha_e2e.py mcp HA_URL TOKEN MCP_URL       -> adds the MCP (client) integration pointing at
                                              Hearth; returns the entry's title and state
  ha_e2e.py state HA_URL TOKEN ENTITY      -> {"state": ...}
  ha_e2e.py service HA_URL TOKEN DOMAIN SERVICE ENTITY
"""

import asyncio
import json
import sys
import time

import aiohttp

CLIENT_ID = None


async def onboard(base):
    client_id = base + "/"
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{base}/api/onboarding/users",
            json={"client_id": client_id, "name": "Test", "username": "test", "password": "test-pass-123", "language": "en"},
        )
        r.raise_for_status()
        code = (await r.json())["auth_code"]
        r = await s.post(
            f"{base}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": client_id},
        )
        r.raise_for_status()
        access = (await r.json())["access_token"]
        auth = {"Authorization": f"Bearer {access}"}
        # The remaining onboarding steps, so the instance counts as set up.
        for step, body in [
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": client_id, "redirect_uri": client_id}),
        ]:
            await s.post(f"{base}/api/onboarding/{step}", json=body, headers=auth)
        async with s.ws_connect(f"{base}/api/websocket") as ws:
            assert (await ws.receive_json())["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": access})
            assert (await ws.receive_json())["type"] == "auth_ok"
            await ws.send_json({"id": 1, "type": "auth/long_lived_access_token", "client_name": "hearth-test", "lifespan": 30})
            res = await ws.receive_json()
            assert res["success"], res
            return {"token": res["result"]}


async def flow(s, base, auth, handler, *steps):
    """Runs a config flow through `steps` (one dict per form); returns the last result."""
    r = await s.post(f"{base}/api/config/config_entries/flow", json={"handler": handler, "show_advanced_options": False}, headers=auth)
    res = await r.json()
    assert r.status == 200, res
    for data in steps:
        assert res.get("type") == "form", res
        r = await s.post(f"{base}/api/config/config_entries/flow/{res['flow_id']}", json=data, headers=auth)
        res = await r.json()
        assert r.status == 200, res
    return res


async def entry_state(s, base, auth, domain):
    for _ in range(150):
        r = await s.get(f"{base}/api/config/config_entries/entry", headers=auth)
        entries = [e for e in await r.json() if e["domain"] == domain]
        if entries and entries[0]["state"] not in ("not_loaded", "setup_in_progress"):
            return entries[0]
        await asyncio.sleep(0.2)
    return entries[0] if entries else None


async def main(cmd, args):
    if cmd == "onboard":
        return await onboard(args[0])
    base, token = args[0], args[1]
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        if cmd == "mcp-server":
            res = await flow(s, base, auth, "mcp_server", {"llm_hass_api": "assist"})
            assert res["type"] == "create_entry", res
            return {"entry": res["result"]["entry_id"], "state": (await entry_state(s, base, auth, "mcp_server"))["state"]}
        if cmd == "ollama":
            res = await flow(s, base, auth, "ollama", {"url": args[2]}, {"model": "hearth:latest"})
            assert res["type"] == "create_entry", res
            entry = res["result"]["entry_id"]
            r = await s.post(f"{base}/api/config/config_entries/options/flow", json={"handler": entry}, headers=auth)
            opt = await r.json()
            assert r.status == 200, opt
            r = await s.post(f"{base}/api/config/config_entries/options/flow/{opt['flow_id']}", json={"llm_hass_api": "assist"}, headers=auth)
            assert r.status == 200, await r.text()
            state = (await entry_state(s, base, auth, "ollama"))["state"]
            agents = []
            for _ in range(100):
                r = await s.get(f"{base}/api/states", headers=auth)
                agents = [x["entity_id"] for x in await r.json() if x["entity_id"].startswith("conversation.") and x["entity_id"] != "conversation.home_assistant"]
                if agents:
                    break
                await asyncio.sleep(0.2)
            return {"state": state, "agents": agents}
        if cmd == "converse":
            r = await s.post(f"{base}/api/conversation/process", json={"text": args[3], "agent_id": args[2], "language": "en"}, headers=auth)
            res = await r.json()
            assert r.status == 200, res
            resp = res["response"]
            return {"speech": resp["speech"].get("plain", {}).get("speech", ""), "response_type": resp["response_type"], "conversation_id": res.get("conversation_id")}
        if cmd == "mcp":
            res = await flow(s, base, auth, "mcp", {"url": args[2]})
            if res.get("type") != "create_entry":
                return {"error": res}
            e = await entry_state(s, base, auth, "mcp")
            return {"title": res["title"], "state": e["state"], "reason": e.get("reason")}
        if cmd == "state":
            r = await s.get(f"{base}/api/states/{args[2]}", headers=auth)
            return {"state": (await r.json()).get("state")}
        if cmd == "service":
            r = await s.post(f"{base}/api/services/{args[2]}/{args[3]}", json={"entity_id": args[4]}, headers=auth)
            assert r.status == 200, await r.text()
            return {"ok": True}
    raise SystemExit(f"unknown command {cmd}")


print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2:]))))
