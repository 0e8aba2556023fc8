"""SEW training data: cached thumbnail graphs per slide and cached detail subgraphs per visited window.

The thumbnail graph of a slide never changes, so it is built once into ``RUN/cache`` (safetensors,
keyed by the slide file and the graph settings). Which windows are read depends on the focus predictor,
which moves while it learns; each window read is kept in memory and on disk keyed by slide and window,
so later epochs (and a resumed run) re-read and re-SLIC only windows never seen before.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset

from pathfocus.engines.sew.graphs import (
    DetailGraph,
    NodeEmbedder,
    ThumbnailGraph,
    build_thumbnail_graph,
    read_detail_graph,
    region_window,
)
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import PathfocusError
from pathfocus.fileio import atomic_path
from pathfocus.slide.reader import Slide, open_slide
from pathfocus.training.samplers import loader
from pathfocus.units import Region

CACHE_DIR = "cache"
log = logging.getLogger(__name__)


def _file_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]


class ThumbnailCache:
    """Thumbnail graphs of slides, built on first use and kept under ``cache_dir``."""

    def __init__(self, cache_dir: Path, reading: SEWReading) -> None:
        self.dir = cache_dir / f"thumbnails-{reading.thumbnail_key()}"
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


class DetailCache:
    """Detail subgraphs of windows by (slide, window), in memory and under ``cache_dir``."""

    def __init__(self, cache_dir: Path, reading: SEWReading, embedder: NodeEmbedder | None = None) -> None:
        self.dir = cache_dir / f"detail-{reading.detail_key()}"
        self.reading = reading
        self.embedder = embedder
        self.memory: dict[tuple[str, int, int, int], DetailGraph] = {}
        self.slides: dict[str, Slide] = {}
        self.reads = 0
        self.hits = 0

    def get(self, path: Path, graph: ThumbnailGraph, region: Region) -> DetailGraph:
        key = (graph.slide_id, region.x, region.y, region.w)
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        file = self.dir / graph.slide_id / f"{region.x}_{region.y}_{region.w}.safetensors"
        if file.is_file():
            tensors = load_file(str(file))
            detail = DetailGraph(region, tensors["x"], tensors["edge_index"], int(tensors["pixels"]))
            self.hits += 1
        else:
            slide = self.slides.get(str(path))
            if slide is None:
                slide = self.slides[str(path)] = open_slide(path)
            detail = read_detail_graph(slide, graph, region, self.reading, self.embedder)
            file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(file) as tmp:
                save_file({"x": detail.x.contiguous(), "edge_index": detail.edge_index.contiguous(),
                           "pixels": torch.tensor(detail.pixels_read)}, str(tmp))
            self.reads += 1
        self.memory[key] = detail
        return detail

    def close(self) -> None:
        for slide in self.slides.values():
            slide.close()
        self.slides.clear()


class SlideGraphDataset(Dataset):
    """Item i: the index of slide i (the graphs live in :attr:`graphs`, the collate keeps them).

    ``pools`` are the candidate nodes per slide that training may send to the detail branch.
    """

    def __init__(self, table: pd.DataFrame, graphs: list[ThumbnailGraph], class_names: list[str],
                 pool_size: int = 0, seed: int = 0) -> None:
        self.paths = [Path(p) for p in table["path"]]
        self.slide_ids = [str(s) for s in table["slide_id"]]
        self.targets = [class_names.index(str(label)) for label in table["label"]]
        self.graphs = graphs
        self.pools = [candidate_pool(graph, pool_size, seed) for graph in graphs]

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> int:
        return index


class SlideBatch:
    """A batch of slides of different graph sizes (what :func:`collate_slides` makes)."""

    def __init__(self, dataset: SlideGraphDataset, indices: list[int]) -> None:
        self.indices = indices
        self.graphs = [dataset.graphs[i] for i in indices]
        self.paths = [dataset.paths[i] for i in indices]
        self.targets = torch.tensor([dataset.targets[i] for i in indices], dtype=torch.long)
        self.pools = [dataset.pools[i] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class SlideCollate:
    """Collate slide indices into a :class:`SlideBatch` (graphs of different sizes stay separate)."""

    def __init__(self, dataset: SlideGraphDataset) -> None:
        self.dataset = dataset

    def __call__(self, indices: list[int]) -> SlideBatch:
        return SlideBatch(self.dataset, list(indices))


def build_graphs(table: pd.DataFrame, cache: ThumbnailCache,
                 progress: bool = True) -> tuple[pd.DataFrame, list[ThumbnailGraph], list[str]]:
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


def candidate_pool(graph: ThumbnailGraph, size: int, seed: int = 0) -> torch.Tensor:
    """``size`` nodes of a slide (all when ``size`` is 0 or the slide has fewer), sorted.

    Half are the most diverse nodes in colour (farthest-point sampling over the standardised node
    features): a lesion covering a few percent of the tissue looks unlike the rest and would rarely be
    drawn at random, yet training can only learn to focus on regions it has seen magnified. The other
    half are random, so ordinary tissue is seen too. Seeded by the slide id (resume gets the same pools).
    """
    n = int(graph.x.shape[0])
    if size <= 0 or size >= n:
        return torch.arange(n)
    digest = int(hashlib.sha1(f"{graph.slide_id}|{seed}".encode()).hexdigest()[:8], 16)
    generator = torch.Generator().manual_seed(digest)
    features = graph.x.float()
    features = (features - features.mean(0)) / features.std(0).clamp(min=1e-6)
    chosen = [int(torch.randint(n, (1,), generator=generator))]
    distance = torch.cdist(features, features[chosen]).squeeze(1)
    for _ in range(size // 2 - 1):
        chosen.append(int(distance.argmax()))
        distance = torch.minimum(distance, torch.cdist(features, features[chosen[-1:]]).squeeze(1))
    rest = torch.tensor([i for i in range(n) if i not in set(chosen)])
    extra = rest[torch.randperm(len(rest), generator=generator)[:size - len(chosen)]]
    return torch.sort(torch.cat([torch.tensor(chosen), extra])).values


def prefetch_pools(datasets: list[SlideGraphDataset], details: DetailCache, reading: SEWReading,
                   progress: bool = True, rank: int = 0, world: int = 1) -> int:
    """Read this process's share (``rank::world``) of every candidate window of every slide once, so
    epochs only hit the cache (memory, or disk for the windows other processes read); return the count."""
    from rich.progress import track

    jobs = [(path, graph, int(node)) for dataset in datasets
            for path, graph, pool in zip(dataset.paths, dataset.graphs, dataset.pools, strict=True)
            for node in pool][rank::world]
    steps: Any = track(jobs, description="detail windows", transient=True) if progress and rank == 0 else jobs
    for path, graph, node in steps:
        details.get(path, graph, region_window(graph.anchors[node], graph, reading))
    return len(jobs)


class SEWDataModule(pl.LightningDataModule):
    """Train and val slides; :meth:`setup` prefetches the candidate windows, split across DDP processes."""

    def __init__(self, datasets: dict[str, SlideGraphDataset], details: DetailCache, reading: SEWReading,
                 batch_size: int, seed: int, prefetch: bool, progress: bool = True) -> None:
        super().__init__()
        self.datasets = datasets
        self.details = details
        self.reading = reading
        self.batch_size = batch_size
        self.seed = seed
        self.prefetch = prefetch
        self.progress = progress
        self.prefetched = False

    def setup(self, stage: str | None = None) -> None:
        if self.prefetched or not self.prefetch:
            return
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        prefetch_pools(list(self.datasets.values()), self.details, self.reading, self.progress, rank, world)
        if trainer is not None and world > 1:
            trainer.strategy.barrier()
        self.prefetched = True

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def _loader(self, name: str, train: bool) -> DataLoader:
        dataset = self.datasets[name]
        return loader(dataset, self.trainer, train, self.seed, batch_size=self.batch_size,
                      collate_fn=SlideCollate(dataset), num_workers=0, drop_last=False)
