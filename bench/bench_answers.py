"""Grounded questions answered right by the local default model (not a timed test).

    .venv/bin/python bench/bench_answers.py [--variants default top_k=2 top_k=6]

The corpus is five short documents of different kinds (``bench/answers/*.md``: a product
sheet, a travel policy, an invoice, a tenancy agreement, software release notes) and 34
questions (``bench/answers/questions.json``, over the first three): short factual ones,
follow-ups whose subject is only in the conversation ("And how much does it weigh?"), and
questions the documents cannot answer, where "I don't know" is right. A follow-up
is asked after its first question and the model's own answer to it; only the follow-up is
scored. An answer is right when it contains one of the expected strings (as a word), none of the
question's rejected ones (the other value its sentence gives: "180 euros in most cities and 250
euros in London" answered "London is 180 euros and Paris 250" names both), does not say it
does not know and, unless the question is a yes-or-no one, does not deny what it names ("Orbit
3.2 does not require Python 3.11"); an unanswerable question is right when the answer says so.

Each variant is a set of settings (``name=value`` of ``retrieval.*``, ``llm.name=value``, or
``default``), run over the same questions in the same run: accuracy per group, whether the
expected document was the top source, whether an expected answer is in the prompt the model
reads (the compression kept its sentence; "!" after a miss when not), prompt tokens and time to
first token (the answer streamed). ``--questions held-out.json`` asks 28 other questions over
the first three documents, written after the rounds that tuned on ``questions.json``;
``--questions fresh.json`` 27 over the last two, written (with them) before the round that
first measured it; ``--questions fresh-2.json`` 26 over all five, written after that round's
changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

CORPUS = Path(__file__).resolve().parent / "answers"
TENANT = "bench"
DONT_KNOW = re.compile(
    r"(don'?t|do not|doesn'?t|does not|cannot|can'?t|am not able to) (know|say|find|answer|"
    r"mention|specify|provide)|not (mentioned|specified|stated|provided|given|included|available"
    r"|listed)|no (information|mention|details)",
    re.IGNORECASE,
)


# an answer that denies what it names ("Orbit 3.2 does not require Python 3.11") answers no
# question but a yes-or-no one
NEGATED = re.compile(
    r"\b(does not|doesn'?t|do not|don'?t|is not|isn'?t|are not|aren'?t|cannot|can'?t)\b",
    re.IGNORECASE,
)
YES_OR_NO = {"yes", "no", "not"}


def says_dont_know(text: str) -> bool:
    return bool(DONT_KNOW.search(text))


def _holds(text: str, value: str) -> bool:
    return bool(re.search(rf"(?<![\w.,]){re.escape(value)}(?![\w]|[.,]\d)", text, re.IGNORECASE))


def right(text: str, expect: list[str] | None, reject: list[str] | None = None) -> bool:
    if expect is None:
        return says_dont_know(text)
    if says_dont_know(text) or any(_holds(text, r) for r in reject or []):
        return False
    if not {e.lower() for e in expect} & YES_OR_NO and NEGATED.search(text):
        return False
    return any(_holds(text, e) for e in expect)


def group(case: dict[str, Any]) -> str:
    if case["expect"] is None:
        return "unanswerable"
    return "follow-up" if len(case["ask"]) > 1 else "factual"


def settings_for(variant: str, data_dir: Path) -> Any:
    from pydantic import SecretStr

    from assistant.config import Settings

    retrieval: dict[str, str] = {}
    llm: dict[str, str] = {}
    for pair in variant.split(",") if variant != "default" else []:
        name, value = pair.split("=", 1)
        # "llm.name=value" sets an llm.* setting; a bare name is retrieval's
        section, _, field = name.rpartition(".")
        (llm if section == "llm" else retrieval)[field] = value
    # the values are read as the settings read ASSISTANT_* variables (validated, converted)
    return Settings(
        storage={"data_dir": data_dir},
        api={"api_keys": [SecretStr("x")]},
        retrieval=retrieval,
        llm=llm,
    )


async def ask(services: Any, case: dict[str, Any]) -> dict[str, Any]:
    from assistant.orchestrator import Answer, ChatInput, ChatTurn

    turns: list[ChatTurn] = []
    for question in case["ask"][:-1]:  # the conversation so far, with the model's own answers
        turns.append(ChatTurn("user", question))
        earlier = await services.orchestrator.answer(ChatInput(tenant=TENANT, messages=turns))
        turns.append(ChatTurn("assistant", earlier.text))
    turns.append(ChatTurn("user", case["ask"][-1]))
    chat = ChatInput(tenant=TENANT, messages=turns)
    started, first, answer = time.perf_counter(), None, None
    prepared = await services.orchestrator.prepare(chat)
    # the sources as the model reads them (cut to their sentences), not the earlier turns
    read = str(prepared.messages[-1].content) if prepared.messages else ""
    async for item in services.orchestrator.stream(chat, prepared):
        if isinstance(item, str):
            first = first or time.perf_counter() - started
        elif isinstance(item, Answer):
            answer = item
    assert answer is not None
    top = answer.citations[0].source if answer.citations else ""
    return {
        "text": answer.text.strip(),
        "right": right(answer.text, case["expect"], case.get("reject")),
        "top_source": bool(case.get("source")) and top.endswith(case.get("source", "")),
        "in_prompt": any(_holds(read, e) for e in case["expect"] or []),
        "flagged": bool(answer.unsupported),
        "prompt_tokens": answer.usage.prompt_tokens,
        "ttft": first or time.perf_counter() - started,
    }


def run_variant(variant: str, cases: list[dict[str, Any]], verbose: bool) -> dict[str, Any]:
    from assistant.services import Services

    with tempfile.TemporaryDirectory() as tmp:
        services = Services.build(settings_for(variant, Path(tmp)))
        for path in sorted(CORPUS.glob("*.md")):
            services.ingestor.ingest_bytes(TENANT, path.name, path.read_bytes())
        services.warm_up()

        async def all_cases() -> list[dict[str, Any]]:
            return [await ask(services, case) for case in cases]

        results = asyncio.run(all_cases())
    by_group: dict[str, list[bool]] = {}
    for case, result in zip(cases, results, strict=True):
        by_group.setdefault(group(case), []).append(result["right"])
        if verbose:
            mark = "ok  " if result["right"] else "MISS"
            mark += " " if result["in_prompt"] or case["expect"] is None else "!"
            flag = " [flagged]" if result["flagged"] else ""
            print(f"  {mark} {case['ask'][-1]!r} -> {result['text'][:110]!r}{flag}")
    answerable = [r for c, r in zip(cases, results, strict=True) if c["expect"] is not None]
    return {
        "variant": variant,
        "right": sum(r["right"] for r in results),
        "total": len(results),
        "groups": {g: f"{sum(v)}/{len(v)}" for g, v in by_group.items()},
        "top_source": f"{sum(r['top_source'] for r in answerable)}/{len(answerable)}",
        "in_prompt": f"{sum(r['in_prompt'] for r in answerable)}/{len(answerable)}",
        # answers with the note naming what the sources do not hold, right ones among them
        "flagged": f"{sum(r['flagged'] for r in results)} "
        f"({sum(r['flagged'] and r['right'] for r in results)} right)",
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in results),
        "ttft_p50_ms": statistics.median(r["ttft"] for r in results) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="*", default=["default"])
    parser.add_argument("--verbose", action="store_true", help="print every answer")
    parser.add_argument(
        "--questions",
        default="questions.json",
        help="the question file in bench/answers (held-out.json: never tuned on)",
    )
    args = parser.parse_args()
    cases = json.loads((CORPUS / args.questions).read_text())
    rows = []
    for variant in args.variants:
        print(f"## {variant}")
        rows.append(run_variant(variant, cases, args.verbose))
    print("\n| variant | right | factual | follow-up | unanswerable | flagged | top source "
          "| answer in prompt | prompt tokens p50 | TTFT p50 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["groups"]
        print(
            f"| {r['variant']} | {r['right']}/{r['total']} | {g.get('factual')} | "
            f"{g.get('follow-up')} | {g.get('unanswerable')} | {r['flagged']} | {r['top_source']} | "
            f"{r['in_prompt']} | "
            f"{r['prompt_tokens']:.0f} | {r['ttft_p50_ms']:.0f} ms |"
        )


if __name__ == "__main__":
    main()
