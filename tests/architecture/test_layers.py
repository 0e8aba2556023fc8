"""The package's layers import downwards only (docs/design.md, section 2), imports inside functions included.

The contracts live in pyproject.toml (``[tool.importlinter]``); import-linter builds the import graph of
the installed package and checks them.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "pathfocus"
MAX_MODULE_LINES = 400


def test_import_contracts_are_kept() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def _shadowed_stdlib_modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.rglob("*.py")
                  if path.stem in sys.stdlib_module_names and path.stem != "__init__")


def test_no_module_is_named_after_a_standard_library_module() -> None:
    assert _shadowed_stdlib_modules() == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES, "split it by concept (docs/design.md)"


def test_library_code_does_not_print() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
                    and "noqa: T201" not in lines[node.lineno - 1]):  # a script's own output, marked so
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
