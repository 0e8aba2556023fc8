"""Report sections about runs and patch explanations: configuration, metrics, confusion matrices, ROC
and training curves, the Grad-CAM gallery and the localisation comparison.

Each builder returns HTML for what the files hold and a list of one-line notes for what they lack,
so a missing piece is said once and never drawn from made-up numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pathfocus.report import figures
from pathfocus.report.collect import RunFolder, read_document
from pathfocus.report.markup import (
    GALLERY_SIDE,
    esc,
    figure,
    flatten,
    fmt,
    key_value_table,
    note,
    scalars,
    table,
)
from pathfocus.runs import EVAL_DIR, EVAL_METRICS_FILE, TRAINING_SUMMARY_FILE, read_training_summary

log = logging.getLogger(__name__)
GALLERY_LIMIT = 12
SUMMARY_METRICS = ("accuracy", "image_accuracy", "patient_recognition_rate", "balanced_accuracy", "macro_f1",
                   "auc", "n_images", "n_patients", "n_slides", "seconds_per_slide", "pixels_read_per_slide")
CONFIG_HEADLINE = ("kind", "model.name", "model.backbone", "class_names", "image_size", "task")


def _json(path: Path) -> dict[str, Any] | None:
    document = read_document(path)
    return document if isinstance(document, dict) else None


def _csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as error:
        log.warning("skipping %s: not a readable CSV (%s)", path, error)
        return None


def _titled(title_html: str, body: str) -> str:
    """A small captioned block (``title_html`` is trusted markup built here)."""
    return f"<div><p>{title_html}</p>{body}</div>"


def run_section(run: RunFolder) -> tuple[str, list[str]]:
    """One run: configuration, training summary, test metrics and its figures."""
    notes: list[str] = []
    flat = flatten(run.config)
    headline = {k: flat[k] for k in CONFIG_HEADLINE if k in flat}
    label_names = run.config.get("label_names") or {}  # slide runs on labels written 0/1 name them
    if label_names and isinstance(run.config.get("class_names"), list):
        classes = run.config["class_names"]
        headline["class_names"] = ", ".join(f"{c}: {label_names.get(str(c), c)}" for c in classes)
    parts = [f"<h3>{esc(run.name)} <small>({esc(run.kind)} run, <code>{esc(run.path)}</code>)</small></h3>"]
    tables = [_titled("Configuration", key_value_table(headline))]
    summary = read_training_summary(run.path)
    if summary:
        tables.append(_titled(f"Training summary (<code>{TRAINING_SUMMARY_FILE}</code>)",
                              key_value_table(scalars(summary))))
    evaluation = _json(run.path / EVAL_DIR / EVAL_METRICS_FILE)
    names = (evaluation or {}).get("class_names") or run.config.get("class_names") or []
    class_names = [str(label_names.get(str(c), c)) for c in names]
    panels = []
    if evaluation:
        tables.append(_titled("Test metrics (<code>eval/metrics.json</code>)",
                              key_value_table(scalars(evaluation))))
        matrix_png = run.path / "eval" / "confusion_matrix.png"
        if matrix_png.is_file():
            panels.append(figure(matrix_png, f"{run.name}: confusion matrix (test)", 380))
        elif evaluation.get("confusion_matrix") and class_names:
            drawn = figures.confusion_figure(evaluation["confusion_matrix"], class_names, run.name)
            panels.append(figure(drawn, f"{run.name}: confusion matrix (test)", 380))
    else:
        notes.append(f"{run.name}: no eval/metrics.json (run `pathfocus evaluate {run.path}`), "
                     "so no test metrics or confusion matrix")
    parts += [f'<div class="tables">{"".join(tables)}</div>',
              f"<details><summary>full configuration ({len(flat)} settings)</summary>{key_value_table(flat)}"
              "</details>"]
    predictions = _csv(run.path / "eval" / "predictions.csv")
    roc = None
    if predictions is not None:
        roc = figures.roc_figure(predictions, class_names, f"{run.name}: ROC (test)")
    if roc:
        panels.append(figure(roc, f"{run.name}: ROC curves from eval/predictions.csv", 400))
    elif evaluation:
        notes.append(f"{run.name}: no ROC curve (eval/predictions.csv missing or a single true class)")
    history = _csv(run.path / "logs" / "metrics.csv")
    curves = figures.training_figure(history, f"{run.name}: training") if history is not None else None
    if curves:
        panels.append(figure(curves, f"{run.name}: training curves from logs/metrics.csv", 900))
    else:
        notes.append(f"{run.name}: no training curves (logs/metrics.csv missing or without epochs)")
    if panels:
        parts.append(f'<div class="figures">{"".join(panels)}</div>')
    return "".join(parts), notes


def runs_comparison(runs: list[RunFolder]) -> str:
    """Side-by-side test metrics of all runs that have them (e.g. KFDE and its ablations)."""
    rows = []
    for run in runs:
        evaluation = _json(run.path / "eval" / "metrics.json")
        if evaluation:
            values = {k: evaluation[k] for k in SUMMARY_METRICS if k in evaluation}
            if "image_accuracy" in values:  # patch runs name it so; one column for all runs
                values["accuracy"] = values.pop("image_accuracy")
            rows.append({"run": run.name, "kind": run.kind, **values})
    if len(rows) < 2:
        return ""
    columns = ["run", "kind"] + [k for k in SUMMARY_METRICS if any(k in r for r in rows)]
    columns = [c.replace("_", " ") for c in columns]
    rows = [{k.replace("_", " "): v for k, v in row.items()} for row in rows]
    return "<h3>All runs, test metrics</h3>" + table(rows, columns)


def spread(items: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` items evenly spaced over the list (first and last included), so a sorted index
    shows several classes and patients rather than the first patient's images only."""
    if len(items) <= limit:
        return list(items)
    step = (len(items) - 1) / (limit - 1)
    return [items[round(k * step)] for k in range(limit)]


def gallery_section(explains: list[tuple[Path, dict[str, Any]]]) -> tuple[str, list[str]]:
    """Overlays of every explain folder (first few per folder) with prediction and localisation."""
    parts: list[str] = []
    notes: list[str] = []
    for folder, document in explains:
        items = document.get("items") or []
        model = document.get("model") or {}
        label = model.get("name", folder.name) if isinstance(model, dict) else folder.name
        where = f" on the focus regions of {document['slide_id']}" if document.get("slide_id") else ""
        parts.append(f"<h3>{esc(label)}: {esc(document.get('method', 'gradcam'))}{esc(where)} "
                     f"<small>(<code>{esc(folder)}</code>)</small></h3>")
        cards = []
        for item in spread(items, GALLERY_LIMIT):
            overlay = folder / str(item.get("overlay", ""))
            if not overlay.is_file():
                notes.append(f"{folder}: overlay {item.get('overlay')} is missing; left out")
                continue
            caption = (f"{item.get('name')}: predicted {item.get('predicted')} "
                       f"({fmt(item.get('confidence'))}), explained {item.get('target')}")
            if item.get("energy_share") is not None:
                caption += f"; energy in mask {fmt(item['energy_share'])}"
            cards.append(figure(overlay, caption, GALLERY_SIDE))
        parts.append(f'<div class="gallery">{"".join(cards)}</div>')
        if len(items) > GALLERY_LIMIT:
            parts.append(note(f"{GALLERY_LIMIT} of {len(items)} images, evenly spaced in {folder}'s index"))
    comparison = localisation_comparison(explains)
    if comparison:
        parts.append(comparison)
    else:
        notes.append("no Grad-CAM localisation scores (explain with --masks on patches whose "
                     "discriminative structures are known)")
    return "".join(parts), notes


def localisation_comparison(explains: list[tuple[Path, dict[str, Any]]]) -> str:
    """Energy share and pointing game per explained model, with the uniform-map level, and a
    plain statement of which is higher (whatever the answer is)."""
    models: dict[str, dict[str, Any]] = {}
    for folder, document in explains:
        scores = document.get("localisation")
        if not scores or scores.get("energy_share_mean") is None:
            continue
        model = document.get("model") or {}
        name = model.get("name", folder.name) if isinstance(model, dict) else folder.name
        if name in models:
            name = f"{name} ({folder.name})"
        models[name] = scores
    if not models:
        return ""
    rows = [{"model": name, "energy share in mask (mean)": s["energy_share_mean"],
             "std": s.get("energy_share_std"), "uniform map": s.get("mask_fraction_mean"),
             "pointing game": s.get("pointing_game"), "images": s.get("n_images")}
            for name, s in models.items()]
    parts = ["<h3>Does Grad-CAM fall on the discriminative structures?</h3>",
             "<p>Share of each map's energy inside the ground-truth mask of the synthetic patches, and "
             "the pointing game (the map's maximum inside the mask). A uniform map scores the mask's area "
             "fraction.</p>", table(rows)]
    chart = figures.localisation_figure(models)
    if chart:
        drawn = figure(chart, "energy share inside the mask per model", 600)
        parts.append(f'<div class="figures">{drawn}</div>')
    if len(models) >= 2:
        ranked = sorted(models.items(), key=lambda kv: kv[1]["energy_share_mean"], reverse=True)
        (best, top), (second, runner) = ranked[0], ranked[1]
        gap = top["energy_share_mean"] - runner["energy_share_mean"]
        spread = max(top.get("energy_share_std") or 0.0, runner.get("energy_share_std") or 0.0)
        verdict = "within one standard deviation" if gap <= spread else "more than one standard deviation"
        parts.append(f"<p><b>{esc(best)}</b> puts {fmt(top['energy_share_mean'])} of its energy in the masks "
                     f"versus {fmt(runner['energy_share_mean'])} for {esc(second)} (a gap of {fmt(gap)}, "
                     f"{verdict}), over these images only.</p>")
    return "".join(parts)
