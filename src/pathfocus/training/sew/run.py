"""Train SEW on a slide cohort: ``pathfocus train sew --slides labels.csv --out RUN``.

The encoder is resolved first (by default pretrained self-supervised on the training slides, shared with
any run on the same slides), then thumbnail graphs and tile features are built once into the cache
(``RUN/cache`` unless another is given: ablations and the baseline on the same slides may share one),
then Lightning trains :class:`~pathfocus.training.sew.task.SEWTask`. After training, the weight of the
global branch in the fused prediction is chosen on the validation slides. The run folder gets
config.json (the resolved settings and the encoder's record), model.safetensors (the best validation
epoch by ``val_slide_loss``, encoder included), training_summary.json, splits.csv, logs/metrics.csv and
checkpoints/last.ckpt (for ``--resume``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from pathfocus.configs import to_dict
from pathfocus.data.slide_labels import (
    class_names_from_labels,
    load_or_make_splits,
    read_slide_labels,
    subset_table,
)
from pathfocus.devices import cpu_threads, machine_summary, pick_device
from pathfocus.engines.encoders import encoder_record
from pathfocus.engines.sew.forward import sew_forward
from pathfocus.engines.sew.reading import GRAPH_VERSION
from pathfocus.engines.tile_cache import TileFeatureCache
from pathfocus.errors import InputError
from pathfocus.fileio import write_json
from pathfocus.models.sew import SEWModel
from pathfocus.runs import TRAINING_SUMMARY_FILE, save_run_model
from pathfocus.training.encoder.run import resolve_encoder
from pathfocus.training.sew.config import SEWTrainConfig
from pathfocus.training.sew.data import CACHE_DIR, SEWDataModule, SlideItem, ThumbnailCache, build_graphs
from pathfocus.training.sew.task import SEWTask
from pathfocus.training.trainer import build_trainer, resume_checkpoint

log = logging.getLogger(__name__)
GLOBAL_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def train_sew(
    config: SEWTrainConfig,
    out: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train on the train split of ``config.slides``, validate on val, write the run folder; return a
    summary."""
    with cpu_threads(pick_device(), 1):  # small graphs per step: more threads only spin
        return _train(config, Path(out), resume, progress, Path(cache_dir) if cache_dir else None)


def _train(
    config: SEWTrainConfig, run: Path, resume: bool, progress: bool, cache_dir: Path | None
) -> dict[str, Any]:
    start = time.perf_counter()
    training, reading = config.training, config.reading
    run.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(training.seed, workers=True, verbose=False)
    if not config.slides.slides_csv:
        msg = "train sew needs --slides labels.csv (or slides.slides_csv in --config)"
        raise InputError(msg)
    slides_csv = Path(config.slides.slides_csv)
    labels = read_slide_labels(slides_csv)
    class_names = class_names_from_labels(labels["label"])
    if len(class_names) < 2:
        msg = f"{slides_csv} holds a single class ({class_names[0]}); SEW needs at least two labels"
        raise InputError(msg)
    splits = load_or_make_splits(run, labels, config.slides.splits_csv, seed=training.seed)
    tables = {name: subset_table(labels, splits, name) for name in ("train", "val", "test")}
    if tables["train"].empty or tables["val"].empty:
        msg = (
            f"the splits of {slides_csv} leave {len(tables['train'])} training and {len(tables['val'])} "
            "validation slides; SEW needs both (add slides or pass --splits)"
        )
        raise InputError(msg)

    cache = cache_dir or run / CACHE_DIR
    thumbnails = ThumbnailCache(cache, reading)
    graphs, skipped = {}, []
    for name in ("train", "val"):
        tables[name], graphs[name], bad = build_graphs(tables[name], thumbnails, progress)
        skipped.extend(bad)
    if not graphs["train"] or not graphs["val"]:
        msg = f"no readable slides with tissue left to train or validate on ({'; '.join(skipped[:3])})"
        raise InputError(msg)
    encoder = resolve_encoder(
        config.encoder, list(tables["train"]["path"]), reading.tiles, config.ssl, cache, progress
    )
    device = pick_device()
    tile_cache = TileFeatureCache(cache, encoder.to(device), reading.tiles, device)
    architecture = replace(
        config.architecture,
        num_classes=len(class_names),
        global_features=int(graphs["train"][0].x.shape[1]),
        tile_features=encoder.num_features,
    )
    pl.seed_everything(training.seed, workers=True, verbose=False)
    model = SEWModel(architecture, encoder)
    data = SEWDataModule(
        {name: tables[name] for name in ("train", "val")},
        graphs,
        class_names,
        tile_cache,
        training.batch_size,
        training.seed,
        training.annotations,
        architecture.normal_class,
        progress,
        novelty=training.pseudo_source == "novelty",
    )
    task = SEWTask(model, reading, training, class_names)
    checkpoint = resume_checkpoint(run, resume)
    trainer, best = build_trainer(run, training.trainer_options(progress), checkpoint)
    trainer.fit(task, datamodule=data, ckpt_path=checkpoint)
    if not trainer.is_global_zero:
        return {}
    best.restore(model)
    if architecture.uses_global and architecture.uses_detail:
        model.global_weight.fill_(choose_global_weight(task, data.items["val"]))
    resolved = replace(config, architecture=architecture)
    record = encoder_record(encoder, config.encoder)
    config_json = run_config(resolved, class_names, slides_csv, record) | {"cache_dir": str(cache.resolve())}
    save_run_model(run, model, config_json)
    summary = {
        "kind": "sew",
        "epochs_run": int(trainer.current_epoch),
        "best_epoch": best.best_epoch,
        **{
            key: value
            for key, value in best.best_metrics.items()
            if key in ("val_slide_loss", "val_loss", "val_accuracy", "val_auc", "val_balanced_accuracy")
        },
        "global_weight": float(model.global_weight),
        "n_train": len(tables["train"]),
        "n_val": len(tables["val"]),
        "n_test": len(tables["test"]),
        "class_names": class_names,
        "n_skipped": len(skipped),
        "skipped": skipped,
        "encoder": record,
        "feature_seconds": round(data.feature_seconds, 2),
        "seconds": round(time.perf_counter() - start, 2),
        "machine": machine_summary(device),
    }
    write_json(run / TRAINING_SUMMARY_FILE, summary)
    return summary


@torch.no_grad()
def choose_global_weight(task: SEWTask, items: list[SlideItem]) -> float:
    """The weight of the global branch in the fused logits that minimises validation cross-entropy.

    A thumbnail that cannot tell the classes apart (its lesions look like other tissue there) gets weight
    0, one that can keeps its share; ties go to the more even mix.
    """
    model = task.model.eval()
    tokens = task.window_tokens(items)
    out = sew_forward(
        model, task.reading, [item.graph for item in items], lambda i, chosen: tokens[i][chosen]
    )
    targets = torch.tensor([item.target for item in items])
    global_logits, detail_logits = out.global_out.logits.cpu(), out.detail_out.logits.cpu()
    losses = {
        w: float(F.cross_entropy(w * global_logits + (1 - w) * detail_logits, targets))
        for w in GLOBAL_WEIGHTS
    }
    best = min(losses.values())
    chosen = min((w for w, loss in losses.items() if loss <= best + 1e-6), key=lambda w: abs(w - 0.5))
    log.info(
        "global branch weight %.2f (validation cross-entropy by weight: %s)",
        chosen,
        {w: round(loss, 4) for w, loss in losses.items()},
    )
    return chosen


def run_config(
    config: SEWTrainConfig, class_names: list[str], slides_csv: Path, encoder: dict[str, Any]
) -> dict[str, Any]:
    """The ``config.json`` of a SEW run: each concern's settings, resolved, and what they were used on."""
    resolved = to_dict(config)
    return {
        "kind": "sew",
        "class_names": class_names,
        "slides_csv": str(slides_csv.resolve()),
        "architecture": resolved["architecture"],
        "reading": resolved["reading"],
        "encoder": encoder,
        "encoder_settings": resolved["encoder"],
        "ssl": resolved["ssl"],
        "training": resolved["training"],
        "splits_csv": resolved["slides"]["splits_csv"],
        "thumbnail_mpp": config.reading.thumbnail_mpp,
        "detail_mpp": config.reading.tiles.mpp,
        "seed": config.training.seed,
        "graph_version": GRAPH_VERSION,
    }
