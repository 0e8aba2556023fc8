"""Tiny but real report inputs: run folders, explain folders, slide analyses, a benchmark file and a
markers folder, every PNG drawn by matplotlib and every metric computed from the written predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CLASSES = ["benign", "malignant"]


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _patch_run(root: Path, name: str, rng: np.random.Generator, with_png: bool, with_log: bool) -> Path:
    from pathfocus.metrics import classification_metrics, plot_confusion_matrix

    run = root / name
    _write_json(run / "config.json", {
        "kind": "patch", "model": {"name": name, "backbone": "convnextv2_atto", "num_classes": 2},
        "class_names": CLASSES, "image_size": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "training": {"max_epochs": 3, "lr": 0.001, "data": {"magnification": "40X", "fold": 0}}})
    _write_json(run / "metrics.json", {"epochs": 3, "best_val_loss": 0.41, "seconds": 12.5, "skipped": []})
    truth = np.array([0] * 10 + [1] * 10)
    p1 = np.clip(truth * 0.5 + rng.uniform(0, 0.6, size=20), 0, 1)
    probabilities = np.stack([1 - p1, p1], axis=1)
    predictions = pd.DataFrame({"path": [f"img{k}.png" for k in range(20)], "true": truth,
                                "predicted": probabilities.argmax(1), "prob_benign": probabilities[:, 0],
                                "prob_malignant": probabilities[:, 1]})
    (run / "eval").mkdir(parents=True)
    predictions.to_csv(run / "eval" / "predictions.csv", index=False)
    metrics = classification_metrics(truth, probabilities, CLASSES)
    metrics["image_accuracy"] = metrics.pop("accuracy")
    _write_json(run / "eval" / "metrics.json", {**metrics, "n_images": 20, "n_patients": 4})
    if with_png:
        plot_confusion_matrix(metrics["confusion_matrix"], CLASSES, run / "eval" / "confusion_matrix.png")
    if with_log:
        rows = []
        for epoch in range(3):
            rows.append({"epoch": epoch, "step": 4 * epoch + 3, "train_loss_step": 0.9 - 0.2 * epoch})
            rows.append({"epoch": epoch, "step": 4 * epoch + 3, "val_loss": 0.8 - 0.15 * epoch,
                         "val_acc": 0.6 + 0.1 * epoch})
            rows.append({"epoch": epoch, "step": 4 * epoch + 3, "train_loss_epoch": 0.85 - 0.2 * epoch})
        (run / "logs").mkdir()
        pd.DataFrame(rows).to_csv(run / "logs" / "metrics.csv", index=False)
    return run


def _slide_run(root: Path, kind: str, auc: float, seconds: float, pixels: int) -> None:
    _write_json(root / kind / "config.json", {"kind": kind, "class_names": ["normal", "tumour"]})
    _write_json(root / kind / "eval" / "metrics.json", {
        "accuracy": auc - 0.05, "auc": auc, "balanced_accuracy": auc - 0.05, "macro_f1": auc - 0.06,
        "confusion_matrix": [[3, 1], [0, 4]], "class_names": ["normal", "tumour"], "n_slides": 8,
        "seconds_per_slide": seconds, "pixels_read_per_slide": pixels, "kind": kind})


def _explain(root: Path, name: str, rng: np.random.Generator, sharp: float) -> None:
    from pathfocus.explain.gradcam import Explanation
    from pathfocus.explain.localisation import score_map, score_maps
    from pathfocus.explain.outputs import ExplainedImage, write_explanations

    yy, xx = np.mgrid[:32, :32]
    items, heats, masks = [], [], []
    for k in range(3):
        cy, cx = rng.integers(8, 24, size=2)
        mask = (np.abs(yy - cy) < 4) & (np.abs(xx - cx) < 4)
        heat = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sharp**2)).astype(np.float32)
        image = rng.integers(120, 255, size=(48, 48, 3), dtype=np.uint8)
        explanation = Explanation(heat, 1, np.array([0.3, 0.7], dtype=np.float32))
        items.append(ExplainedImage(f"patch{k}", f"images/patch{k}.png", image, explanation, 1,
                                    score_map(heat, mask)))
        heats.append(heat)
        masks.append(mask)
    localisation = score_maps(heats, masks)
    localisation.pop("per_image")
    write_explanations(root / name, items, CLASSES, {"run": f"runs/{name}", "model": {"name": name},
                                                     "method": "gradcam", "requested_class": None},
                       localisation)


def _analysis(root: Path, method: str, rng: np.random.Generator) -> None:
    import matplotlib.pyplot as plt

    folder = root / method
    folder.mkdir(parents=True)
    for slide_id in ("slide_a", "slide_b"):
        heat = rng.uniform(size=(24, 32))
        sew = method == "sew"
        plt.imsave(folder / f"{slide_id}_heatmap.png", heat, cmap="inferno")
        _write_json(folder / f"{slide_id}.json", {
            "slide_id": slide_id, "label": "tumour", "class_names": ["normal", "tumour"],
            "probabilities": [0.25, 0.75],
            "regions": [{"x": 100, "y": 200, "w": 512, "h": 512, "score": 0.8}],
            "seconds": 0.8 if sew else 9.5, "pixels_read": 2_000_000 if sew else 40_000_000,
            "thumbnail_mpp": 8.0, "method": method, "slide_mpp": 0.25})


def _markers(root: Path) -> None:
    import matplotlib.pyplot as plt

    folder = root / "markers"
    _write_json(folder / "markers.json", {
        "n_slides": 12, "n_prototypes": 4, "c_index": 0.68, "logrank_p": 0.03,
        "c_index_folds": [0.6, 0.7, 0.74], "significant_markers": ["p1"],
        "uniqueness": {f"p{k}": {"silhouette": 0.1 * k, "hazard_ratio": 1 + 0.2 * k, "significant": k == 1}
                       for k in range(4)}})
    figure, axis = plt.subplots(figsize=(4, 3))
    axis.step([0, 5, 10, 20], [1, 0.8, 0.6, 0.4], label="high")
    axis.step([0, 5, 10, 20], [1, 0.95, 0.9, 0.85], label="low")
    axis.legend()
    figure.savefig(folder / "km.png")
    plt.close(figure)


@pytest.fixture(scope="session")
def report_inputs(tmp_path_factory) -> dict[str, Path]:
    """Every kind of folder the report reads, under one root (keys name each)."""
    import matplotlib

    matplotlib.use("Agg")
    root = tmp_path_factory.mktemp("report_inputs")
    rng = np.random.default_rng(0)
    paths = {
        "kfde": _patch_run(root / "runs", "kfde", rng, with_png=True, with_log=True),
        "baseline": _patch_run(root / "runs", "baseline", rng, with_png=False, with_log=False),
    }
    _slide_run(root / "runs", "sew", auc=0.91, seconds=1.2, pixels=3_000_000)
    _slide_run(root / "runs", "mil", auc=0.93, seconds=14.4, pixels=60_000_000)
    paths["sew_run"], paths["mil_run"] = root / "runs" / "sew", root / "runs" / "mil"
    _explain(root / "explain", "kfde", rng, sharp=2.5)
    _explain(root / "explain", "baseline", rng, sharp=7.0)
    paths["explain"] = root / "explain"
    _analysis(root / "analysis", "sew", rng)
    _analysis(root / "analysis", "mil", rng)
    paths["analysis"] = root / "analysis"
    _write_json(root / "bench" / "comparison.json", {
        "kind": "sew_vs_exhaustive", "n_slides": 8, "command": "python benchmarks/sew_vs_exhaustive.py",
        "methods": {"sew": {"auc": 0.9, "accuracy": 0.85, "seconds": 2.0, "pixels_read": 4_000_000},
                    "exhaustive": {"auc": 0.92, "accuracy": 0.875, "seconds": 30.0,
                                   "pixels_read": 100_000_000}}})
    paths["comparison"] = root / "bench" / "comparison.json"
    _markers(root)
    paths["markers"] = root / "markers"
    paths["root"] = root
    return paths
