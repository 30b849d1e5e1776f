"""Generations of the local model stopped when they loop (llm/loops.py; not a timed test).

    .venv/bin/python bench/bench_loops.py [--span 48] [--verbose]

Open requests a chat assistant gets (no sources: a joke, a summary, a list, a story, code), each
answered by the packaged SmolLM2-135M at temperature 0 up to the default 256 tokens, with the
loop stop and without it (the baseline, in the same run): tokens generated, time to the last
token, which answers the stop cut, and whether the answers before the cut are the same (the
stop may only shorten an answer, never change it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REQUESTS = [
    "Tell me a joke.",
    "Summarise our conversation.",
    "Write a haiku about the sea.",
    "List ten fruits.",
    "How do I reverse a list in Python?",
    "Write a short story about a robot who learns to paint.",
    "What is 12 times 7?",
    "Give me three tips for better sleep.",
    "Translate 'good morning' into French, Spanish and German.",
    "Explain photosynthesis to a child.",
    "Write a limerick about a cat.",
    "What are the days of the week?",
    "Repeat after me: hello.",
    "Describe your favourite colour.",
]


def run(span: int) -> list[dict[str, Any]]:
    from langchain_core.messages import HumanMessage, SystemMessage

    from assistant import metrics
    from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf

    model = LlamaCppChat(model_path=str(packaged_gguf()), loop_stop_tokens=span, model_name="b")
    model.load()
    stopped = metrics.LLM_LOOPS_STOPPED.labels("b")
    out = []
    for request in REQUESTS:
        before = stopped._value.get()
        started = time.perf_counter()
        answer = model.invoke(
            [SystemMessage("You are a helpful assistant."), HumanMessage(request)]
        )
        usage = answer.usage_metadata or {"output_tokens": 0}
        out.append(
            {
                "text": answer.text,
                "tokens": usage["output_tokens"],
                "seconds": time.perf_counter() - started,
                "stopped": stopped._value.get() > before,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--span", type=int, default=48, help="llm.loop_stop_tokens")
    parser.add_argument("--verbose", action="store_true", help="print the answers it cut")
    args = parser.parse_args()
    free, guarded = run(0), run(args.span)
    cut = [i for i, g in enumerate(guarded) if g["stopped"]]
    same = all(f["text"].startswith(g["text"]) for f, g in zip(free, guarded, strict=True))
    if args.verbose:
        for i in cut:
            print(f"  cut {REQUESTS[i]!r} after {guarded[i]['tokens']} tokens (free: "
                  f"{free[i]['tokens']}): ...{guarded[i]['text'][-80:]!r}")  # fmt: skip
    print("\n| | tokens, all requests | time to last token p50 | p95 / max | answers cut |")
    print("|---|---|---|---|---|")
    for name, rows in (("no loop stop (baseline)", free), (f"loop stop at {args.span}", guarded)):
        seconds = sorted(r["seconds"] for r in rows)
        print(
            f"| {name} | {sum(r['tokens'] for r in rows)} | {statistics.median(seconds):.2f} s | "
            f"{seconds[int(0.95 * (len(seconds) - 1))]:.2f} / {seconds[-1]:.2f} s | "
            f"{sum(r['stopped'] for r in rows)}/{len(rows)} |"
        )
    total_free = sum(r["seconds"] for r in free)
    total_guarded = sum(r["seconds"] for r in guarded)
    whole = [i for i in range(len(REQUESTS)) if i not in cut]

    def per_token(rows: list[dict[str, Any]]) -> float:  # the check's own cost, uncut answers
        return 1000 * sum(rows[i]["seconds"] for i in whole) / sum(rows[i]["tokens"] for i in whole)

    print(
        f"\ntotal time x{total_guarded / total_free:.2f} of the baseline; answers the same up "
        f"to the cut: {same}; answers not cut, ms per token: {per_token(free):.1f} without "
        f"the check, {per_token(guarded):.1f} with it"
    )


if __name__ == "__main__":
    main()
