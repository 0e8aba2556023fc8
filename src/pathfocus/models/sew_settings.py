"""What the SEW network is: widths, depths, classes and which branches predict (a light settings module).

Kept apart from :mod:`pathfocus.models.sew` so the CLI can show defaults without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from pathfocus.errors import InputError

BRANCHES = ("both", "global", "detail")


@dataclass(frozen=True)
class SEWArchitecture:
    """What the SEW network is (widths, depths, classes); reading and training settings live elsewhere.

    ``global_features`` (thumbnail node features) and ``tile_features`` (the tile encoder's output) are set
    from the data actually built. ``normal_class`` is the lesion-free label (or lowest grade): a window's
    lesion score is one minus its probability of that class. ``branches`` selects what the slide
    prediction uses (ablations). ``slide_relative``: the global branch also sees node features
    standardised within the slide (runs saved before it existed load with it off).
    """

    num_classes: int = 2
    global_features: int = 9
    tile_features: int = 512
    hidden: int = 64
    gcn_layers: int = 2
    transformer_layers: int = 2
    heads: int = 4
    detail_hidden: int = 64
    window_layers: int = 1
    cross_layers: int = 1
    dropout: float = 0.2
    normal_class: int = 0
    branches: str = "both"
    slide_relative: bool = True

    def __post_init__(self) -> None:
        if self.branches not in BRANCHES:
            msg = f"branches must be one of {', '.join(BRANCHES)}, got {self.branches!r}"
            raise InputError(msg)
        if self.num_classes < 2 or self.global_features < 1 or self.tile_features < 1:
            msg = (f"SEW needs num_classes >= 2 and positive feature widths, got {self.num_classes}, "
                   f"{self.global_features}, {self.tile_features}")
            raise InputError(msg)
        if self.hidden % self.heads or self.detail_hidden % self.heads:
            msg = f"hidden sizes ({self.hidden}, {self.detail_hidden}) must divide by heads={self.heads}"
            raise InputError(msg)
        if not 0 <= self.normal_class < self.num_classes:
            msg = f"normal_class={self.normal_class} must be a class index below {self.num_classes}"
            raise InputError(msg)

    @property
    def uses_detail(self) -> bool:
        return self.branches != "global"

    @property
    def uses_global(self) -> bool:
        return self.branches != "detail"
