"""Drives Hearth's Ollama API with the official `ollama` Python client (0.4.7, the version
Home Assistant 2025.4 pins), the way Home Assistant's `ollama` integration calls it.

Usage: ollama_client.py URL   (URL as a user types it into Home Assistant, key in the path)
Prints one JSON object with what each call returned; the Rust test checks it.
"""

import json
import sys

import httpx
import ollama

url = sys.argv[1]
out = {}
client = ollama.Client(host=url)

# Setup and the config flow: list (HA reads models[].model), then pull when missing.
out["list"] = [m.model for m in client.list().models]
out["show"] = client.show("hearth:latest").modelinfo
out["ps"] = [m.model for m in client.ps().models]
out["version"] = httpx.get(url.rstrip("/") + "/api/version").json()
out["pull"] = client.pull("hearth:latest", stream=False).status
out["pull_stream"] = [p.status for p in client.pull("hearth:latest", stream=True)]
try:
    client.pull("llama3.2:latest", stream=False)
    out["pull_unknown"] = "no error"
except ollama.ResponseError as e:
    out["pull_unknown"] = {"status": e.status_code, "error": e.error}

# Plain chat, not streamed and streamed.
r = client.chat(model="hearth:latest", messages=[{"role": "user", "content": "hello"}], stream=False)
out["chat"] = {"content": r.message.content, "done": r.done, "eval_count": r.eval_count}
parts = list(client.chat(model="hearth:latest", messages=[{"role": "user", "content": "hello again"}], stream=True))
out["stream"] = {
    "content": "".join(p.message.content or "" for p in parts),
    "lines": len(parts),
    "last_done": parts[-1].done,
    "reason": parts[-1].done_reason,
}

# Home Assistant's conversation turn (homeassistant/components/ollama/conversation.py,
# 2025.4): the whole history each time, its system prompt first, its Assist tools, stream,
# keep_alive "-1s", num_ctx; a tool call is run by HA and the history re-sent with the
# assistant's calls and the tool results (no ids), until an answer without calls.
SYSTEM = "You are a voice assistant for Home Assistant.\nAn overview of the areas and the devices in this smart home:\n- names: Kitchen Light\n  domain: light\n  state: 'off'"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "HassTurnOn",
            "description": "Turns on/opens a device or entity",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "domain": {"type": "array"}}, "required": []},
        },
    }
]


def ha_turn(history):
    """One HA turn over as many requests as its tool loop needs; returns the new messages."""
    new = []
    for _ in range(10):
        stream = client.chat(
            model="hearth:latest",
            messages=history + new,
            tools=TOOLS,
            stream=True,
            keep_alive="-1s",
            options={"num_ctx": 8192},
        )
        content, calls = "", []
        for chunk in stream:
            if chunk.message.tool_calls:
                calls.extend(chunk.message.tool_calls)
            if chunk.message.content:
                content += chunk.message.content
        msg = {"role": "assistant"}
        if content:
            msg["content"] = content
        if calls:
            msg["tool_calls"] = [
                {"function": {"name": c.function.name, "arguments": dict(c.function.arguments)}} for c in calls
            ]
        new.append(msg)
        if not calls:
            return new
        for c in calls:
            assert isinstance(c.function.arguments, dict), c
            result = {"speech": {}, "response_type": "action_done", "data": {"success": [{"name": "Kitchen Light", "type": "entity", "id": "light.kitchen"}], "failed": []}}
            new.append({"role": "tool", "content": json.dumps(result)})
    raise AssertionError("tool loop did not end")


history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "turn on the kitchen light"}]
first = ha_turn(history)
out["ha_turn"] = first
history = history + first + [{"role": "user", "content": "thanks, is it on now?"}]
second = ha_turn(history)
out["ha_followup"] = second

# A client without the key is refused with a clear error.
try:
    bare = url.split("/ollama/")[0]
    ollama.Client(host=bare).list()
    out["no_key"] = "no error"
except ollama.ResponseError as e:
    out["no_key"] = {"status": e.status_code, "error": e.error}

print(json.dumps(out))
