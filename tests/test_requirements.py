"""Every third-party package the code imports directly is pinned in the project's requirements: the
bot's in requirements.txt, the tests', benchmark's and scripts' in requirements-test.txt. A package
that only arrives as another package's dependency can change or vanish under the code."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = {"app", "bench", "bot", "cards", "config", "dialogs", "domain", "graph", "sandbox", "scripts", "services",
       "storage", "tests"}


def _imports(paths: list[Path]) -> set[str]:
    """Dotted names of the third-party modules imported at any level of these files."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top not in OWN and top not in sys.stdlib_module_names and top != "__future__":
                    found.add(name)
    return found


@cache
def _owners() -> dict[str, set[str]]:
    """Module path (a/b/c) -> the distributions whose files hold it."""
    owners: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            parts = file.parts
            if parts and parts[-1].endswith(".py"):
                module = "/".join(parts)[:-3].removesuffix("/__init__")
                owners.setdefault(module, set()).add(_canonical(dist.metadata["Name"]))
    return owners


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(module: str) -> set[str]:
    """The distributions that provide `module` (its longest provided prefix)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        owners = _owners().get("/".join(parts[:end]))
        if owners:
            return owners
    return set()


def _pinned(requirements: Path) -> set[str]:
    pinned: set[str] = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            pinned |= _pinned(requirements.parent / line[3:].strip())
        elif line:
            assert "==" in line, f"{requirements.name}: {line} is not pinned"
            pinned.add(_canonical(line.split("==")[0].split("[")[0]))  # "psycopg[binary]==3.3.9": psycopg
    return pinned


def _unpinned(paths: list[Path], requirements: Path) -> dict[str, set[str]]:
    pinned = _pinned(requirements)
    missing = {}
    for module in sorted(_imports(paths)):
        owners = _distribution(module)
        assert owners, f"no installed distribution provides {module}"
        if not owners & pinned:
            missing[module] = owners
    return missing


def _files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts]


def test_the_bot_pins_every_package_it_imports() -> None:
    code = [ROOT / "app.py", ROOT / "config.py",
            *_files("bot", "cards", "dialogs", "domain", "graph", "sandbox", "services", "storage")]
    assert _unpinned(code, ROOT / "requirements.txt") == {}


def test_the_tests_benchmark_and_scripts_pin_every_package_they_import() -> None:
    assert _unpinned(_files("tests", "bench", "scripts"), ROOT / "requirements-test.txt") == {}
