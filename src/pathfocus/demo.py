"""The whole mission on built-in synthetic data, in one call: what ``make demo`` runs.

Synthetic BreakHis-style patches -> KFDE and its baseline trained and evaluated on held-out patients ->
Grad-CAM with localisation scores; a synthetic slide cohort -> SEW and the exhaustive MIL baseline
trained, evaluated and compared on held-out slides -> prognostic markers -> one HTML report. Every
figure in the report is computed by this run; nothing is copied from elsewhere. Each step is skipped
when its output already exists, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from pathfocus.fileio import read_json, write_json

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Sizes chosen so the demo finishes in minutes on a 2-core CPU; all adjustable."""

    patients_per_subtype: int = 3
    images_per_patient: int = 6
    patch_size: int = 128
    image_size: int = 96
    patch_epochs: int = 10
    explain_images: int = 24
    n_slides: int = 40
    slide_size: int = 8192
    slide_task: str = "lookalike"  # foci look alike on the thumbnail: only high magnification decides
    slide_test_size: float = 0.35
    sew_epochs: int = 60
    mil_epochs: int = 60
    analyze_slides: int = 4
    seed: int = 0
    workers: int = 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DemoPaths:
    """Where each step writes, under the demo's output folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.patches = root / "patches"
        self.kfde = root / "runs" / "kfde"
        self.baseline = root / "runs" / "baseline"
        self.explain = root / "explain"
        self.slides = root / "slides"
        self.sew = root / "runs" / "sew"
        self.mil = root / "runs" / "mil"
        self.cache = root / "runs" / "cache"  # the shared encoder and tile features of both slide methods
        self.analysis = root / "analysis"
        self.markers = root / "markers"


def run_demo(out: Path, config: DemoConfig | None = None, console: Console | None = None) -> Path:
    """Run every step (skipping those already done) and return the report's path."""
    config = config or DemoConfig()
    console = console or Console(stderr=True)
    paths = DemoPaths(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "demo_config.json", config.to_dict())
    steps: list[tuple[str, Callable[[DemoPaths, DemoConfig], None], Path]] = [
        ("synthetic patches, index and patient-level split", _patches, paths.patches / "splits.csv"),
        ("train KFDE (binary, held-out patients)", _train_kfde, paths.kfde / "model.safetensors"),
        ("train the baseline ConvNeXt-V2 (same data)", _train_baseline, paths.baseline / "model.safetensors"),
        ("evaluate both on test patients", _evaluate_patches, paths.baseline / "eval" / "metrics.json"),
        (
            "Grad-CAM of both, scored against the drawn nuclei",
            _explain,
            paths.explain / "baseline" / "explain.json",
        ),
        ("synthetic whole-slide cohort (look-alike foci)", _slides, paths.slides / "clinical.csv"),
        (
            "train the exhaustive MIL baseline (pretrains the shared encoder)",
            _train_mil,
            paths.mil / "model.safetensors",
        ),
        ("train SEW (focus-driven, the same encoder)", _train_sew, paths.sew / "model.safetensors"),
        ("evaluate SEW and MIL on held-out slides", _evaluate_slides, out / "comparison.json"),
        ("analyse test slides: focus maps, regions, GeoJSON", _analyze, paths.analysis / "done.json"),
        ("prognostic markers (every tissue window, with their permutation null)", _markers,
         paths.markers / "markers.json"),
    ]
    started = time.perf_counter()
    for number, (title, step, done_marker) in enumerate(steps, start=1):
        prefix = f"[{number}/{len(steps) + 1}] {title}"
        if done_marker.exists():
            console.print(f"{prefix}: already done")
            continue
        step_start = time.perf_counter()
        with console.status(f"{prefix} ..."):
            step(paths, config)
        console.print(
            f"{prefix}: done in {time.perf_counter() - step_start:.0f} s "
            f"(total {time.perf_counter() - started:.0f} s)"
        )
    from pathfocus.report.document import build_report

    report = build_report([out], out / "report.html", title="pathfocus demo on built-in synthetic data")
    console.print(
        f"[{len(steps) + 1}/{len(steps) + 1}] report written (total {time.perf_counter() - started:.0f} s)"
    )
    return report


def _patches(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.data.breakhis import build_index
    from pathfocus.data.breakhis_splits import make_splits
    from pathfocus.data.synthetic.patches import make_synthetic_patches
    from pathfocus.fileio import write_csv

    root = paths.patches
    make_synthetic_patches(
        root / "data",
        patients_per_subtype=config.patients_per_subtype,
        images_per_patient=config.images_per_patient,
        image_size=config.patch_size,
        seed=config.seed,
        write_masks=True,
    )
    index = build_index(root / "data")
    write_csv(root / "index.csv", index)
    write_csv(root / "splits.csv", make_splits(index, folds=1, test_size=0.3, seed=config.seed))


def _train_patch_model(paths: DemoPaths, config: DemoConfig, name: str, out: Path) -> None:
    from pathfocus.training.patch.config import (
        PatchDataConfig,
        PatchModelConfig,
        PatchTrainConfig,
        PatchTraining,
    )
    from pathfocus.training.patch.run import train_patch

    train_config = PatchTrainConfig(
        data=PatchDataConfig(
            index=str(paths.patches / "index.csv"),
            splits=str(paths.patches / "splits.csv"),
            fold=1,
            magnification="all",
            task="binary",
            image_size=config.image_size,
            batch_size=32,
            workers=0,
        ),
        model=PatchModelConfig(name=name),
        training=PatchTraining(epochs=config.patch_epochs, patience=config.patch_epochs, seed=config.seed),
    )
    train_patch(train_config, out, progress=False)


def _train_kfde(paths: DemoPaths, config: DemoConfig) -> None:
    _train_patch_model(paths, config, "kfde", paths.kfde)


def _train_baseline(paths: DemoPaths, config: DemoConfig) -> None:
    _train_patch_model(paths, config, "baseline", paths.baseline)


def _evaluate_patches(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.analysis.patch import evaluate_patch_run

    for run in (paths.kfde, paths.baseline):
        evaluate_patch_run(run)


def _explain(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.explain.files import explain_files

    predictions = pd.read_csv(paths.kfde / "eval" / "predictions.csv")
    # An even spread of test images over classes, the same images for both models.
    per_class = max(1, config.explain_images // 2)
    chosen = [
        rows.sample(min(len(rows), per_class), random_state=config.seed)
        for _, rows in predictions.groupby("true")
    ]
    images = pd.concat(chosen)["path"].tolist()
    masks = paths.patches / "data" / "masks"
    for name, run in (("kfde", paths.kfde), ("baseline", paths.baseline)):
        explain_files(run, images, paths.explain / name, masks_dir=masks if masks.is_dir() else None)


def _slides(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.data.synthetic.slides import make_synthetic_cohort

    make_synthetic_cohort(
        paths.slides,
        n_slides=config.n_slides,
        seed=config.seed,
        size=config.slide_size,
        workers=config.workers,
        task=config.slide_task,
    )


def _train_sew(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.training.options import SlideCohort
    from pathfocus.training.sew.config import SEWTrainConfig, SEWTraining
    from pathfocus.training.sew.run import train_sew

    settings = SEWTrainConfig(
        slides=SlideCohort(str(paths.slides / "labels.csv"), str(paths.mil / "splits.csv")),
        training=SEWTraining(epochs=config.sew_epochs, seed=config.seed),
    )
    train_sew(settings, paths.sew, progress=False, cache_dir=paths.cache)


def _train_mil(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.data.slide_labels import make_slide_splits, read_slide_labels
    from pathfocus.fileio import write_csv
    from pathfocus.training.mil.config import MILTrainConfig, MILTraining
    from pathfocus.training.mil.run import train_mil
    from pathfocus.training.options import SlideCohort

    # the split of benchmarks/sew_focus.py, so the demo's slide part is that benchmark's seed-0 run
    splits = paths.slides / "splits.csv"
    labels = read_slide_labels(paths.slides / "labels.csv")
    write_csv(splits, make_slide_splits(labels, test_size=config.slide_test_size, val_size=0.2, seed=0))
    cohort = SlideCohort(str(paths.slides / "labels.csv"), str(splits))
    mil_config = MILTrainConfig(
        slides=cohort, training=MILTraining(epochs=config.mil_epochs, seed=config.seed)
    )
    train_mil(mil_config, paths.mil, progress=False, cache_dir=paths.cache)


def _evaluate_slides(paths: DemoPaths, config: DemoConfig) -> None:
    """Evaluate both runs on the same held-out slides and write the side-by-side comparison."""
    from pathfocus.analysis.slide_eval import evaluate_slide_run

    methods = {}
    for name, run in (("sew", paths.sew), ("exhaustive", paths.mil)):
        metrics = evaluate_slide_run(run)
        predictions = pd.read_csv(run / "eval" / "predictions.csv")
        methods[name] = {
            "auc": metrics.get("auc"),
            "accuracy": metrics["accuracy"],
            "seconds": statistics.median(predictions["seconds"]),
            "pixels_read": int(statistics.median(predictions["pixels_read"])),
            "lesion_hit_rate": metrics.get("lesion_hit_rate"),
            "precision_at_k": metrics.get("precision_at_k"),
        }
    write_json(
        paths.root / "comparison.json",
        {
            "kind": "sew_vs_exhaustive",
            "n_slides": int(read_json(paths.sew / "eval" / "metrics.json")["n_slides"]),
            "methods": methods,
            "command": "pathfocus demo (evaluate_slide_run on each run's test split, same process)",
            "notes": (
                "one seed on a small cohort: a demonstration, not the benchmark (benchmarks/sew_focus.py); "
                "seconds and pixels_read are per-slide medians over the held-out slides, reading included, "
                "pixels counted by the readers; lesion_hit_rate: share of positive slides with a region "
                "on the drawn lesion"
            ),
        },
    )


def _analyze(paths: DemoPaths, config: DemoConfig) -> None:
    """Focus maps of a few held-out slides (positives first), SEW beside the baseline's attention."""
    from pathfocus.analysis.analyzers import load_analyzer
    from pathfocus.analysis.localisation import lesion_mask_of
    from pathfocus.analysis.slide_outputs import write_slide_outputs
    from pathfocus.explain.slide_views import write_side_by_side
    from pathfocus.slide.reader import open_slide

    predictions = pd.read_csv(paths.sew / "eval" / "predictions.csv")
    labels = pd.read_csv(paths.slides / "labels.csv")
    test = labels[labels["slide_id"].isin(predictions["slide_id"])]
    test = test.sort_values("label", ascending=False).head(config.analyze_slides)
    slide_paths = [(paths.slides / p) if not Path(p).is_absolute() else Path(p) for p in test["path"]]
    for name, run in (("sew", paths.sew), ("mil", paths.mil)):
        analyzer = load_analyzer(run)
        for slide_path in slide_paths:
            analysis = analyzer.analyze(slide_path)
            with open_slide(slide_path) as slide:  # the picture is drawn on a view read from the slide
                lesion = lesion_mask_of(paths.slides / "masks", slide_path.stem, slide.dimensions, slide.mpp)
                write_slide_outputs(paths.analysis / name, analysis, slide_mpp=slide.mpp, lesion=lesion,
                                    slide=slide)
    write_side_by_side(paths.analysis / "sew", paths.analysis / "mil", paths.analysis / "side_by_side")
    write_json(paths.analysis / "done.json", {"slides": [p.stem for p in slide_paths]})


def _markers(paths: DemoPaths, config: DemoConfig) -> None:
    from pathfocus.markers.pipeline import discover_markers

    discover_markers(
        paths.sew,
        paths.slides / "labels.csv",
        paths.slides / "clinical.csv",
        paths.markers,
        all_tissue=True,
        seed=config.seed,
        progress=False,
    )
