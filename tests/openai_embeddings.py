"""Calls Hearth's /v1/embeddings with the official openai client (which requests
base64-encoded floats by default) and prints facts about the vectors as JSON."""
import json
import math

from openai import OpenAI

client = OpenAI()
r = client.embeddings.create(
    model="all-minilm-l6-v2",
    input=["The cat sleeps on the sofa.", "A kitten is napping on the couch.", "Quarterly tax filing deadline."],
)
v = [d.embedding for d in r.data]
dot = lambda a, b: sum(x * y for x, y in zip(a, b))
print(json.dumps({
    "dims": len(v[0]),
    "norm": math.sqrt(dot(v[0], v[0])),
    "similar": dot(v[0], v[1]),
    "different": dot(v[0], v[2]),
    "tokens": r.usage.prompt_tokens,
}))
