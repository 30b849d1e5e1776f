"""The decoder sandbox: untrusted bytes are decoded in other processes, with the same answers as
in-process decoding, a memory and a time limit, and a lost decoder costs only its own file."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from assistant.config import MediaLimits
from assistant.errors import PayloadTooLarge, UnprocessableMedia
from assistant.media import validate_media
from assistant.media.documents import extract_sections
from assistant.media.sandbox import DecoderPool
from tests.support import media as mf
from tests.support.procs import alive, wait_for

pytestmark = [pytest.mark.unit, pytest.mark.security]


@pytest.fixture
def pool() -> Iterator[DecoderPool]:
    decoders = DecoderPool(MediaLimits(decoder_processes=1))
    yield decoders
    decoders.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mf.save_image(mf.photo("coffee"), tmp_path_factory.mktemp("sandbox") / "coffee.png")


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 megapixels: within the pixel limit, 60 MB once decoded."""
    path = tmp_path_factory.mktemp("sandbox") / "big.png"
    Image.new("RGB", (5000, 4000), (10, 200, 30)).save(path)
    return path


def test_answers_what_in_process_validation_answers_from_another_process(
    pool: DecoderPool, photo: Path, tmp_path: Path
) -> None:
    assert pool.validate(photo, "image/png", name="coffee.png") == validate_media(
        photo, "image/png", name="coffee.png"
    )
    [pid] = pool.pids()
    assert pid != os.getpid()
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        assert b"assistant.media.decoder" in cmdline.read()
    truncated = mf.truncated(photo, tmp_path / "cut.png")
    with pytest.raises(UnprocessableMedia) as sandboxed:
        pool.validate(truncated, "image/png", name="cut.png")
    with pytest.raises(UnprocessableMedia) as local:
        validate_media(truncated, "image/png", name="cut.png")
    assert sandboxed.value.message == local.value.message
    with pytest.raises(PayloadTooLarge, match="megapixels"):
        pool.validate(photo, "image/png", MediaLimits(max_image_pixels=1000), name="coffee.png")


def test_a_file_over_the_memory_limit_is_refused_and_the_next_is_answered(
    big_png: Path, photo: Path
) -> None:
    decoders = DecoderPool(MediaLimits(decoder_processes=1, decoder_memory_mb=32))
    try:
        with pytest.raises(UnprocessableMedia, match=r"big\.png needs more memory"):
            decoders.validate(big_png, "image/png", name="big.png")
        assert decoders.validate(photo, "image/png", name="coffee.png").width == 600
    finally:
        decoders.close()


def test_a_file_past_the_time_limit_is_refused_and_its_decoder_killed(
    pool: DecoderPool, big_png: Path, photo: Path
) -> None:
    pool.warm()
    [pid] = pool.pids()
    hurried = MediaLimits(decoder_timeout_s=0.001)
    with pytest.raises(UnprocessableMedia, match=r"big\.png takes longer than 0\.001 s"):
        pool.validate(big_png, "image/png", hurried, name="big.png")
    assert not alive(pid)
    assert pool.validate(photo, "image/png", name="coffee.png").width == 600
    assert pool.pids() != [pid]


def test_a_decoder_killed_between_files_is_replaced_without_failing_the_next(
    pool: DecoderPool, photo: Path
) -> None:
    pool.warm()
    [pid] = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid))
    assert pool.validate(photo, "image/png", name="coffee.png").height == 400
    assert pool.pids() and pool.pids() != [pid]


def test_a_decoder_lost_on_a_file_fails_only_that_file(pool: DecoderPool, photo: Path) -> None:
    pool.warm()
    [pid] = pool.pids()
    slow = b"<html><body>" + b"<p><b>word</b> more</p>" * 400_000 + b"</body></html>"
    failure: list[BaseException] = []

    def parse() -> None:
        try:
            pool.sections(slow, "text/html", "slow.html")
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=parse)
    worker.start()
    time.sleep(0.5)  # the parse of 9 MB of HTML takes seconds
    os.kill(pid, signal.SIGKILL)
    worker.join(30)
    [error] = failure
    assert isinstance(error, UnprocessableMedia)
    assert "slow.html could not be decoded: it crashed the decoder" in error.message
    assert pool.validate(photo, "image/png", name="coffee.png").width == 600


def test_a_decoder_is_replaced_after_its_files(photo: Path) -> None:
    decoders = DecoderPool(MediaLimits(decoder_processes=1, decoder_max_files=2))
    try:
        decoders.validate(photo, "image/png", name="a.png")
        [first] = decoders.pids()
        decoders.validate(photo, "image/png", name="b.png")
        assert decoders.pids() == []  # retired after its second file
        wait_for(lambda: not alive(first))
        decoders.validate(photo, "image/png", name="c.png")
        assert decoders.pids() not in ([], [first])
    finally:
        decoders.close()


def test_documents_and_streams_are_read_in_the_sandbox(pool: DecoderPool, tmp_path: Path) -> None:
    html = b"<html><head><title>Notes</title></head><body>Tea <script>x()</script>at five</body>"
    assert pool.sections(html, "text/html", "n.html") == extract_sections(
        html, "text/html", "n.html"
    )
    [page] = pool.sections(mf.pdf_bytes("The meeting is on Tuesday."), "application/pdf", "m.pdf")
    assert "Tuesday" in page.text and page.metadata == {"page": 1}
    with pytest.raises(PayloadTooLarge, match="PDF objects; the limit is 1"):
        pool.sections(mf.pdf_bytes(), "application/pdf", "m.pdf", MediaLimits(max_pdf_objects=1))
    assert pool.probe_streams(mf.mp4_bytes(tmp_path)) == (True, False)
    assert pool.probe_streams(b"\x00\x00\x00\x18ftypmp42 not a real container") is None
