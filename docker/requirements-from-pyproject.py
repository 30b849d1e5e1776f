"""Print the project's dependencies (and chosen extras) from pyproject.toml, one per line.

Used by docker/Dockerfile to install dependencies in a layer of their own, before the
sources are copied, so code changes do not re-run the slow installs.

    python requirements-from-pyproject.py pyproject.toml [extra1,extra2]
"""

import sys
import tomllib


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"
    extras = [e.strip() for e in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if e.strip()]
    with open(path, "rb") as fh:
        project = tomllib.load(fh)["project"]
    lines = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            sys.exit(f"pyproject.toml has no optional dependency group {extra!r}")
        lines.extend(optional[extra])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
