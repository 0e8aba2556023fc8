"""Train SEW on a slide cohort: ``pathfocus train sew --slides labels.csv --out RUN``.

Thumbnail graphs are built once into the cache (``RUN/cache`` unless another is given: ablations on the
same slides may share one), the candidate windows are read once, then Lightning trains
:class:`~pathfocus.training.sew.task.SEWTask`. The run folder gets config.json (the resolved settings),
model.safetensors (the best validation epoch by ``val_slide_loss``), training_summary.json, splits.csv,
logs/metrics.csv and checkpoints/last.ckpt (for ``--resume``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from pathfocus.configs import to_dict
from pathfocus.data.slide_labels import (
    class_names_from_labels,
    load_or_make_splits,
    read_slide_labels,
    subset_table,
)
from pathfocus.devices import cpu_threads, machine_summary, pick_device
from pathfocus.engines.sew.embedding import EMBEDDER_FILE, CNNEmbedder, load_embedder
from pathfocus.engines.sew.graphs import region_window
from pathfocus.engines.sew.reading import GRAPH_VERSION
from pathfocus.errors import InputError
from pathfocus.fileio import atomic_path, write_json
from pathfocus.models.sew import SEWModel
from pathfocus.runs import TRAINING_SUMMARY_FILE, save_run_model
from pathfocus.training.sew.config import SEWTrainConfig
from pathfocus.training.sew.data import (
    CACHE_DIR,
    DetailCache,
    SEWDataModule,
    SlideGraphDataset,
    ThumbnailCache,
    build_graphs,
)
from pathfocus.training.sew.task import SEWTask
from pathfocus.training.trainer import build_trainer, resume_checkpoint

log = logging.getLogger(__name__)


def train_sew(config: SEWTrainConfig, out: str | os.PathLike[str], resume: bool = False,
              progress: bool = True, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train on the train split of ``config.slides``, validate on val, write the run folder; return a
    summary."""
    with cpu_threads(pick_device(), 1):  # small graphs per step: more threads only spin
        return _train(config, Path(out), resume, progress, Path(cache_dir) if cache_dir else None)


def _train(config: SEWTrainConfig, run: Path, resume: bool, progress: bool,
           cache_dir: Path | None) -> dict[str, Any]:
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
        msg = (f"the splits of {slides_csv} leave {len(tables['train'])} training and {len(tables['val'])} "
               "validation slides; SEW needs both (add slides or pass --splits)")
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
    embedder = load_embedder(reading.detail_embedding) if reading.detail_embedding else None
    details = DetailCache(cache, reading, embedder)
    architecture = replace(config.architecture, num_classes=len(class_names),
                           global_features=int(graphs["train"][0].x.shape[1]))
    if architecture.uses_detail:
        probe = graphs["train"][0]
        first = details.get(Path(tables["train"]["path"].iloc[0]), probe,
                            region_window(probe.anchors[0], probe, reading))
        architecture = replace(architecture, detail_features=int(first.x.shape[1]))
    resolved = replace(config, architecture=architecture)

    model = SEWModel(architecture)
    task = SEWTask(model, reading, training, details, class_names)
    datasets = {name: SlideGraphDataset(tables[name], graphs[name], class_names, training.train_pool,
                                        training.seed) for name in ("train", "val")}
    data = SEWDataModule(datasets, details, reading, training.batch_size, training.seed,
                         prefetch=architecture.uses_detail, progress=progress)
    checkpoint = resume_checkpoint(run, resume)
    trainer, best = build_trainer(run, training.trainer_options(progress), checkpoint)
    trainer.fit(task, datamodule=data, ckpt_path=checkpoint)
    details.close()
    if not trainer.is_global_zero:
        return {}
    best.restore(model)
    save_run_model(run, model, run_config(resolved, class_names, slides_csv))
    if isinstance(embedder, CNNEmbedder) and reading.detail_embedding.startswith("timm:"):
        save_embedder(run, embedder)
    summary = {
        "kind": "sew",
        "epochs_run": int(trainer.current_epoch),
        "best_epoch": best.best_epoch,
        **{key: value for key, value in best.best_metrics.items()
           if key in ("val_slide_loss", "val_loss", "val_accuracy", "val_auc", "val_balanced_accuracy")},
        "n_train": len(tables["train"]), "n_val": len(tables["val"]), "n_test": len(tables["test"]),
        "class_names": class_names,
        "n_skipped": len(skipped), "skipped": skipped,
        "windows_read": details.reads, "window_cache_hits": details.hits,
        "seconds": round(time.perf_counter() - start, 2),
        "machine": machine_summary(pick_device()),
    }
    write_json(run / TRAINING_SUMMARY_FILE, summary)
    return summary


def run_config(config: SEWTrainConfig, class_names: list[str], slides_csv: Path) -> dict[str, Any]:
    """The ``config.json`` of a SEW run: each concern's settings, resolved, and what they were used on."""
    resolved = to_dict(config)
    return {"kind": "sew", "class_names": class_names, "slides_csv": str(slides_csv.resolve()),
            "architecture": resolved["architecture"], "reading": resolved["reading"],
            "training": resolved["training"], "splits_csv": resolved["slides"]["splits_csv"],
            "thumbnail_mpp": config.reading.thumbnail_mpp, "detail_mpp": config.reading.detail_mpp,
            "seed": config.training.seed, "graph_version": GRAPH_VERSION}


def save_embedder(run: Path, embedder: CNNEmbedder) -> None:
    """Keep a downloaded ``timm:`` embedder inside the run, so analysis never fetches it again."""
    from safetensors.torch import save_file

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in embedder.model.state_dict().items()}
    with atomic_path(run / EMBEDDER_FILE) as tmp:
        save_file(state, str(tmp))

