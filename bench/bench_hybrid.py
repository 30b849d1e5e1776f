"""Hybrid retrieval against vectors alone, on the same chunks and queries (not a timed test).

    .venv/bin/python bench/bench_hybrid.py [--chunks 20000] [--queries 200]

The chunks are real documentation prose (``bench/corpus.py``: Python, PostgreSQL, SQLite,
SQLAlchemy, Django, git and Linux documentation; ``make bench-deps``), embedded with the packaged
all-MiniLM-L6-v2 (cached in bench/.cache). Three query sets, each drawn from the corpus with a
fixed seed, each query with the chunks that answer it:

- phrase: a lower-cased 6-12 word span of a chunk's sentence (``corpus.load_labelled_queries``),
  what vectors do well; the answer is that chunk;
- two rare words: two words of a chunk that occur in at most 3 of the chunks, as a person
  types them into a search box ("checkout reflog"); the answer is any chunk holding both;
- a question about one rare word: "What is <word>?"; the answer is any chunk holding it.

For each: hit@4 (an answer among the 4 chunks a chat reads, ``retrieval.top_k``), MRR@10, and
the search's latency (query embedding included): vectors alone (the baseline, with hit@4's ratio
against it), and hybrid with each ``--pools`` size (``retrieval.keyword_pool``), without and with
the database's keyword index (SQLite, written here as ingest writes it).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus
from bench.bench_retrieval import corpus_vectors

_WORD = re.compile(r"[A-Za-z][a-z]{4,}")  # plain words: no identifier is favoured


def rare_word_queries(
    chunks: list[tuple[str, str]], n: int, seed: int
) -> tuple[list[tuple[str, set[str]]], list[tuple[str, set[str]]]]:
    """(query, answering chunk ids) pairs: two rare words of a chunk, and a question about one."""
    words_of = [{w.lower() for w in _WORD.findall(text)} for _, text in chunks]
    df = Counter(w for words in words_of for w in words)
    holding: dict[str, set[str]] = {}
    for (cid, _), words in zip(chunks, words_of, strict=True):
        for w in words:
            if df[w] <= 3:
                holding.setdefault(w, set()).add(cid)
    rng = random.Random(seed)
    pairs: list[tuple[str, set[str]]] = []
    singles: list[tuple[str, set[str]]] = []
    for idx in rng.sample(range(len(chunks)), len(chunks)):
        rare = sorted(w for w in words_of[idx] if df[w] <= 3)
        if len(rare) >= 2 and len(pairs) < n:
            a, b = rng.sample(rare, 2)
            pairs.append((f"{a} {b}", holding[a] & holding[b]))
        if rare and len(singles) < n:
            w = rng.choice(rare)
            singles.append((f"What is {w}?", holding[w]))
        if len(pairs) == n and len(singles) == n:
            break
    return pairs, singles


def measure(store, queries: list[tuple[str, set[str]]]) -> tuple[float, float, float]:
    hits4, rr, ms = [], [], []
    for query, answers in queries:
        t0 = time.perf_counter()
        found = [h.id for h in store.search("bench", query, 10)]
        ms.append((time.perf_counter() - t0) * 1000)
        hits4.append(any(i in answers for i in found[:4]))
        rank = next((r for r, i in enumerate(found, 1) if i in answers), None)
        rr.append(1 / rank if rank else 0.0)
    return statistics.mean(hits4), statistics.mean(rr), statistics.median(ms)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pools", type=int, nargs="+", default=[100], help="keyword_pool sizes")
    args = parser.parse_args()

    from assistant.config import Settings
    from assistant.embeddings import TextEmbedder
    from assistant.retrieval.store import Chunk, VectorStore, make_chroma_client

    embedder = TextEmbedder()
    chunks = corpus.load_chunks(args.chunks)
    vectors = corpus_vectors(chunks, embedder)
    phrases = [
        (q, {cid})
        for q, cid in corpus.load_labelled_queries(args.queries, seed=2, corpus_n=args.chunks)
    ]
    pairs, singles = rare_word_queries(chunks, args.queries, seed=3)
    sets = {"phrase": phrases, "two rare words": pairs, "what is <rare word>": singles}

    with tempfile.TemporaryDirectory() as folder:
        from assistant.retrieval.keywords import terms
        from assistant.store import Database

        db = Database(f"sqlite:///{folder}/bench.db")
        db.create_all()
        t0 = time.perf_counter()
        by_page: dict[str, dict[str, frozenset[str]]] = {}
        for cid, text in chunks:
            by_page.setdefault(cid.split("#")[0], {})[cid] = terms(text)
        for page, chunk_terms in by_page.items():
            db.replace_chunk_terms("bench", page, chunk_terms)
        index_s = time.perf_counter() - t0
        stores = {}
        variants: list[tuple[str, dict[str, object], Database | None]] = [
            ("vectors", {"hybrid": False}, None)
        ]
        for n in args.pools:
            variants.append((f"hybrid, pool {n}, no keyword index", {"keyword_pool": n}, None))
            variants.append((f"hybrid, pool {n} + keyword index", {"keyword_pool": n}, db))
        for name, retrieval, index in variants:
            settings = Settings(storage={"data_dir": folder}, retrieval=retrieval)
            stores[name] = VectorStore(
                make_chroma_client(settings.retrieval, settings.storage),
                embedder,
                settings.retrieval,
                term_index=index,
            )
        store = stores["vectors"]
        for s in range(0, len(chunks), 4096):
            part = chunks[s : s + 4096]
            store.upsert(
                "bench",
                [Chunk(id=i, text=t, metadata={"source": i.split("#")[0]}) for i, t in part],
                vectors[s : s + 4096].tolist(),
            )
        for name in stores:  # warm both (model, index)
            stores[name].search("bench", "warm up the index", 10)
        print(f"\n## Hybrid retrieval ({len(chunks)} chunks; {corpus.SOURCE[:60]}...)")
        print(f"keyword index of {len(chunks)} chunks written in {index_s:.1f} s")
        print("| queries | n | search | hit@4 | MRR@10 | latency p50 |")
        print("|---|---|---|---|---|---|")
        for label, queries in sets.items():
            base = None
            for name, store in stores.items():
                hit4, mrr, p50 = measure(store, queries)
                base = base or (hit4, p50)
                ratio = f" (x{hit4 / base[0]:.2f})" if name != "vectors" and base[0] else ""
                print(
                    f"| {label} | {len(queries)} | {name} | {hit4:.3f}{ratio} | {mrr:.3f} "
                    f"| {p50:.1f} ms |"
                )


if __name__ == "__main__":
    main()
