#!/usr/bin/env python3
"""llama.cpp's side of bench/llm.sh: the same files, prompt token ids (1..=N cycled over the
vocabulary), threads and greedy decode as crates/llm/benches/decode.rs, one JSON line each.

    python3 bench/llm_llamacpp.py FILE.gguf [...] [--threads 1,2] [--prompt 128] [--decode 128] [--window 2048]

RSS from /proc/self/smaps_rollup after the run, minus the interpreter's before loading:
anon_kb private anonymous, file_kb resident file pages.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import llama_cpp
from llama_cpp import Llama


def rollup():
    f = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            f[parts[0].rstrip(":")] = int(parts[1])
    return f.get("Anonymous", 0), f.get("Rss", 0) - f.get("Anonymous", 0)


def main():
    args = sys.argv[1:]
    files, threads, prompt, decode, window = [], [1, 2], 128, 128, 2048
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--threads":
            threads = [int(t) for t in args[i + 1].split(",")]
            i += 1
        elif a in ("--prompt", "--decode", "--window"):
            v = int(args[i + 1])
            prompt, decode, window = (v if a == "--prompt" else prompt, v if a == "--decode" else decode, v if a == "--window" else window)
            i += 1
        else:
            files.append(a)
        i += 1
    base_anon, base_file = rollup()
    for f in files:
        for t in threads:
            llm = Llama(model_path=f, n_ctx=window, n_batch=512, n_threads=t, n_threads_batch=t, verbose=False)
            n_vocab = llm.n_vocab()
            ids = [1 + i % (n_vocab - 1) for i in range(prompt)]
            llm.eval(ids[:8])
            llm.reset()
            t0 = time.perf_counter()
            last = lambda: np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            llm.eval(ids)
            nxt = int(np.argmax(last()))
            prefill = time.perf_counter() - t0
            t1 = time.perf_counter()
            for _ in range(decode):
                llm.eval([nxt])
                nxt = int(np.argmax(last()))
            dec = time.perf_counter() - t1
            anon, file = rollup()
            print(json.dumps({
                "engine": "llama.cpp", "file": Path(f).name, "threads": t, "prompt": prompt, "decode": decode,
                "prefill_tok_s": round(prompt / prefill, 1), "decode_tok_s": round(decode / dec, 1),
                "ttft_ms": round(prefill * 1000, 1), "anon_kb": anon - base_anon, "file_kb": file - base_file,
            }), flush=True)
            del llm


if __name__ == "__main__":
    main()
