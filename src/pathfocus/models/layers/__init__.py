"""KFDE building blocks, one concept per file: ``cfe`` (channel gating), ``sfe`` (spatial energy),
``csfe`` (the two in sequence), ``mfdf`` (multi-scale dynamic fusion)."""

from pathfocus.models.layers.cfe import CFE
from pathfocus.models.layers.csfe import CSFE
from pathfocus.models.layers.mfdf import MFDF
from pathfocus.models.layers.sfe import SFE

__all__ = ["CFE", "CSFE", "MFDF", "SFE"]
