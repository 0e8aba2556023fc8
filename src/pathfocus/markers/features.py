"""Region features of a cohort: the table every marker statistic starts from.

One row per region (a focused region of SEW, or any tissue region): which slide it came from, where
it lies in level-0 pixels ``(x, y, w, h)``, its focus and lesion scores and a feature vector. SEW's
``extract_region_features`` returns a :class:`RegionFeatures`; a plain table with the columns
``slide_id, x, y, w, h, focus, lesion, f0, f1, ...`` (e.g. a CSV written by another tool) is accepted
too, so markers can be discovered from any feature extractor.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pathfocus.errors import InputError

BOX_COLUMNS = ("x", "y", "w", "h")
META_COLUMNS = ("slide_id", *BOX_COLUMNS, "focus", "lesion")
_FEATURE_COLUMN = re.compile(r"^f(\d+)$")


@dataclass
class RegionFeatures:
    """Regions of many slides with their level-0 boxes, scores and feature vectors.

    Attributes:
        slide_ids: N slide identifiers (one per region).
        boxes: N x 4 level-0 ``(x, y, w, h)`` in pixels.
        focus: N focus scores (how strongly the focus predictor chose the region).
        lesion: N lesion scores (the detail branch's lesion probability for the region).
        features: N x D feature vectors.
        crops: optional N x h x w x 3 uint8 thumbnails of the regions, for the prototype gallery.
    """

    slide_ids: np.ndarray
    boxes: np.ndarray
    focus: np.ndarray
    lesion: np.ndarray
    features: np.ndarray
    crops: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.slide_ids = np.asarray(self.slide_ids, dtype=object).astype(str)
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.focus = np.asarray(self.focus, dtype=np.float64).reshape(-1)
        self.lesion = np.asarray(self.lesion, dtype=np.float64).reshape(-1)
        self.features = np.asarray(self.features, dtype=np.float64)
        if self.features.ndim != 2:
            self.features = self.features.reshape(len(self.slide_ids), -1)
        if self.crops is not None:
            self.crops = np.asarray(self.crops)
        n = len(self.slide_ids)
        sizes = {"boxes": len(self.boxes), "focus": len(self.focus), "lesion": len(self.lesion),
                 "features": len(self.features)}
        if self.crops is not None:
            sizes["crops"] = len(self.crops)
        wrong = {name: size for name, size in sizes.items() if size != n}
        if wrong:
            msg = f"region features disagree on the number of regions: {n} slide ids but {wrong}"
            raise InputError(msg)
        if not np.isfinite(self.features).all():
            msg = "region features contain NaN or infinite values; re-extract them from the run"
            raise InputError(msg)

    def __len__(self) -> int:
        return len(self.slide_ids)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def centres(self) -> np.ndarray:
        """N x 2 level-0 ``(x, y)`` centres of the regions."""
        return self.boxes[:, :2] + self.boxes[:, 2:] / 2.0

    def subset(self, mask: np.ndarray) -> RegionFeatures:
        """The regions selected by a boolean mask or an index array."""
        return RegionFeatures(self.slide_ids[mask], self.boxes[mask], self.focus[mask], self.lesion[mask],
                              self.features[mask], None if self.crops is None else self.crops[mask])

    def to_frame(self) -> pd.DataFrame:
        """A table ``slide_id, x, y, w, h, focus, lesion, f0..f{D-1}`` (crops are not included)."""
        frame = pd.DataFrame({"slide_id": self.slide_ids})
        for index, name in enumerate(BOX_COLUMNS):
            frame[name] = self.boxes[:, index]
        frame["focus"] = self.focus
        frame["lesion"] = self.lesion
        values = pd.DataFrame(self.features, columns=[f"f{i}" for i in range(self.n_features)])
        return pd.concat([frame, values], axis=1)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "the region-feature table") -> RegionFeatures:
        """Build from a table with ``slide_id, x, y, w, h, focus, lesion, f0, f1, ...`` columns."""
        missing = [name for name in META_COLUMNS if name not in frame.columns]
        if missing:
            msg = (f"{source} lacks the columns {missing}; it needs slide_id, x, y, w, h (level-0 pixels), "
                   "focus, lesion and feature columns f0, f1, ...")
            raise InputError(msg)
        feature_columns = sorted((c for c in frame.columns if _FEATURE_COLUMN.match(str(c))),
                                 key=lambda c: int(_FEATURE_COLUMN.match(str(c)).group(1)))
        if not feature_columns:
            msg = f"{source} has no feature columns; name them f0, f1, ... (one per feature dimension)"
            raise InputError(msg)
        if frame.empty:
            msg = f"{source} holds no regions; extract features from at least one slide"
            raise InputError(msg)
        numeric = [*BOX_COLUMNS, "focus", "lesion", *feature_columns]
        try:
            values = frame[numeric].astype(np.float64)
        except (TypeError, ValueError) as error:
            msg = f"{source} has non-numeric values in its box, score or feature columns ({error})"
            raise InputError(msg) from error
        if values.isna().any().any():
            bad = values.columns[values.isna().any()].tolist()
            msg = f"{source} has empty cells in the columns {bad[:5]}; fill or drop those regions"
            raise InputError(msg)
        return cls(
            slide_ids=frame["slide_id"].astype(str).to_numpy(),
            boxes=values[list(BOX_COLUMNS)].to_numpy(),
            focus=values["focus"].to_numpy(),
            lesion=values["lesion"].to_numpy(),
            features=values[feature_columns].to_numpy(),
        )

    @classmethod
    def concat(cls, parts: Sequence[RegionFeatures]) -> RegionFeatures:
        """Join the regions of several extractions (e.g. one per slide); crops kept only if all have them."""
        if not parts:
            msg = "no region features to join; extract features from at least one slide"
            raise InputError(msg)
        widths = {part.n_features for part in parts}
        if len(widths) > 1:
            msg = f"region features of different widths {sorted(widths)} cannot be joined"
            raise InputError(msg)
        crops = None
        if all(part.crops is not None for part in parts):
            crops = np.concatenate([part.crops for part in parts])
        return cls(np.concatenate([p.slide_ids for p in parts]), np.concatenate([p.boxes for p in parts]),
                   np.concatenate([p.focus for p in parts]), np.concatenate([p.lesion for p in parts]),
                   np.concatenate([p.features for p in parts]), crops)


def as_region_features(value: RegionFeatures | pd.DataFrame,
                       source: str = "the region features") -> RegionFeatures:
    """Accept either a :class:`RegionFeatures` or a plain table with the documented columns."""
    if isinstance(value, RegionFeatures):
        return value
    if isinstance(value, pd.DataFrame):
        return RegionFeatures.from_frame(value, source)
    msg = f"{source} must be a RegionFeatures or a DataFrame, not {type(value).__name__}"
    raise InputError(msg)


def read_region_features(path: str | os.PathLike[str]) -> RegionFeatures:
    """Read a region-feature CSV (``slide_id, x, y, w, h, focus, lesion, f0, ...``)."""
    file = Path(path)
    if not file.is_file():
        msg = (f"region-feature file {file} does not exist; pass a CSV with slide_id, x, y, w, h, focus, "
               "lesion, f0, f1, ...")
        raise InputError(msg)
    try:
        frame = pd.read_csv(file, dtype={"slide_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        msg = f"{file} is not a readable CSV ({error}); pass a comma-separated region-feature table"
        raise InputError(msg) from error
    return RegionFeatures.from_frame(frame, str(file))
