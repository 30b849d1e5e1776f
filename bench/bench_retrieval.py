"""Retrieval, ingestion and end-to-end benchmark (prints figures; not a test).

- recall@10 and p50/p95 latency of Chroma (project settings) against exact numpy search,
  on N real text chunks (Debian documentation prose, see bench/corpus.py) embedded with the
  packaged all-MiniLM-L6-v2;
- ingestion throughput (chunk + embed + write to Chroma) as a ratio to the bare embedder;
- time to first token and total latency of a grounded answer with the local default LLM.

Usage: python bench/bench_retrieval.py [--chunks 100000] [--queries 200]
Embeddings of the corpus are cached in bench/.cache (embedding 100k chunks takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import corpus

CACHE = Path(__file__).resolve().parent / ".cache"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def corpus_vectors(chunks: list[tuple[str, str]], embedder) -> np.ndarray:
    """Embeddings of the corpus, cached in shards so an interrupted run keeps its progress."""
    shard = 10_000
    parts = []
    started = time.perf_counter()
    for s in range(0, len(chunks), shard):
        piece = chunks[s : s + shard]
        digest = hashlib.sha256("\n".join(i for i, _ in piece).encode()).hexdigest()[:16]
        path = CACHE / f"minilm-{digest}.npy"
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            vectors = embedder.embed([t for _, t in piece], batch_size=64)
            np.save(path, np.asarray(vectors, dtype=np.float32))
            print(f"embedded chunks {s}-{s + len(piece)} ({time.perf_counter() - started:.0f} s)")
        parts.append(np.load(path))
    return np.concatenate(parts)


def bench_retrieval(n: int, n_queries: int, settings, sweep: tuple[int, ...] = ()) -> None:
    from assistant.embeddings import TextEmbedder
    from assistant.retrieval.store import Chunk, VectorStore, make_chroma_client

    embedder = TextEmbedder()
    chunks = corpus.load_chunks(n)
    vectors = corpus_vectors(chunks, embedder)
    queries = corpus.load_queries(n_queries, seed=1)
    qvec = np.asarray(embedder.embed(queries), dtype=np.float32)

    store = VectorStore(
        make_chroma_client(settings.retrieval, settings.storage), embedder, settings.retrieval
    )
    started = time.perf_counter()
    batch = 4096
    for s in range(0, n, batch):
        part = chunks[s : s + batch]
        store.upsert(
            "bench",
            [Chunk(id=i, text=t, metadata={"source": i.split("#")[0]}) for i, t in part],
            vectors[s : s + batch].tolist(),
        )
    build_s = time.perf_counter() - started

    exact = np.argsort(-(qvec @ vectors.T), axis=1)[:, :10]
    id_index = {cid: k for k, (cid, _) in enumerate(chunks)}
    t0 = time.perf_counter()
    for vec in qvec:
        _ = np.argsort(-(vec @ vectors.T))[:10]
    numpy_ms = (time.perf_counter() - t0) * 1000 / len(qvec)

    r = settings.retrieval
    print(
        f"\n## Retrieval ({n} chunks, {len(qvec)} queries; hnsw M={r.hnsw_m} "
        f"ef_construction={r.hnsw_construction_ef})"
    )
    print(f"index build (upsert with vectors): {build_s:.1f} s ({n / build_s:.0f} chunks/s)")
    print(f"exact numpy search (the baseline): {numpy_ms:.2f} ms per query")
    for ef_search in sorted({r.hnsw_search_ef, *sweep}):
        store.collection("bench").modify(configuration={"hnsw": {"ef_search": ef_search}})
        # the loaded index keeps the ef it was opened with: reopen it to apply the new one
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        store = VectorStore(
            make_chroma_client(settings.retrieval, settings.storage), embedder, settings.retrieval
        )
        for _ in range(3):  # warm-up
            store.search_vector("bench", qvec[0].tolist(), 10)
        recalls, latencies = [], []
        for q, vec in enumerate(qvec):
            t0 = time.perf_counter()
            hits = store.search_vector("bench", vec.tolist(), 10)
            latencies.append((time.perf_counter() - t0) * 1000)
            got = {id_index[h.id] for h in hits}
            recalls.append(len(got & set(exact[q].tolist())) / 10)
        print(
            f"ef_search={ef_search}: recall@10 {statistics.mean(recalls):.4f}, "
            f"latency p50 {pct(latencies, 50):.2f} ms, p95 {pct(latencies, 95):.2f} ms"
        )
    full_latencies = []
    for query in queries[:50]:
        t0 = time.perf_counter()
        store.search("bench", query, 10)
        full_latencies.append((time.perf_counter() - t0) * 1000)
    print(
        f"query embedding + search at ef_search={max({r.hnsw_search_ef, *sweep})}: "
        f"p50 {pct(full_latencies, 50):.2f} ms, p95 {pct(full_latencies, 95):.2f} ms"
    )


def bench_ingestion(settings, n: int = 3000) -> None:
    from assistant.media.documents import extract_sections
    from assistant.services import Services

    services = Services.build(settings)
    texts = [t for _, t in corpus.load_chunks(n)]
    # the same bytes as documents of ~20 chunks each, the way users ingest files
    docs = ["\n\n".join(texts[i : i + 20]) for i in range(0, n, 20)]
    services.embedder.embed(texts[:64])  # load the model outside the timings
    t0 = time.perf_counter()
    produced = 0
    for i, doc in enumerate(docs):
        produced += services.ingestor.ingest_bytes("ingest", f"doc-{i}.txt", doc.encode()).chunks
    ingest_s = time.perf_counter() - t0
    chunk_texts = [
        c.text
        for i, doc in enumerate(docs)
        for c in services.ingestor.chunk(
            f"d{i}", "x", "text/plain", extract_sections(doc.encode(), "text/plain", "x")
        )
    ]
    t0 = time.perf_counter()
    services.embedder.embed(chunk_texts)  # the same batch size ingestion uses
    bare_s = time.perf_counter() - t0
    ingest_rate, bare_rate = produced / ingest_s, len(chunk_texts) / bare_s
    print(f"\n## Ingestion ({len(docs)} documents, {produced} chunks)")
    print(f"ingestion (split + embed + Chroma + store): {ingest_rate:.0f} chunks/s")
    print(f"bare embedder, same chunks in one call, same batch size: {bare_rate:.0f} chunks/s")
    print(f"ratio: {ingest_rate / bare_rate:.2f}")


def bench_answer(settings, runs: int = 10) -> None:
    from assistant.orchestrator import Answer, ChatInput, ChatTurn
    from assistant.services import Services

    services = Services.build(settings)
    root = Path(__file__).resolve().parent.parent / "examples" / "knowledge"
    for path in root.iterdir():
        services.ingestor.ingest_bytes("e2e", path.name, path.read_bytes())
    services.warm_up()
    chat = ChatInput(tenant="e2e", messages=[ChatTurn("user", "How tall is the Eiffel Tower?")])

    async def once() -> tuple[float, float, str, int]:
        t0 = time.perf_counter()
        first = None
        text = ""
        tokens = 0
        async for item in services.orchestrator.stream(chat):
            if isinstance(item, str):
                first = first or time.perf_counter() - t0
            elif isinstance(item, Answer):
                text, tokens = item.text, item.usage.completion_tokens
        return first or 0.0, time.perf_counter() - t0, text, tokens

    asyncio.run(once())  # warm-up
    llama = getattr(services.llm, "_llama", None)
    print(f"\n## Grounded answer, local default LLM ({runs} runs each)")
    for label, cold in (("cold prompt (KV cache reset)", True), ("repeated prompt", False)):
        results = []
        for _ in range(runs):
            if cold and llama is not None:
                llama.reset()  # no prefix reuse: the whole prompt is evaluated
            results.append(asyncio.run(once()))
        ttft = [r[0] * 1000 for r in results]
        total = [r[1] * 1000 for r in results]
        print(f"{label}: answer {results[0][2].strip()!r} ({results[0][3]} tokens)")
        print(f"  time to first token: p50 {pct(ttft, 50):.0f} ms, p95 {pct(ttft, 95):.0f} ms")
        print(f"  total latency: p50 {pct(total, 50):.0f} ms, p95 {pct(total, 95):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", choices=["retrieval", "ingestion", "answer"])
    parser.add_argument("--ef-construction", type=int, help="default: the project's setting")
    parser.add_argument("--m", type=int, help="HNSW max neighbours; default: the project's setting")
    parser.add_argument(
        "--ef-search", type=int, nargs="*", default=[50, 100, 200, 400], help="values to sweep"
    )
    args = parser.parse_args()

    from pydantic import SecretStr

    from assistant.config import Settings

    print(f"corpus: {corpus.SOURCE}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(storage={"data_dir": Path(tmp)}, api={"api_keys": [SecretStr("x")]})
        if args.ef_construction:
            settings.retrieval.hnsw_construction_ef = args.ef_construction
        if args.m:
            settings.retrieval.hnsw_m = args.m
        if args.only in (None, "retrieval"):
            bench_retrieval(args.chunks, args.queries, settings, tuple(args.ef_search))
        if args.only in (None, "ingestion"):
            bench_ingestion(settings)
        if args.only in (None, "answer"):
            bench_answer(settings)


if __name__ == "__main__":
    main()
