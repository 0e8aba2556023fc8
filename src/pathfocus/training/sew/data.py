"""SEW training data: cached thumbnail graphs (with their candidate windows) and cached tile features.

The thumbnail graph of a slide never changes, so it is built once into the cache (safetensors, keyed by
the slide file and the graph settings). The encoder is frozen, so the features of every tissue tile are
computed once too, into the same tile-feature cache the exhaustive baseline uses (one encoding per slide
for both methods, split across DDP processes). Training then looks at any window at no reading cost:
that is what lets the focus predictor be calibrated on every candidate window while analysis reads k.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset

from pathfocus.data.annotations import find_annotation, read_lesion_mask
from pathfocus.engines.sew.graphs import ThumbnailGraph, build_thumbnail_graph
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.engines.tile_cache import TileFeatureCache, encode_cohort
from pathfocus.errors import InputError, PathfocusError
from pathfocus.fileio import atomic_path
from pathfocus.slide.reader import open_slide
from pathfocus.training.samplers import loader
from pathfocus.training.sew.novelty import window_features, window_novelty

CACHE_DIR = "cache"
UNKNOWN = -1  # a window without an annotation label
log = logging.getLogger(__name__)


def _file_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]


class ThumbnailCache:
    """Thumbnail graphs (and candidate windows) of slides, built on first use and kept under ``cache_dir``."""

    def __init__(self, cache_dir: Path, reading: SEWReading) -> None:
        self.dir = cache_dir / f"graphs-{reading.graph_key()}"
        self.reading = reading

    def get(self, slide_id: str, path: Path) -> ThumbnailGraph:
        file = self.dir / f"{slide_id}-{_file_key(path)}.safetensors"
        if file.is_file():
            return ThumbnailGraph.from_tensors(slide_id, load_file(str(file)))
        with open_slide(path) as slide:
            graph = build_thumbnail_graph(slide, self.reading)
        graph.slide_id = slide_id
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(file) as tmp:
            save_file({k: v.contiguous() for k, v in graph.tensors().items()}, str(tmp))
        return graph


def build_graphs(
    table: pd.DataFrame, cache: ThumbnailCache, progress: bool = True
) -> tuple[pd.DataFrame, list[ThumbnailGraph], list[str]]:
    """Thumbnail graphs of the slides in ``table`` (cached); unreadable or blank slides are skipped.

    Returns the rows kept, their graphs and a one-line reason per skipped slide (logged as warnings).
    """
    from rich.progress import track

    rows: Any = list(table.itertuples(index=False))
    if progress:
        rows = track(rows, description="thumbnail graphs", transient=True)
    kept, graphs, skipped = [], [], []
    for row in rows:
        try:
            graphs.append(cache.get(str(row.slide_id), Path(row.path)))
        except PathfocusError as error:
            log.warning("skipping slide %s: %s", row.slide_id, error)
            skipped.append(f"{row.slide_id}: {error}")
            continue
        kept.append(row.slide_id)
    return table[table["slide_id"].isin(kept)].reset_index(drop=True), graphs, skipped


@dataclass
class SlideItem:
    """One training slide: its graph, its tiles' features (aligned with the windows' tiles), its label and
    (where annotated) the label of every window (``UNKNOWN`` elsewhere)."""

    slide_id: str
    target: int
    graph: ThumbnailGraph
    tiles: torch.Tensor  # T x D
    window_labels: torch.Tensor  # W
    novelty: torch.Tensor | None = None  # W, where pseudo-labels rank windows by novelty


class SlideItems(Dataset):
    def __init__(self, items: list[SlideItem]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> SlideItem:
        return self.items[index]


def collate_slides(items: list[SlideItem]) -> list[SlideItem]:
    """Slides stay a list: their graphs and windows differ in size."""
    return list(items)


class SEWDataModule(pl.LightningDataModule):
    """Train and val slides; :meth:`setup` encodes their tiles (once, split across DDP processes)."""

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        graphs: dict[str, list[ThumbnailGraph]],
        class_names: list[str],
        tiles: TileFeatureCache,
        batch_size: int,
        seed: int,
        annotations: str | None = None,
        normal_class: int = 0,
        progress: bool = True,
        novelty: bool = False,
    ) -> None:
        super().__init__()
        self.tables, self.graphs, self.class_names = tables, graphs, class_names
        self.tiles, self.batch_size, self.seed = tiles, batch_size, seed
        self.annotations, self.normal_class, self.progress = annotations, normal_class, progress
        self.novelty = novelty
        self.items: dict[str, list[SlideItem]] = {}
        self.feature_seconds = 0.0

    def setup(self, stage: str | None = None) -> None:
        if self.items:
            return
        started = time.perf_counter()
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        slides = [
            (str(row.slide_id), str(row.path))
            for name in ("train", "val")
            for row in self.tables[name].itertuples(index=False)
        ]
        found, skipped = encode_cohort(
            self.tiles, slides, rank, world, barrier=trainer.strategy.barrier if trainer is not None else None
        )
        if skipped:
            reasons = "; ".join(f"{s['slide_id']}: {s['error']}" for s in skipped[:3])
            msg = f"the tiles of {len(skipped)} slide(s) could not be encoded ({reasons})"
            raise InputError(msg)
        features = {f.slide_id: f for f in found}
        for name in ("train", "val"):
            self.items[name] = [
                self._item(row, graph, features[str(row.slide_id)])
                for row, graph in zip(
                    self.tables[name].itertuples(index=False), self.graphs[name], strict=True
                )
            ]
        if self.novelty:
            self._attach_novelty()
        self.feature_seconds = time.perf_counter() - started

    def _attach_novelty(self) -> None:
        """Window novelty against the lesion-free *training* slides' windows, for train and val slides."""
        items = self.items["train"] + self.items["val"]
        windows = [item.graph.windows for item in items]
        features = [
            window_features(item.tiles, torch.from_numpy(w.tile_window), len(w))
            for item, w in zip(items, windows, strict=True)
        ]
        references = [i < len(self.items["train"]) and item.target == self.normal_class
                      for i, item in enumerate(items)]
        if not any(references):
            log.warning(
                "no training slide is of the normal class %r, so window novelty has no references: the "
                "pseudo-labels are ranked by the detail branch's attention instead",
                self.class_names[self.normal_class],
            )
            return
        for item, novelty in zip(items, window_novelty(features, references, seed=self.seed), strict=True):
            item.novelty = novelty

    def _item(self, row: Any, graph: ThumbnailGraph, cached: Any) -> SlideItem:
        windows = graph.windows
        if not np.array_equal(cached.coords.numpy(), windows.tile_coords):
            msg = (
                f"the cached tiles of {row.slide_id} are not the tiles of its windows; clear the cache "
                "folder (tile settings and tissue detection must match)"
            )
            raise InputError(msg)
        target = self.class_names.index(str(row.label))
        labels = torch.full((len(windows),), UNKNOWN, dtype=torch.long)
        if self.annotations is not None:
            found = find_annotation(self.annotations, str(row.slide_id))
            if found is not None:
                lesion = read_lesion_mask(found, graph.slide_size, graph.slide_mpp).fraction(windows.boxes)
                label = target if target != self.normal_class else self.normal_class
                labels = torch.from_numpy(np.where(lesion >= 0.5, label, self.normal_class)).long()
        return SlideItem(str(row.slide_id), target, graph, cached.features.float(), labels)

    def train_dataloader(self) -> DataLoader:
        return loader(
            SlideItems(self.items["train"]),
            self.trainer,
            True,
            self.seed,
            batch_size=self.batch_size,
            collate_fn=collate_slides,
            num_workers=0,
        )

    def val_dataloader(self) -> DataLoader:
        return loader(
            SlideItems(self.items["val"]),
            self.trainer,
            False,
            batch_size=self.batch_size,
            collate_fn=collate_slides,
            num_workers=0,
        )
