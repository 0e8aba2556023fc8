"""Train SEW on a slide cohort with Lightning: ``pathfocus train sew --slides labels.csv --out RUN``.

The LightningModule owns the objective (:mod:`pathfocus.training.sew_losses`), the optimiser and the
metrics; the model stays a pure ``nn.Module``. Each step runs the global branch, lets the focus
predictor pick the windows to read (plus a share of random ones in training so the focus predictor sees
regions it would not pick), reads them through the :class:`DetailCache`, and runs the detail branch.
The run folder gets config.json, model.safetensors (the best validation epoch), metrics.json,
splits.csv, logs/metrics.csv and checkpoints/last.ckpt (for ``--resume``).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F

from pathfocus.devices import cpu_threads
from pathfocus.errors import InputError
from pathfocus.fileio import write_json
from pathfocus.inference.sew_graphs import GRAPH_VERSION, region_window, sew_forward
from pathfocus.models.sew import SEWConfig, SEWModel
from pathfocus.runs import METRICS_FILE, save_run_model
from pathfocus.training.metrics import classification_metrics
from pathfocus.training.sew_data import (
    CACHE_DIR,
    DetailCache,
    SlideBatch,
    SlideCollate,
    SlideGraphDataset,
    ThumbnailCache,
    build_graphs,
    prefetch_pools,
)
from pathfocus.training.sew_losses import sew_loss
from pathfocus.training.slide_data import (
    class_names_from_labels,
    load_or_make_splits,
    read_slide_labels,
    subset_table,
)
from pathfocus.training.trainer import TrainerOptions, build_trainer, resume_checkpoint

log = logging.getLogger(__name__)
SELECTION_METRIC = "val_slide_loss"  # cross-entropy of the fused slide prediction on the validation split


@dataclass
class SEWTrainOptions:
    """How to train (the model's choices are in :class:`SEWConfig`)."""

    epochs: int = 60
    batch_size: int = 2
    lr: float = 2e-3
    weight_decay: float = 1e-2
    patience: int = 20
    seed: int = 0
    devices: str = "auto"
    strategy: str = "auto"
    resume: bool = False
    progress: bool = True
    cache_dir: Path | None = None  # default RUN/cache; runs on the same slides (ablations) may share one


class SEWTask(pl.LightningModule):
    """SEW's objective, optimiser and validation metrics around a :class:`SEWModel`."""

    def __init__(self, model: SEWModel, details: DetailCache, class_names: list[str], lr: float,
                 weight_decay: float, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.details = details
        self.class_names = class_names
        self.lr = lr
        self.weight_decay = weight_decay
        self.generator = torch.Generator().manual_seed(seed)
        self.best: tuple[float, int, dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._val: list[tuple[np.ndarray, np.ndarray]] = []

    def _step(self, batch: SlideBatch,
              train: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        config = self.model.config

        def fetch(i: int, region: Any) -> Any:
            return self.details.get(batch.paths[i], batch.graphs[i], region)

        out = sew_forward(self.model, batch.graphs, fetch, config.explore if train else 0.0, self.generator,
                          batch.pools)
        labels = batch.targets.to(self.device)
        detail = out.detail_out
        if detail is None:
            loss, parts = sew_loss(config, labels, out.global_out.logits)
            return loss, parts, out.logits
        counts = torch.tensor([len(d) for d in out.details], device=self.device)
        region_slide = torch.repeat_interleave(torch.arange(len(batch), device=self.device), counts)
        loss, parts = sew_loss(
            config, labels, out.global_out.logits, detail.logits,
            self.model.project_global(out.global_out.cls), detail.cls, out.visited_focus, detail.lesion,
            detail.region_logits, region_slide)
        return loss, parts, out.logits

    def training_step(self, batch: SlideBatch, batch_idx: int) -> torch.Tensor:
        loss, parts, _ = self._step(batch, train=True)
        self.log("train_loss", loss, batch_size=len(batch), prog_bar=True, on_epoch=True, on_step=False)
        for name, value in parts.items():
            self.log(f"train_{name}", value, batch_size=len(batch), on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch: SlideBatch, batch_idx: int) -> None:
        loss, _, logits = self._step(batch, train=False)
        self.log("val_loss", loss, batch_size=len(batch), prog_bar=True, on_epoch=True, on_step=False)
        # model selection looks at the task itself, the fused prediction: the auxiliary terms (regions,
        # focus, consistency) move on their own and, on a few validation slides, can pick an untrained epoch
        slide_loss = F.cross_entropy(logits, batch.targets.to(self.device))
        self.log(SELECTION_METRIC, slide_loss, batch_size=len(batch), on_epoch=True, on_step=False)
        self._val.append((batch.targets.numpy(), torch.softmax(logits, dim=1).detach().cpu().numpy()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        y = np.concatenate([item[0] for item in self._val])
        probs = np.concatenate([item[1] for item in self._val])
        self._val.clear()
        metrics = classification_metrics(y, probs, self.class_names)
        self.log("val_accuracy", metrics["accuracy"], prog_bar=True)
        if metrics["auc"] is not None:
            self.log("val_auc", metrics["auc"])
        selection = float(self.trainer.callback_metrics.get(SELECTION_METRIC, float("nan")))
        if self.best is None or selection <= self.best[0]:
            state = copy.deepcopy({k: v.detach().cpu() for k, v in self.model.state_dict().items()})
            summary = {SELECTION_METRIC: selection,
                       "val_loss": float(self.trainer.callback_metrics.get("val_loss", float("nan"))),
                       "val_accuracy": metrics["accuracy"], "val_auc": metrics["auc"],
                       "val_balanced_accuracy": metrics["balanced_accuracy"]}
            self.best = (selection, int(self.current_epoch), state, summary)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # NOTE: the best-validation weights live in memory; keeping them in last.ckpt lets --resume
        # still write the best epoch's weights, not only the best since the restart.
        checkpoint["pathfocus_best"] = self.best

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best = checkpoint.get("pathfocus_best")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def train_sew(slides_csv: str | os.PathLike[str], out: str | os.PathLike[str],
              config: SEWConfig | None = None, options: SEWTrainOptions | None = None,
              splits_csv: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Train on the train split of ``slides_csv``, validate on val, write the run folder; return a summary."""
    options = options or SEWTrainOptions()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with cpu_threads(device, 1):
        return _train(Path(slides_csv), Path(out), config or SEWConfig(), options, splits_csv)


def _train(slides_csv: Path, run: Path, base: SEWConfig, options: SEWTrainOptions,
           splits_csv: str | os.PathLike[str] | None) -> dict[str, Any]:
    start = time.perf_counter()
    run.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(options.seed, workers=True, verbose=False)
    labels = read_slide_labels(slides_csv)
    class_names = class_names_from_labels(labels["label"])
    if len(class_names) < 2:
        msg = f"{slides_csv} holds a single class ({class_names[0]}); SEW needs at least two labels"
        raise InputError(msg)
    splits = load_or_make_splits(run, labels, splits_csv, seed=options.seed)
    tables = {name: subset_table(labels, splits, name) for name in ("train", "val", "test")}
    if tables["train"].empty or tables["val"].empty:
        msg = (f"the splits of {slides_csv} leave {len(tables['train'])} training and {len(tables['val'])} "
               "validation slides; SEW needs both (add slides or pass --splits)")
        raise InputError(msg)

    cache_dir = options.cache_dir or run / CACHE_DIR
    thumbnails = ThumbnailCache(cache_dir, base)
    graphs, skipped = {}, []
    for name in ("train", "val"):
        tables[name], graphs[name], bad = build_graphs(tables[name], thumbnails, options.progress)
        skipped.extend(bad)
    if not graphs["train"] or not graphs["val"]:
        msg = f"no readable slides with tissue left to train or validate on ({'; '.join(skipped[:3])})"
        raise InputError(msg)
    embedder = None
    if base.detail_embedding:
        from pathfocus.inference.sew_embedding import load_embedder

        embedder = load_embedder(base.detail_embedding)
    values = base.to_dict() | {"num_classes": len(class_names),
                               "global_features": int(graphs["train"][0].x.shape[1])}
    config = SEWConfig.from_dict(values)
    details = DetailCache(cache_dir, config, embedder)
    if config.uses_detail:
        probe = graphs["train"][0]
        first = details.get(Path(tables["train"]["path"].iloc[0]), probe,
                            region_window(probe.anchors[0], probe, config))
        config = SEWConfig.from_dict(config.to_dict() | {"detail_features": int(first.x.shape[1])})
        details.config = config

    model = SEWModel(config)
    task = SEWTask(model, details, class_names, options.lr, options.weight_decay, options.seed)
    loaders = {}
    for name in ("train", "val"):
        dataset = SlideGraphDataset(tables[name], graphs[name], class_names, config.train_pool, options.seed)
        if config.uses_detail:
            prefetch_pools(dataset, details, config, options.progress)
        loaders[name] = torch.utils.data.DataLoader(
            dataset, batch_size=options.batch_size, shuffle=name == "train", collate_fn=SlideCollate(dataset),
            num_workers=0, drop_last=False)
    trainer = build_trainer(run, TrainerOptions(max_epochs=options.epochs, patience=options.patience,
                                                monitor=SELECTION_METRIC,
                                                devices=options.devices, strategy=options.strategy,
                                                progress=options.progress, log_every_n_steps=1))
    trainer.fit(task, loaders["train"], loaders["val"], ckpt_path=resume_checkpoint(run, options.resume))
    details.close()

    if task.best is not None:
        model.load_state_dict(task.best[2])
    run_config = {
        "kind": "sew", "sew": config.to_dict(), "class_names": class_names,
        "slides_csv": str(slides_csv.resolve()), "thumbnail_mpp": config.thumbnail_mpp,
        "detail_mpp": config.detail_mpp, "seed": options.seed, "train_options": vars(options),
        "graph_version": GRAPH_VERSION,
    }
    if trainer.is_global_zero:
        save_run_model(run, model, run_config)
    summary = {
        "kind": "sew",
        "epochs_run": int(trainer.current_epoch),
        "best_epoch": task.best[1] if task.best else None,
        **(task.best[3] if task.best else {}),
        "n_train": len(tables["train"]), "n_val": len(tables["val"]), "n_test": len(tables["test"]),
        "class_names": class_names,
        "n_skipped": len(skipped), "skipped": skipped,
        "windows_read": details.reads, "window_cache_hits": details.hits,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if trainer.is_global_zero:
        write_json(run / METRICS_FILE, summary)
    return summary
