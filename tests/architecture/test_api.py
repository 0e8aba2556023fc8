"""The public API: every name resolves, says what it does, and ``import pathfocus`` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pathfocus


@pytest.mark.parametrize("name", pathfocus.__all__)
def test_public_names_resolve_with_docstrings(name: str) -> None:
    value = getattr(pathfocus, name)
    assert (value.__doc__ or "").strip(), f"pathfocus.{name} has no docstring"
    assert name in dir(pathfocus)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        pathfocus.nothing_here  # noqa: B018


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    code = ("import sys, pathfocus; "
            "print(sorted(m for m in ('torch', 'timm', 'lightning') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_errors_are_pathfocus_errors() -> None:
    from pathfocus.errors import InputError, SlideError

    assert issubclass(InputError, pathfocus.PathfocusError)
    assert issubclass(SlideError, pathfocus.PathfocusError)
