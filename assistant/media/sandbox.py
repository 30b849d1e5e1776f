"""Untrusted bytes are decoded outside the API process: ``DecoderPool`` keeps a few decoder
processes (``assistant.media.decoder``) and sends each check, stream probe or document parse to
an idle one.

A decoder has a memory limit, a time limit per file, and is replaced after a number of files, so
what a hostile file costs is bounded and given back: a file that runs past the time limit or
kills its decoder gets a 422 naming it, and only its own decoder is lost. A decoder found dead
between files (killed from outside) is replaced and the file sent again. The methods block
(call them in a thread) and are safe from many threads at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

from assistant.config import MediaLimits
from assistant.errors import (
    AssistantError,
    InvalidRequest,
    PayloadTooLarge,
    ServiceUnavailable,
    UnprocessableMedia,
    UnsupportedMedia,
)
from assistant.media.documents import Section
from assistant.media.sniff import Source
from assistant.media.validate import MediaInfo

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[AssistantError]] = {
    cls.__name__: cls
    for cls in (PayloadTooLarge, UnprocessableMedia, UnsupportedMedia, InvalidRequest)
}
START_TIMEOUT_S = 60.0


class _Lost(Exception):
    """The decoder process is gone (``returncode``) or was killed for running too long."""

    def __init__(self, returncode: int | None, timed_out: bool = False) -> None:
        super().__init__(returncode)
        self.returncode, self.timed_out = returncode, timed_out


class _Decoder:
    """One decoder process and its pipes."""

    def __init__(self, memory_mb: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv of our own module, no shell
            [sys.executable, "-m", "assistant.media.decoder", "--memory-mb", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.files = 0
        self._buffer = b""
        # a pool dropped without close() (or the interpreter exiting) still ends its decoders
        self._finalizer = weakref.finalize(self, _end, self.proc)
        try:
            self._read_line(START_TIMEOUT_S)  # {"ready": true}: its decoders are loaded
        except _Lost:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_line(self, timeout: float) -> bytes:
        stdout: IO[bytes] = self.proc.stdout  # type: ignore[assignment]
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    self.kill()
                    raise _Lost(self.proc.returncode, timed_out=True)
                chunk = os.read(stdout.fileno(), 1 << 16)
                if not chunk:  # end of file: the process died
                    raise _Lost(self.proc.wait())
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        stdin: IO[bytes] = self.proc.stdin  # type: ignore[assignment]
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise _Lost(self.proc.wait()) from exc
        reply: dict[str, Any] = json.loads(self._read_line(timeout))
        self.files += 1
        return reply

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """End it (end of input: it leaves its loop; killed if it does not) and its pipes."""
        self._finalizer()


def _end(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            pipe.close()  # type: ignore[union-attr]
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


class DecoderPool:
    """Up to ``limits.decoder_processes`` decoder processes, started on demand."""

    def __init__(self, limits: MediaLimits) -> None:
        self.limits = limits
        self._idle: list[_Decoder] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.decoder_processes)
        self._closed = False

    # the operations ------------------------------------------------------------------------

    def validate(
        self,
        path: Path,
        media_type: str,
        limits: MediaLimits | None = None,
        *,
        name: str,
        plugin_types: Collection[str] = (),
    ) -> MediaInfo:
        """``validate_media`` in a decoder; the same answers and errors."""
        found = self._request(
            "validate",
            path,
            name,
            limits,
            media_type=media_type,
            plugin_types=sorted(plugin_types),
        )
        return MediaInfo(**found)

    def probe_streams(self, source: Source) -> tuple[bool, bool] | None:
        """``sniff.probe_streams`` in a decoder (a ``StreamProbe`` for ``Registry.sniff``)."""
        try:
            with _as_file(source) as path:
                found = self._request("probe", path, "the file")
        except UnprocessableMedia:  # it crashed or hung the prober: not a container we read
            return None
        return None if found is None else (bool(found[0]), bool(found[1]))

    def sections(
        self, data: bytes, media_type: str, name: str, limits: MediaLimits | None = None
    ) -> list[Section]:
        """A document's text (``extract_sections``, PDF bomb checks first) from a decoder."""
        with _as_file(data) as path:
            found = self._request("sections", path, name, limits, media_type=media_type)
        return [Section(text, metadata) for text, metadata in found]

    def warm(self) -> None:
        """Start one decoder now, so the first upload does not wait for it."""
        with self._slot() as decoder:
            del decoder

    def pids(self) -> list[int]:
        """The idle decoders' process ids."""
        with self._lock:
            return [d.pid for d in self._idle]

    def close(self) -> None:
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for decoder in idle:
            decoder.close()

    # the machinery -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _slot(self) -> Iterator[_Decoder]:
        """An idle decoder (started if none is) for one file; it goes back afterwards unless it
        was lost or has served its files."""
        with self._slots:
            with self._lock:
                decoder = self._idle.pop() if self._idle else None
            if decoder is not None and decoder.proc.poll() is not None:
                decoder.close()  # died while idle (killed from outside)
                decoder = None
            if decoder is None:
                decoder = self._start()
            keep = False
            try:
                yield decoder
                keep = decoder.proc.poll() is None
            finally:
                if keep and decoder.files < self.limits.decoder_max_files and not self._closed:
                    with self._lock:
                        self._idle.append(decoder)
                else:
                    decoder.close()

    def _start(self) -> _Decoder:
        try:
            return _Decoder(self.limits.decoder_memory_mb)
        except (_Lost, OSError) as exc:
            log.error("the media decoder did not start: %r", exc)
            raise ServiceUnavailable("the media decoder could not be started") from None

    def _request(
        self, op: str, path: Path, name: str, limits: MediaLimits | None = None, **fields: Any
    ) -> Any:
        limits = limits or self.limits
        request = {
            "op": op,
            "path": str(path),
            "name": name,
            "limits": limits.model_dump(mode="json"),
            **fields,
        }
        timeout = limits.decoder_timeout_s
        for attempt in (1, 2):
            with self._slot() as decoder:
                fresh = decoder.files == 0
                try:
                    reply = decoder.call(request, timeout)
                    break
                except _Lost as lost:
                    if lost.timed_out:
                        log.warning(
                            "decoder %s ran past %g s on %s: killed", decoder.pid, timeout, op
                        )
                        raise UnprocessableMedia(
                            f"{name} takes longer than {timeout:g} s to decode; it was refused"
                        ) from None
                    if fresh or attempt == 2:  # this file killed a new decoder: its own fault
                        log.warning(
                            "decoder %s died (status %s) on %s", decoder.pid, lost.returncode, op
                        )
                        raise UnprocessableMedia(
                            f"{name} could not be decoded: it crashed the decoder"
                        ) from None
                    # an idle decoder that died in the meantime: send the file to a new one
        error = reply.get("error")
        if error:
            raise _ERRORS.get(error["type"], UnprocessableMedia)(error["message"])
        return reply.get("ok")


@contextlib.contextmanager
def _as_file(source: Source) -> Iterator[Path]:
    """A path for the decoder to read: the file itself, or the bytes in a private temp file."""
    if isinstance(source, str | Path):
        yield Path(source)
        return
    with tempfile.NamedTemporaryFile(prefix="decode-") as staged:
        staged.write(bytes(source))
        staged.flush()
        yield Path(staged.name)
