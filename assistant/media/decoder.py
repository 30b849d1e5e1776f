"""The decoder process (``python -m assistant.media.decoder``): where the API's untrusted bytes
are parsed. One JSON request per line on stdin, one JSON answer per line on stdout.

It loads its decoders (PyAV, Pillow, pypdf, BeautifulSoup) first, then limits itself: address
space to what it has plus ``--memory-mb``, no files written, no core dumps. A file that needs more
memory than that fails in this process (a ``MemoryError`` or a decoder's error: a 422); one that
crashes the decoder or runs past the time limit costs only this process, which the API replaces
(``assistant.media.sandbox``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import resource
import sys
from pathlib import Path
from typing import Any

from assistant.config import MediaLimits
from assistant.errors import AssistantError
from assistant.media.documents import extract_sections
from assistant.media.sniff import probe_streams
from assistant.media.validate import check_pdf_file, validate_media


def _load_decoders() -> None:
    import av
    import bs4  # noqa: F401
    import PIL.Image
    import pypdf  # noqa: F401

    av.logging.set_level(None)  # libav's complaints about hostile files are not ours to print
    PIL.Image.init()


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - Linux has it


def _limit_self(memory_mb: int) -> None:
    limit = _address_space() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it reads files; it never writes one
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def handle(request: dict[str, Any]) -> Any:
    """One request's answer (``validate``, ``probe`` or ``sections``); raises what it finds."""
    op, path, name = request["op"], Path(request["path"]), request.get("name") or "the file"
    limits = MediaLimits.model_validate(request.get("limits") or {})
    if op == "validate":
        info = validate_media(
            path,
            request["media_type"],
            limits,
            name=name,
            plugin_types=request.get("plugin_types") or (),
        )
        return dataclasses.asdict(info)
    if op == "probe":
        streams = probe_streams(path)
        return None if streams is None else list(streams)
    if op == "sections":
        media_type = request["media_type"]
        if media_type == "application/pdf":  # page and object bombs, by the settings
            check_pdf_file(path, name, limits)
        sections = extract_sections(path.read_bytes(), media_type, name)
        return [[s.text, s.metadata] for s in sections]
    raise ValueError(f"unknown decoder operation {op!r}")


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer: ``{"ok": ...}`` or ``{"error": {"type", "message"}}``."""
    name = request.get("name") or "the file"
    try:
        return {"ok": handle(request)}
    except AssistantError as exc:
        return {"error": {"type": type(exc).__name__, "message": exc.message}}
    except MemoryError:
        message = f"{name} needs more memory to decode than the limit allows"
        return {"error": {"type": "UnprocessableMedia", "message": message}}
    except Exception as exc:  # hostile files make decoders raise anything
        message = f"{name} could not be decoded ({type(exc).__name__})"
        return {"error": {"type": "UnprocessableMedia", "message": message}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    replies = sys.stdout.buffer
    sys.stdout = sys.stderr  # a library's print must not corrupt the replies
    _load_decoders()
    _limit_self(args.memory_mb)
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line))
        except ValueError as exc:  # a malformed request line: say so, stay up
            reply = {"error": {"type": "InvalidRequest", "message": str(exc)}}
        with contextlib.suppress(BrokenPipeError):
            replies.write(json.dumps(reply).encode() + b"\n")
            replies.flush()


if __name__ == "__main__":
    main()
