"""Streams one completion from Hearth with the official `openai` Python client while the
first provider dies mid-answer and Hearth fails over to the second.

Usage: python3 tests/openai_stream_failover.py BASE_URL TOKEN
Passes (prints OK and how the stream ended) when the client never sees the dead
provider's partial text glued to the fallback's answer: either only the fallback's text
arrives, or the partial text is followed by an error, never by more text.
"""
import sys

from openai import OpenAI, APIError

base_url, token = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=token, timeout=120, max_retries=0)
parts, error = [], None
try:
    stream = client.chat.completions.create(
        model="hearth", messages=[{"role": "user", "content": "hello"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
except APIError as e:
    error = e
text = "".join(parts)
spliced = "PARTIAL" in text and "GOOD" in text
assert not spliced, f"spliced answer: {text!r}"
if error is None:
    assert text == "GOOD answer", f"unexpected text: {text!r}"
    print("OK clean", repr(text))
else:
    assert "GOOD" not in text, f"text after the error: {text!r}"
    print("OK error", repr(text), repr(str(error)))
