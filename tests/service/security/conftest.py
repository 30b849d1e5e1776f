"""Security tests: hostile input, tenant isolation, limits, SSRF, audit (in-process apps)."""

from __future__ import annotations

import pytest

from tests.support.media import jpeg_bytes, mp4_bytes, pdf_bytes, png_bytes, wav_bytes


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("seeds")
    return {
        "png": png_bytes(),
        "jpeg": jpeg_bytes(),
        "wav": wav_bytes(),
        "mp4": mp4_bytes(tmp),
        "pdf": pdf_bytes(),
        "md": b"# Notes\n\nThe meeting is on Tuesday at noon.\n",
        "html": b"<!doctype html><html><body><p>Hello <b>world</b></p></body></html>",
    }
