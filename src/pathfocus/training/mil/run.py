"""Training the exhaustive baseline: ``pathfocus train mil --slides labels.csv --out RUN``.

Every tissue tile of every slide is encoded once by the frozen encoder into the tile-feature cache
(``RUN/cache`` unless another is given; runs on the same slides and encoder may share one), then the
attention-MIL head trains on the cached bags. The run folder gets config.json (the resolved settings),
model.safetensors (encoder and head of the best validation epoch), training_summary.json, splits.csv,
logs/metrics.csv and checkpoints/last.ckpt.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from pathfocus.configs import to_dict
from pathfocus.data.slide_labels import class_names_from_labels, load_or_make_splits, read_slide_labels
from pathfocus.devices import cpu_threads, machine_summary, pick_device
from pathfocus.engines.encoders import encoder_record
from pathfocus.engines.tile_cache import TileFeatureCache
from pathfocus.errors import InputError
from pathfocus.fileio import write_json
from pathfocus.metrics import classification_metrics
from pathfocus.models.mil import ExhaustiveMIL, GatedAttentionMIL
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.runs import TRAINING_SUMMARY_FILE, save_run_model
from pathfocus.training.encoder.run import resolve_encoder
from pathfocus.training.mil.config import MILTrainConfig
from pathfocus.training.mil.task import Bag, BagDataModule, MILTask
from pathfocus.training.trainer import build_trainer, resume_checkpoint

CACHE_DIR = "cache"
log = logging.getLogger(__name__)


def train_mil(config: MILTrainConfig, run_dir: str | os.PathLike[str], resume: bool = False,
              progress: bool = True, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Cache features, train the head, write the run folder; returns the training summary."""
    run = Path(run_dir)
    started = time.perf_counter()
    training = config.training
    if not config.slides.slides_csv:
        msg = "train mil needs --slides labels.csv (or slides.slides_csv in --config)"
        raise InputError(msg)
    labels = read_slide_labels(config.slides.slides_csv)
    class_names = class_names_from_labels(labels["label"])
    if len(class_names) < 2:
        msg = f"{config.slides.slides_csv} has a single label ({class_names}); a classifier needs two or more"
        raise InputError(msg)
    splits = load_or_make_splits(run, labels, config.slides.splits_csv, seed=training.seed)
    pl.seed_everything(training.seed, workers=True, verbose=False)
    root = Path(cache_dir) if cache_dir else run / CACHE_DIR
    train_paths = list(labels.merge(splits, on="slide_id").query("subset == 'train'")["path"])
    encoder = resolve_encoder(config.encoder, train_paths, config.tiles, config.ssl, root, progress)
    device = pick_device(None)
    cache = TileFeatureCache(root, encoder, config.tiles, device)
    table = labels.merge(splits, on="slide_id")
    data = BagDataModule(table, class_names, cache, training.max_train_instances, training.seed, progress)
    # NOTE: reseed so the head starts the same whatever the encoder creation drew from the generator.
    pl.seed_everything(training.seed, workers=True, verbose=False)
    head = GatedAttentionMIL(encoder.num_features, len(class_names), hidden_dim=config.head.hidden_dim,
                             attention_dim=config.head.attention_dim, dropout=config.head.dropout)
    task = MILTask(head, class_names, lr=training.lr, weight_decay=training.weight_decay)
    checkpoint = resume_checkpoint(run, resume)
    trainer, best = build_trainer(run, training.trainer_options(progress), checkpoint)
    with cpu_threads(device, 1):  # one small bag per step: more threads only spin
        trainer.fit(task, datamodule=data, ckpt_path=checkpoint)
    if not trainer.is_global_zero:
        return {}
    best.restore(head)
    encoder.cpu()
    save_run_model(run, ExhaustiveMIL(encoder, head.cpu()), run_config(config, class_names, encoder))
    bags = [bag for subset in data.subsets.values() for bag in subset]
    summary = {
        "kind": "mil",
        **predict_bags(head, data.subsets["test"], class_names),
        "n_slides": len(data.subsets["test"]),
        **{f"n_{name}": len(subset) for name, subset in data.subsets.items()},
        "best_epoch": best.best_epoch,
        "epochs_run": trainer.current_epoch,
        "best_val": best.best_metrics,
        "n_skipped": len(data.skipped),
        "skipped": data.skipped,
        "tiles_per_slide": float(np.median([len(bag.features) for bag in bags])) if bags else 0.0,
        "feature_seconds": round(data.feature_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "machine": machine_summary(device),
        "tile_workers": config.tiles.workers,
        "encoder": encoder_record(encoder, config.encoder),
    }
    write_json(run / TRAINING_SUMMARY_FILE, summary)
    return summary


def predict_bags(head: GatedAttentionMIL, bags: list[Bag], class_names: list[str]) -> dict[str, Any]:
    """Held-out metrics of ``head`` on cached bags (``pathfocus evaluate`` re-reads the slides instead)."""
    if not bags:
        return {"class_names": class_names}
    head.eval()
    with torch.inference_mode():
        probabilities = np.stack([torch.softmax(head(bag.features).logits, -1).numpy() for bag in bags])
    return classification_metrics([bag.label for bag in bags], probabilities, class_names)


def run_config(config: MILTrainConfig, class_names: list[str], encoder: TileEncoder) -> dict[str, Any]:
    """The ``config.json`` of a mil run: how to rebuild the model and which tiles it reads."""
    resolved = to_dict(config)
    return {
        "kind": "mil",
        "class_names": class_names,
        "slides_csv": str(Path(config.slides.slides_csv).resolve()),
        "encoder": encoder_record(encoder, config.encoder),
        "encoder_settings": resolved["encoder"],
        "head": resolved["head"],
        "tiles": resolved["tiles"],
        "training": resolved,
    }
