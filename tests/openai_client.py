"""Drives Hearth's /v1/chat/completions with the official `openai` Python client.

Usage: python3 tests/openai_client.py BASE_URL TOKEN
Checks a non-streamed and a streamed completion (stateless, greedy on the local model):
both non-empty, and the streamed text equals the non-streamed one. Prints OK.
"""
import sys

from openai import OpenAI

base_url, token = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=token, timeout=300, max_retries=0)
messages = [{"role": "user", "content": "What is 2 + 2?"}]

models = client.models.list()
assert any(m.id == "hearth" for m in models.data), models

full = client.chat.completions.create(model="hearth", messages=messages)
text = full.choices[0].message.content
assert text and text.strip(), f"empty non-streamed reply: {full}"
assert full.choices[0].finish_reason == "stop", full

parts = []
for chunk in client.chat.completions.create(model="hearth", messages=messages, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
streamed = "".join(parts)
assert len(parts) > 1, f"not streamed in pieces: {parts}"
assert streamed.strip() == text.strip(), f"stream {streamed!r} != full {text!r}"
print("OK", repr(text))
