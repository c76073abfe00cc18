#!/usr/bin/env python3
"""Embedding throughput of all-MiniLM-L6-v2 in Python sentence-transformers (PyTorch CPU):
sentences/s at batch 1 and batch 32 on the sentences of benches/embed.rs (read from that
file), with torch using every core and then one thread. The weights are Hearth's files in
$HEARTH_TEST_MODELS/all-minilm-l6-v2, assembled into a sentence-transformers folder the way
scripts/make_embedding_fixture.py does it.

Usage: bench/embed_torch.py [SECONDS]      (per measurement; default 5)
Needs `pip install sentence-transformers`.
"""

import importlib.util
import os
import re
import sys
import tempfile
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def sentences():
    with open(os.path.join(ROOT, "benches", "embed.rs"), encoding="utf-8") as f:
        src = f.read()
    block = src.split("// SENTENCES-BEGIN", 1)[1].split("// SENTENCES-END", 1)[0]
    found = re.findall(r'"((?:[^"\\]|\\.)*)"', block)
    assert len(found) == 32, f"expected 32 sentences in benches/embed.rs, found {len(found)}"
    return found


def load_assembler():
    path = os.path.join(ROOT, "scripts", "make_embedding_fixture.py")
    spec = importlib.util.spec_from_file_location("make_embedding_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.assemble


def rate(budget, per_step, step):
    step(0)  # warm-up
    start = time.perf_counter()
    done, i = 0, 1
    while time.perf_counter() - start < budget:
        step(i)
        done += per_step
        i += 1
    return done / (time.perf_counter() - start)


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    model_dir = os.path.join(os.environ["HEARTH_TEST_MODELS"], "all-minilm-l6-v2")
    texts = sentences()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        load_assembler()(os.path.abspath(model_dir), tmp)
        model = SentenceTransformer(tmp, device="cpu")
    model.eval()
    print(f"embed: sentence-transformers {sentence_transformers.__version__}, "
          f"torch {torch.__version__}, {len(texts)} sentences, {cores} cores")
    for threads in (cores, 1) if cores > 1 else (1,):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            b1 = rate(budget, 1, lambda i: model.encode(
                [texts[i % len(texts)]], batch_size=1, convert_to_numpy=True,
                show_progress_bar=False))
            print(f"torch threads={threads} batch=1 sentences_per_s={b1:.1f}")
            b32 = rate(budget, len(texts), lambda i: model.encode(
                texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False))
            print(f"torch threads={threads} batch=32 sentences_per_s={b32:.1f}")


if __name__ == "__main__":
    main()
