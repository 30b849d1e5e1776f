"""Static checks of docker/Dockerfile: hadolint, the targets and their bases, pinned torch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.deploy import DOCKER, DOCKERFILE, REPO, run_tool, tool_path

pytestmark = pytest.mark.deploy


# ---------------------------------------------------------------------------------------------
# Dockerfile


def test_hadolint() -> None:
    result = run_tool(
        tool_path("hadolint"), "--config", str(DOCKER / "hadolint.yaml"), str(DOCKERFILE)
    )
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (keyword, rest), with line continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert match and match.group(2), f"every stage is named: {line!r}"
            current = stages.setdefault(match.group(2), [])
            current.append(("FROM", match.group(1)))
        elif current is not None:
            current.append((keyword, rest.strip()))
    return stages


def _chain(stages: dict[str, list[tuple[str, str]]], name: str) -> Iterator[tuple[str, str]]:
    """Instructions that apply to stage `name`, its parent stages first."""
    base = stages[name][0][1]
    if base in stages:
        yield from _chain(stages, base)
    else:
        yield ("BASE", base)
    yield from stages[name][1:]


def _arg_defaults() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE.read_text(), re.MULTILINE))


@pytest.mark.parametrize(
    ("target", "base"),
    [("api", "python:3.11-slim"), ("worker-cpu", "python:3.11-slim"),
     ("worker-cuda", "nvidia/cuda:12.")],
)  # fmt: skip
def test_dockerfile_target(target: str, base: str) -> None:
    stages = _stages()
    assert target in stages
    chain = list(_chain(stages, target))
    image = chain[0][1]
    for arg, value in _arg_defaults().items():
        image = image.replace("${" + arg + "}", value)
    assert image.startswith(base), image
    if target == "worker-cuda":
        assert re.search(r"cudnn\d*-runtime-ubuntu22\.04$", image), image

    users = [rest for kw, rest in chain if kw == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "runs as a non-root user"
    assert any(kw == "HEALTHCHECK" for kw, _ in chain)
    assert any(kw == "CMD" for kw, _ in chain)
    env = " ".join(rest for kw, rest in chain if kw == "ENV")
    for var in ("PYTHONUNBUFFERED=1", "HF_HUB_OFFLINE=1"):
        assert var in env, var
    if target == "api":
        assert any(kw == "EXPOSE" and "8000" in rest for kw, rest in chain)
        health = next(rest for kw, rest in reversed(chain) if kw == "HEALTHCHECK")
        assert "127.0.0.1:8000/healthz" in health


def test_dockerfile_installs_pinned_torch_first() -> None:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    defaults = _arg_defaults()
    assert defaults["TORCH_VERSION"] == "2.13.0"
    assert defaults["TORCH_CPU_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert "rapidocr-onnxruntime==1.4.4" in text
    assert "pip install --no-deps rapidocr-onnxruntime" in text
    for stage in ("build-cpu", "build-cuda"):
        runs = [rest for kw, rest in _stages()[stage] if kw == "RUN" and "pip install" in rest]
        assert 'torch==${TORCH_VERSION}"' in runs[0], f"{stage}: torch is installed first"


def test_dockerignore_keeps_context_small() -> None:
    entries = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests", "**/__pycache__"} <= entries


def test_llama_cpp_is_built_portable_in_the_image_and_by_make() -> None:
    # a native build is tied to the build machine's CPU (and crashes on AMX CPUs)
    pin = re.search(r'"llama_cpp_python==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert pin, "pyproject pins llama_cpp_python"
    makefile = (REPO / "Makefile").read_text()
    assert f"LLAMA_VERSION := {pin.group(1)}\n" in makefile
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in makefile
    assert _arg_defaults()["LLAMA_CMAKE_ARGS"].strip('"') == "-DGGML_NATIVE=OFF"
