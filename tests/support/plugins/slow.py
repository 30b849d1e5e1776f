"""Test-only encoders, registered through ``workers.plugin_modules`` (never an entry point).

``slowtest`` (queue cpu.document): the file holds JSON {"id": ..., "seconds": ...}; it logs
"start"/"done" lines with its pid to $ASSISTANT_TEST_SLOW_LOG and sleeps in between, so a test
can kill its worker mid-task and count executions.
``echotest`` (queue cuda.document, consumed by no session worker): returns the file's text;
the text "bad" raises UnprocessableMedia (a 422 that must stay a 422); logs batch sizes.
``dualtest``: the same on either device (cpu.image, or cuda.image when configured so).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from assistant.errors import UnprocessableMedia
from assistant.plugins import Device, Encoder, Encoding, MediaItem, Modality, NoOptions, hookimpl

SLOW_TYPE = "application/x-slow-test"
ECHO_TYPE = "application/x-echo-test"
DUAL_TYPE = "application/x-dual-test"


def _log(line: str) -> None:
    path = os.environ.get("ASSISTANT_TEST_SLOW_LOG")
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


class SlowEncoder(Encoder[NoOptions]):
    name = "slowtest"
    version = "1"
    modality = Modality.DOCUMENT
    media_types = frozenset({SLOW_TYPE})
    default_batch_size = 1

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        out = []
        for item in items:
            spec = json.loads(item.path.read_text())
            _log(f"start {os.getpid()} {spec['id']}")
            time.sleep(float(spec["seconds"]))
            _log(f"done {os.getpid()} {spec['id']}")
            out.append(
                Encoding(
                    encoder=self.name,
                    version=self.version,
                    modality=self.modality,
                    text=f"slept {spec['seconds']} s",
                    metadata={"pid": os.getpid(), "id": spec["id"]},
                )
            )
        return out


class EchoEncoder(Encoder[NoOptions]):
    name = "echotest"
    version = "1"
    modality = Modality.DOCUMENT
    media_types = frozenset({ECHO_TYPE})
    devices = frozenset({Device.CUDA})
    needs_cuda_runtime = False  # routed to cuda.document; runs anywhere
    default_batch_size = 8

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        _log(f"batch {os.getpid()} {len(items)}")
        out = []
        for item in items:
            text = item.path.read_text()
            if text == "bad":
                raise UnprocessableMedia(f"{item.display_name} is bad on purpose")
            out.append(
                Encoding(
                    encoder=self.name,
                    version=self.version,
                    modality=self.modality,
                    text=text,
                    metadata={"pid": os.getpid()},
                )
            )
        return out


class DualEncoder(EchoEncoder):
    """Runs on either device, as configured (plugins.devices): a GPU-routing test encoder that
    needs no CUDA runtime. Queue cpu.image by default, cuda.image when configured for cuda."""

    name = "dualtest"
    modality = Modality.IMAGE
    media_types = frozenset({DUAL_TYPE})
    devices = frozenset({Device.CPU, Device.CUDA})
    batch_sizes = {Device.CUDA: 32}


@hookimpl
def register_encoders(register: Callable[[Encoder[NoOptions]], None]) -> None:
    register(SlowEncoder())
    register(EchoEncoder())
    register(DualEncoder())
