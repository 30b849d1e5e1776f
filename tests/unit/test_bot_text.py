"""Pure parts of the bot adapters: message splitting, URL checks, citations, retries."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.bots.common import (
    DownloadRefused,
    TTLSet,
    check_url,
    download,
    format_sources,
    safe_filename,
    split_message,
    strip_mentions,
)
from assistant.orchestrator import Citation

pytestmark = pytest.mark.bots


def test_short_text_is_one_piece() -> None:
    assert split_message("  hello world  ", 2000) == ["hello world"]
    assert split_message("   ", 2000) == []


def test_splits_on_paragraphs_then_lines_then_words() -> None:
    para = "a" * 30 + "\n\n" + "b" * 30
    assert split_message(para, 40) == ["a" * 30, "b" * 30]
    lines = "a" * 30 + "\n" + "b" * 30
    assert split_message(lines, 40) == ["a" * 30, "b" * 30]
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    pieces = split_message(words, 40)
    assert all(len(p) <= 40 for p in pieces)
    assert " ".join(pieces) == words
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in pieces)


def test_a_word_longer_than_the_limit_is_cut() -> None:
    pieces = split_message("x" * 95, 40)
    assert [len(p) for p in pieces] == [40, 40, 15]


def test_code_blocks_are_closed_and_reopened() -> None:
    code = "```\n" + "\n".join(f"line {i}" for i in range(40)) + "\n```"
    pieces = split_message("Here:\n\n" + code, 120)
    assert len(pieces) > 2
    for piece in pieces:
        assert len(piece) <= 120
        assert piece.count("```") % 2 == 0, piece


def test_limit_must_be_sane() -> None:
    with pytest.raises(ValueError):
        split_message("x", 10)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from("abc xyz\n"), min_size=0, max_size=300), max_size=8),
    st.integers(min_value=40, max_value=400),
)
def test_pieces_fit_and_keep_every_word(parts: list[str], limit: int) -> None:
    text = "\n\n".join(parts)
    pieces = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


def test_check_url_allows_only_listed_hosts_over_https() -> None:
    hosts = ["files.slack.com"]
    check_url("https://files.slack.com/files-pri/T1-F1/download/a.png", hosts)
    for bad in (
        "http://files.slack.com/x",  # plain http
        "https://files.slack.com.evil.example/x",
        "https://evil.example/files.slack.com/x",
        "https://user:pw@files.slack.com/x",
        "file:///etc/passwd",
        "/relative/path",
    ):
        with pytest.raises(DownloadRefused):
            check_url(bad, hosts)
    check_url("http://127.0.0.1:9/x", ["127.0.0.1:9"], allow_http=True)
    with pytest.raises(DownloadRefused):
        check_url("http://127.0.0.1:10/x", ["127.0.0.1:9"], allow_http=True)


async def test_download_never_follows_a_redirect_off_the_allowed_hosts(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.headers.get('authorization')}")
        return httpx.Response(302, headers={"location": "https://evil.example/steal"})

    transport = httpx.MockTransport(handler)
    original = httpx.AsyncClient.__init__

    def patched(self: httpx.AsyncClient, *args: object, **kwargs: object) -> None:
        kwargs["transport"] = transport
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(httpx.AsyncClient, "__init__", patched)
        with pytest.raises(DownloadRefused, match=r"evil\.example"):
            await download(
                "https://files.slack.com/x.png",
                tmp_path / "x.png",
                allowed_hosts=["files.slack.com"],
                max_bytes=1000,
                headers={"Authorization": "Bearer xoxb-secret"},
            )
    assert seen == ["files.slack.com Bearer xoxb-secret"]


def test_ttl_set_remembers_then_forgets() -> None:
    s = TTLSet(ttl_s=60)
    assert s.add("ev1") is True
    assert s.add("ev1") is False
    assert "ev1" in s
    expired = TTLSet(ttl_s=0.0001)
    expired.add("ev2")
    import time

    time.sleep(0.01)
    assert expired.add("ev2") is True


def test_sources_are_formatted_per_platform() -> None:
    cites = [
        Citation(index=1, kind="document", source="kb/eiffel.md", chunk=0),
        Citation(index=2, kind="media", source="clip.mp4", start=72.0, end=80.5),
        Citation(index=3, kind="document", source="report.pdf", page=4),
    ]
    assert format_sources(cites) == (
        "*Sources:* [1] eiffel.md · [2] clip.mp4 01:12-01:20 · [3] report.pdf, p. 4"
    )
    assert format_sources(cites[:1], bold="**") == "**Sources:** [1] eiffel.md"
    assert format_sources([]) == ""


def test_mentions_and_file_names_are_cleaned() -> None:
    assert strip_mentions("<@U0BOT>  how tall is <@!123> it?") == "how tall is it?"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..") == "file"
    assert safe_filename("voice note (1).m4a") == "voice note _1_.m4a"
