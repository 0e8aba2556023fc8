"""pathfocus.models: pure nn.Modules (no I/O, no training losses).

``kfde`` holds the patch classifiers (``create_model``, ``MODEL_NAMES``); ``layers`` the KFDE building
blocks (CFE, SFE, CSFE, MFDF). The names below are imported lazily so that importing this package (e.g.
for the SEW or MIL models) does not pull in timm.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"create_model": "kfde", "build_model": "kfde", "MODEL_NAMES": "kfde", "ModelConfig": "kfde",
         "PatchClassifier": "kfde"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
