#!/usr/bin/env python3
"""Build the retrieval-evaluation fixture in tests/fixtures/retrieval/.

Input: a SQuAD v1.1 development-set file in the official JSON layout
(dev-v1.1.json, or any file that contains at least the articles listed in
ARTICLES below, unchanged). Output: corpus.jsonl and queries.jsonl.

Usage:
    python3 scripts/make_retrieval_fixture.py PATH/TO/dev-v1.1.json [--out DIR]

The result depends only on the content of the listed articles, never on the
order of articles in the input file, the Python version or the platform:
articles are looked up by title, and queries are chosen by ranking question
ids on a SHA-256 digest with a fixed salt (no random module involved).

Selection rules:
  * passages: for each article in ARTICLES, in order, its paragraphs in file
    order, skipping any longer than MAX_PASSAGE_CHARS, up to
    MAX_PASSAGES_PER_ARTICLE of them; exact duplicate texts are dropped.
  * queries: for each article, the questions of its selected passages that
    have at least MIN_QUESTION_WORDS words and whose text is not already used
    are ranked by sha256(SALT + question id); the first
    QUERIES_PER_ARTICLE are taken, at most one per passage. Each query's
    only relevant passage is the paragraph the question was written for.

Standard library only.
"""

import argparse
import hashlib
import json
import os
import sys

# Twenty-four Wikipedia articles of the SQuAD v1.1 dev set, spanning sport,
# cities, science, history, law, and institutions, so that each query has
# both same-article and near-topic distractors.
ARTICLES = [
    "Super_Bowl_50",
    "Warsaw",
    "Teacher",
    "Victoria_(Australia)",
    "Oxygen",
    "1973_oil_crisis",
    "Apollo_program",
    "European_Union_law",
    "Packet_switching",
    "Black_Death",
    "Geology",
    "Newcastle_upon_Tyne",
    "Genghis_Khan",
    "Immune_system",
    "Civil_disobedience",
    "Construction",
    "Harvard_University",
    "Jacksonville,_Florida",
    "University_of_Chicago",
    "Prime_number",
    "Islamism",
    "Imperialism",
    "French_and_Indian_War",
    "Force",
]

MAX_PASSAGES_PER_ARTICLE = 21
MAX_PASSAGE_CHARS = 1200
QUERIES_PER_ARTICLE = 8
MIN_QUESTION_WORDS = 5
SALT = "hearth-retrieval-fixture-v1:"


def rank_key(question_id):
    return hashlib.sha256((SALT + question_id).encode("utf-8")).hexdigest()


def load_articles(path):
    with open(path, "rb") as f:
        raw = f.read()
    digest = hashlib.sha256(raw).hexdigest()
    doc = json.loads(raw.decode("utf-8"))
    if doc.get("version") != "1.1":
        sys.exit("error: expected a SQuAD v1.1 file, got version %r" % doc.get("version"))
    by_title = {}
    for article in doc["data"]:
        by_title.setdefault(article["title"], article)
    missing = [t for t in ARTICLES if t not in by_title]
    if missing:
        sys.exit("error: input lacks articles: " + ", ".join(missing))
    return by_title, digest


def build(by_title):
    passages = []  # dicts: id, title, text
    queries = []  # dicts: id, text, relevant
    seen_texts = set()
    seen_questions = set()

    for title in ARTICLES:
        article = by_title[title]
        display_title = title.replace("_", " ")

        chosen = []  # (passage id, paragraph)
        for paragraph in article["paragraphs"]:
            if len(chosen) == MAX_PASSAGES_PER_ARTICLE:
                break
            text = paragraph["context"].strip()
            if len(text) > MAX_PASSAGE_CHARS or text in seen_texts:
                continue
            seen_texts.add(text)
            pid = "p%04d" % (len(passages) + 1)
            passages.append({"id": pid, "title": display_title, "text": text})
            chosen.append((pid, paragraph))

        candidates = []  # (rank, order, passage id, question text)
        order = 0
        for pid, paragraph in chosen:
            for qa in paragraph["qas"]:
                order += 1
                question = " ".join(qa["question"].split())
                if len(question.split()) < MIN_QUESTION_WORDS:
                    continue
                candidates.append((rank_key(qa["id"]), order, pid, question))
        candidates.sort()

        picked = []
        used_passages = set()
        for _, order, pid, question in candidates:
            if len(picked) == QUERIES_PER_ARTICLE:
                break
            folded = question.casefold()
            if pid in used_passages or folded in seen_questions:
                continue
            used_passages.add(pid)
            seen_questions.add(folded)
            picked.append((order, pid, question))
        if len(picked) < QUERIES_PER_ARTICLE:
            sys.exit("error: only %d usable questions in %s" % (len(picked), title))

        for _, pid, question in sorted(picked):
            qid = "q%04d" % (len(queries) + 1)
            queries.append({"id": qid, "text": question, "relevant": [pid]})

    return passages, queries


def check(passages, queries):
    pids = [p["id"] for p in passages]
    qids = [q["id"] for q in queries]
    assert len(set(pids)) == len(pids), "duplicate passage id"
    assert len(set(qids)) == len(qids), "duplicate query id"
    known = set(pids)
    for q in queries:
        assert q["relevant"], "query without relevant passage"
        for r in q["relevant"]:
            assert r in known, "unknown relevant id " + r


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "tests", "fixtures", "retrieval")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squad_json", help="path to SQuAD v1.1 dev-v1.1.json")
    parser.add_argument("--out", default=default_out, help="output directory")
    args = parser.parse_args()

    by_title, digest = load_articles(args.squad_json)
    passages, queries = build(by_title)
    check(passages, queries)

    os.makedirs(args.out, exist_ok=True)
    write_jsonl(os.path.join(args.out, "corpus.jsonl"), passages)
    write_jsonl(os.path.join(args.out, "queries.jsonl"), queries)
    print("input sha256: %s" % digest)
    print(
        "wrote %d passages from %d articles and %d queries to %s"
        % (len(passages), len(ARTICLES), len(queries), args.out)
    )


if __name__ == "__main__":
    main()
