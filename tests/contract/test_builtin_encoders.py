"""Every built-in encoder passes the contract; the example third-party plugin is discovered
through the same entry-point group."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from encoder_contract import EncoderContract

from assistant.plugins import Encoder
from assistant.plugins.registry import Registry, build_registry

pytestmark = [pytest.mark.contract]
ROOT = Path(__file__).resolve().parents[2]


def test_builtin_plugins_are_discovered_through_entry_points() -> None:
    reg = build_registry(allow=["whisper", "vision", "video"])
    assert {"whisper", "vision", "video"} <= set(reg.encoders)
    assert reg.encoder_for("audio/mpeg").name == "whisper"
    assert reg.encoder_for("image/webp").name == "vision"
    assert reg.encoder_for("video/quicktime").name == "video"
    assert reg.encoders["whisper"].queue == "cpu.audio"
    described = reg.describe()
    assert {p["name"] for p in described["plugins"]} >= {"whisper", "vision", "video"}  # type: ignore[index]


@pytest.mark.models
class TestWhisperContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder:
        from plugins.whisper import WhisperEncoder

        return WhisperEncoder(model="tiny.en", backend="faster-whisper", model_path="")


@pytest.mark.models
class TestVisionContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder:
        from plugins.vision import VisionEncoder

        return VisionEncoder(clip_model="")


@pytest.mark.models
class TestVideoContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder:
        from plugins.video import VideoEncoder

        return VideoEncoder()


# --- the third-party example -------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_installed() -> Iterator[None]:
    """Install examples/hello_plugin into this venv (unless the Makefile did) and remove it
    afterwards if we installed it."""
    try:
        importlib.metadata.distribution("assistant-hello-plugin")
        installed_here = False
    except importlib.metadata.PackageNotFoundError:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                str(ROOT / "examples" / "hello_plugin"),
            ],
            check=True,
            timeout=300,
        )
        installed_here = True
    importlib.invalidate_caches()
    yield
    if installed_here:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "-q", "-y", "assistant-hello-plugin"],
            check=True,
            timeout=120,
        )


@pytest.mark.slow
def test_third_party_plugin_is_discovered_through_entry_points(hello_installed: None) -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="assistant.plugins")}
    assert "hello" in names
    reg = build_registry(allow=["hello"])
    assert set(reg.encoders) == {"hello"}  # the allowlist keeps the others out
    assert reg.plugin_of["hello"] == "hello"
    assert reg.encoder_for("text/plain").name == "hello"


@pytest.mark.slow
class TestHelloContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls, hello_installed: None) -> Encoder:
        reg = Registry()
        reg.load_entry_points(allow=["hello"])
        return reg.encoders["hello"]
