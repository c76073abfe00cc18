"""Parses a Prometheus text exposition from stdin with the official Python client's parser
(prometheus_client.parser) and prints the families as JSON:
{name: {"type": t, "samples": [[sample_name, {labels}, value], ...]}}.
A line the parser refuses makes it exit non-zero with the parser's message."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {
        "type": fam.type,
        "samples": [[s.name, s.labels, s.value] for s in fam.samples],
    }
print(json.dumps(out))
