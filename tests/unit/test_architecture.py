"""The house rules, checked on the source: import direction, no cycles, small modules.

The imports are read with ``ast`` (every import statement, at module level or inside a
function, except those under ``if TYPE_CHECKING:``), so a rule cannot be dodged by moving an
import into a function. ``lint-imports`` (import-linter, configured in pyproject.toml) checks
the layer contracts on the same code.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("assistant", "plugins", "workers")
MAX_LINES = 450
# project imports that may run inside a function, each with the reason it must
DEFERRED_ALLOWED = {
    # slack_bolt is the optional 'bots' extra: the route imports the bot on its first event
    ("assistant.bots.slack_route", "assistant.bots.slack"),
    # `assistant slack --socket` / `assistant discord` need the optional 'bots' extra
    ("assistant.cli", "assistant.bots.slack"),
    ("assistant.cli", "assistant.bots.discord_bot"),
    # importing the tasks builds the workers' Celery app from the environment and connects the
    # worker signals: only when a worker really starts, never for `assistant --help`
    ("workers.cli", "workers.tasks"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


MODULES = {module_name(p): p for p in source_files()}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """Project modules an import statement loads (``from a import b`` is ``a.b`` if a module)."""
    targets: list[str] = []
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.append(sub if sub in MODULES else base)
    out = []
    for target in targets:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target.split(".")[0] in PACKAGES:
            out.append(target)
    return out


def imports_of(module: str) -> Iterator[tuple[str, bool]]:
    """(imported project module, deferred into a function?) for every import statement."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _resolve(module, child, is_package):
                    yield target, in_function
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from walk(child, inner)

    yield from walk(tree, False)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _ in imports_of(module):
            if target != module:
                edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_core_never_imports_the_worker_package() -> None:
    offenders = [
        f"{m} imports {t}"
        for m in MODULES
        if m.split(".")[0] == "assistant"
        for t, _ in imports_of(m)
        if t.split(".")[0] == "workers"
    ]
    assert offenders == []


def test_use_cases_do_not_import_the_adapters() -> None:
    """api/ and bots/ are adapters over the core: nothing below them imports them."""
    adapters = ("assistant.api", "assistant.bots", "assistant.cli")
    offenders = [
        f"{m} imports {t}"
        for m in MODULES
        if m.startswith("assistant.") and not m.startswith(adapters)
        for t, _ in imports_of(m)
        if t.startswith(adapters)
    ]
    assert offenders == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_project_imports_are_not_deferred_into_functions() -> None:
    deferred = {(m, t) for m in MODULES for t, in_function in imports_of(m) if in_function}
    assert deferred - DEFERRED_ALLOWED == set()


SIZED = sorted([*source_files(), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])


@pytest.mark.parametrize("path", SIZED, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_import_contracts_hold() -> None:
    """import-linter's contracts from pyproject.toml (indirect imports included)."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "lint-imports (import-linter) is a dev dependency"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
