"""Training the exhaustive baseline: cache every slide's tile features once, then fit the MIL head.

The encoder is frozen, so a slide's features never change while it trains: they are computed once
into ``RUN/cache/<slide_id>.safetensors`` (features + level-0 coords), keyed by the slide file (path,
size, mtime), the tiling and a fingerprint of the encoder's weights. Epochs then run on in-memory bags
(one slide per step) and never re-read a slide; a rerun or ``--resume`` reuses the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset

from pathfocus.devices import cpu_threads, pick_device
from pathfocus.errors import InputError, SlideError
from pathfocus.fileio import atomic_path, write_json
from pathfocus.inference.mil import TileSettings, encode_slide
from pathfocus.models.mil import DEFAULT_ENCODER, ExhaustiveMIL, FrozenTileEncoder, GatedAttentionMIL
from pathfocus.runs import METRICS_FILE, save_run_model
from pathfocus.training.metrics import classification_metrics
from pathfocus.training.patch import BestWeights
from pathfocus.training.slide_data import (
    class_names_from_labels,
    load_or_make_splits,
    read_slide_labels,
    subset_table,
)
from pathfocus.training.trainer import TrainerOptions, build_trainer, resume_checkpoint

CACHE_DIR = "cache"
log = logging.getLogger(__name__)


@dataclass
class MILTrainConfig:
    """Everything ``train mil`` needs; saved into ``config.json`` for provenance."""

    slides_csv: str
    splits_csv: str | None = None
    encoder: str = DEFAULT_ENCODER
    encoder_input_size: int = 64
    pretrained: bool = False
    weights: str | None = None
    tiles: TileSettings = field(default_factory=TileSettings)
    hidden_dim: int = 128
    attention_dim: int = 64
    dropout: float = 0.25
    max_train_instances: int | None = 512  # random subset per bag and step: cheap augmentation
    lr: float = 5e-4
    weight_decay: float = 1e-4
    seed: int = 0
    trainer: TrainerOptions = field(default_factory=lambda: TrainerOptions(max_epochs=40, patience=10))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Bag:
    """One slide's cached tile features and its label index."""

    slide_id: str
    features: torch.Tensor  # (N, D) float32
    coords: torch.Tensor  # (N, 2) int64, level-0 top-left (x, y)
    label: int


# -- feature cache -------------------------------------------------------------------------------------
def encoder_fingerprint(encoder: FrozenTileEncoder) -> str:
    """A short hash of the encoder's name, input size and weights: features depend on all three."""
    digest = hashlib.sha1(f"{encoder.name}|{encoder.input_size}".encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_key(slide_path: str | os.PathLike[str], settings: TileSettings, fingerprint: str) -> str:
    """What the cached features of a slide depend on (a changed slide file or tiling invalidates them)."""
    path = Path(slide_path).resolve()
    stat = path.stat()
    return json.dumps({"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "tile_size": settings.tile_size, "mpp": settings.mpp,
                       "min_tissue": settings.min_tissue, "encoder": fingerprint}, sort_keys=True)


def cached_features(cache_dir: Path, slide_id: str, slide_path: str, encoder: FrozenTileEncoder,
                    settings: TileSettings, fingerprint: str,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, coords)`` of one slide: from the cache when its key matches, else computed and stored."""
    path = cache_dir / f"{slide_id}.safetensors"
    key = cache_key(slide_path, settings, fingerprint)
    stored = _read_cache(path, key)
    if stored is not None:
        return stored
    tiles = encode_slide(slide_path, encoder, settings, device)
    coords = torch.from_numpy(np.ascontiguousarray(tiles.grid.coords, dtype=np.int64))
    features = tiles.features.contiguous()
    with atomic_path(path) as tmp:
        save_file({"features": features, "coords": coords}, str(tmp), metadata={"key": key})
    log.debug("cached %d tiles of %s", len(coords), slide_id)
    return features, coords


def _read_cache(path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            if (handle.metadata() or {}).get("key") != key:
                return None
            return handle.get_tensor("features"), handle.get_tensor("coords")
    except (SafetensorError, OSError) as error:
        log.warning("ignoring unreadable feature cache %s (%s); recomputing it", path, error)
        return None


def build_bags(labels: pd.DataFrame, class_names: list[str], encoder: FrozenTileEncoder,
               settings: TileSettings, cache_dir: Path, device: torch.device,
               progress: bool = True) -> tuple[dict[str, Bag], list[dict[str, str]]]:
    """Bags of every readable slide in ``labels``; unreadable or tissue-free slides are skipped and listed."""
    from rich.progress import Progress

    fingerprint = encoder_fingerprint(encoder)
    bags: dict[str, Bag] = {}
    skipped: list[dict[str, str]] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("tile features", total=len(labels))
        for row in labels.itertuples(index=False):
            slide_id = str(row.slide_id)
            try:
                features, coords = cached_features(cache_dir, slide_id, str(row.path), encoder, settings,
                                                   fingerprint, device)
            except (SlideError, OSError) as error:
                log.warning("skipping slide %s: %s", row.path, error)
                skipped.append({"slide_id": slide_id, "path": str(row.path), "error": str(error)})
            else:
                bags[slide_id] = Bag(slide_id, features, coords, class_names.index(str(row.label)))
            bar.advance(task)
    return bags, skipped


# -- Lightning data and task ---------------------------------------------------------------------------
class BagDataset(Dataset):
    """In-memory bags; ``max_instances`` draws a random subset of tiles per access (training only)."""

    def __init__(self, bags: list[Bag], max_instances: int | None = None, seed: int = 0) -> None:
        self.bags = bags
        self.max_instances = max_instances
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        bag = self.bags[index]
        features = bag.features
        if self.max_instances is not None and len(features) > self.max_instances:
            chosen = torch.randperm(len(features), generator=self.generator)[: self.max_instances]
            features = features[chosen]
        return features, torch.tensor(bag.label)


class BagDataModule(pl.LightningDataModule):
    """Train/val/test bags, one slide per batch (bags differ in size)."""

    def __init__(self, subsets: dict[str, list[Bag]], max_train_instances: int | None, seed: int) -> None:
        super().__init__()
        self.subsets = subsets
        self.max_train_instances = max_train_instances
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        dataset = BagDataset(self.subsets["train"], self.max_train_instances, self.seed)
        order = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_size=1, shuffle=True, generator=order)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(BagDataset(self.subsets["val"]), batch_size=1)


class MILTask(pl.LightningModule):
    """Cross-entropy on slide logits of the gated-attention head (the encoder is not part of training)."""

    def __init__(self, model: GatedAttentionMIL, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        features, label = batch
        logits = self.model(features[0]).logits.unsqueeze(0)
        loss = torch.nn.functional.cross_entropy(logits, label)
        correct = (logits.argmax(dim=1) == label).float().mean()
        self.log(f"{stage}_loss", loss, on_epoch=True, on_step=False, batch_size=1, prog_bar=True)
        self.log(f"{stage}_acc", correct, on_epoch=True, on_step=False, batch_size=1, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


# -- the `train mil` entry point -----------------------------------------------------------------------
def train_mil(config: MILTrainConfig, run_dir: str | os.PathLike[str],
              resume: bool = False) -> dict[str, Any]:
    """Cache features, train the head, write the run folder; returns the summary written to metrics.json."""
    from pathfocus.training.weights import load_backbone_weights

    run = Path(run_dir)
    started = time.perf_counter()
    labels = read_slide_labels(config.slides_csv)
    class_names = class_names_from_labels(labels["label"])
    if len(class_names) < 2:
        msg = f"{config.slides_csv} has a single label ({class_names}); a classifier needs two or more"
        raise InputError(msg)
    splits = load_or_make_splits(run, labels, config.splits_csv, seed=config.seed)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    encoder = FrozenTileEncoder(config.encoder, input_size=config.encoder_input_size,
                                pretrained=config.pretrained)
    if config.weights:
        load_backbone_weights(encoder.backbone, config.weights)
    device = pick_device(None)
    bags, skipped = build_bags(labels, class_names, encoder, config.tiles, run / CACHE_DIR, device,
                               progress=config.trainer.progress)
    encoder.cpu()
    extraction_seconds = time.perf_counter() - started
    subsets = {name: [bags[s] for s in subset_table(labels, splits, name)["slide_id"] if s in bags]
               for name in ("train", "val", "test")}
    if not subsets["train"] or not subsets["val"]:
        msg = (f"the splits of {config.slides_csv} leave {len(subsets['train'])} train and "
               f"{len(subsets['val'])} val slides with tissue; the MIL baseline needs both (add slides or "
               "pass --splits)")
        raise InputError(msg)

    # NOTE: reseed so the head starts the same whether the features were just computed or came from the
    # cache (DataLoader workers draw from the global generator while tiles are read).
    pl.seed_everything(config.seed, workers=True, verbose=False)
    head = GatedAttentionMIL(encoder.num_features, len(class_names), hidden_dim=config.hidden_dim,
                             attention_dim=config.attention_dim, dropout=config.dropout)
    task = MILTask(head, lr=config.lr, weight_decay=config.weight_decay)
    best = BestWeights(monitor=config.trainer.monitor, mode=config.trainer.mode)
    trainer = build_trainer(run, config.trainer)
    trainer.callbacks.append(best)
    data = BagDataModule(subsets, config.max_train_instances, config.seed)
    with cpu_threads(device, 1):  # one small bag per step: more threads only spin
        trainer.fit(task, datamodule=data, ckpt_path=resume_checkpoint(run, resume))
    if not trainer.is_global_zero:
        return {}
    if best.state is not None:
        head.load_state_dict(best.state)
    save_run_model(run, ExhaustiveMIL(encoder, head), run_config(config, class_names, encoder))
    test = predict_bags(head, subsets["test"], class_names)
    summary = {
        "kind": "mil",
        **test,
        "n_slides": len(subsets["test"]),
        "n_train": len(subsets["train"]),
        "n_val": len(subsets["val"]),
        "n_test": len(subsets["test"]),
        "best_epoch": best.best_epoch,
        "epochs_run": trainer.current_epoch,
        "best_val": best.best_metrics,
        "n_skipped": len(skipped),
        "skipped": skipped,
        "tiles_per_slide": float(np.median([len(bag.features) for bag in bags.values()])) if bags else 0.0,
        "feature_seconds": round(extraction_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "device": device.type,
    }
    write_json(run / METRICS_FILE, summary)
    return summary


def predict_bags(head: GatedAttentionMIL, bags: list[Bag], class_names: list[str]) -> dict[str, Any]:
    """Held-out metrics of ``head`` on cached bags (``pathfocus evaluate`` re-reads the slides instead)."""
    if not bags:
        return {"class_names": class_names}
    head.eval()
    with torch.inference_mode():
        probabilities = np.stack([torch.softmax(head(bag.features).logits, -1).numpy() for bag in bags])
    return classification_metrics([bag.label for bag in bags], probabilities, class_names)


def run_config(config: MILTrainConfig, class_names: list[str], encoder: FrozenTileEncoder) -> dict[str, Any]:
    """The ``config.json`` of a mil run: how to rebuild the model and which tiles it reads."""
    return {
        "kind": "mil",
        "class_names": class_names,
        "slides_csv": str(Path(config.slides_csv).resolve()),
        "encoder": {"name": config.encoder, "input_size": config.encoder_input_size,
                    "num_features": encoder.num_features, "pretrained": config.pretrained,
                    "weights": config.weights},
        "head": {"hidden_dim": config.hidden_dim, "attention_dim": config.attention_dim,
                 "dropout": config.dropout},
        "tiles": asdict(config.tiles),
        "training": config.to_dict(),
    }
