"""Report sections about slides: SEW focus maps next to the baseline's attention, the SEW-versus-
exhaustive comparison and the survival markers. Like :mod:`pathfocus.report.sections`, each builder
returns HTML for what the files hold plus one-line notes for what they lack."""

from __future__ import annotations

import shlex
import statistics
from pathlib import Path
from typing import Any

from pathfocus.report.collect import COMPARISON_METRICS, AnalysisFolder, RunFolder, read_document
from pathfocus.report.markup import esc, figure, fmt, key_value_table, note, scalars, table

SLIDE_LIMIT = 6
FOCUS_METHOD, BASELINE_METHOD = "sew", "mil"
METHOD_TITLES = {"sew": "SEW focus", "mil": "exhaustive MIL attention"}


def pair_analyses(
    analyses: list[AnalysisFolder],
) -> tuple[list[tuple[AnalysisFolder, AnalysisFolder]], list[AnalysisFolder]]:
    """SEW folders paired in order with baseline folders; everything else is shown on its own."""
    focus = [a for a in analyses if a.method == FOCUS_METHOD]
    baseline = [a for a in analyses if a.method == BASELINE_METHOD]
    pairs = list(zip(focus, baseline, strict=False))
    paired = {id(a) for pair in pairs for a in pair}
    return pairs, [a for a in analyses if id(a) not in paired]


def _caption(folder: AnalysisFolder, slide_id: str) -> str:
    document = folder.slides[slide_id]
    probabilities = document.get("probabilities") or []
    confidence = max(probabilities) if probabilities else None
    title = METHOD_TITLES.get(folder.method, folder.method)
    hit = document.get("lesion_hit")
    lesion = "" if hit is None else f", {'a region on' if hit else 'no region on'} the annotated lesion"
    return (
        f"{slide_id}, {title}: {document.get('label')} ({fmt(confidence)}), "
        f"{fmt(document.get('seconds'))} s, {fmt(document.get('pixels_read', 0) / 1e6)} Mpx read at high "
        f"magnification, {len(document.get('regions') or [])} regions outlined{lesion}"
    )


def view_command(folders: tuple[AnalysisFolder, ...], slide_id: str) -> str:
    """The `pathfocus view` command that opens the slide with these analyses over it, as HTML.

    The slide's path comes from the analysis JSON (``slide_path``); older analyses lack it, so the
    command then names the slide by its id for the reader to replace.
    """
    paths = [folder.slides[slide_id].get("slide_path") for folder in folders]
    slide = next((str(path) for path in paths if path), f"PATH/TO/{slide_id}")
    analyses = " ".join(f"--analysis {shlex.quote(str(folder.path))}" for folder in folders)
    command = f"pathfocus view {shlex.quote(slide)} {analyses}"
    return f'<p class="view">{esc(slide_id)} in the viewer: <code>{esc(command)}</code></p>'


def _slide_row(folders: tuple[AnalysisFolder, ...], slide_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"slide": slide_id}
    for folder in folders:
        document = folder.slides[slide_id]
        row[f"{folder.method} label"] = document.get("label")
        row[f"{folder.method} s"] = document.get("seconds")
        row[f"{folder.method} Mpx read"] = (document.get("pixels_read") or 0) / 1e6
    return row


def slides_section(analyses: list[AnalysisFolder]) -> tuple[str, list[str]]:
    """Per slide, the SEW heatmap with its focus regions beside the baseline's attention map."""
    notes: list[str] = []
    pairs, alone = pair_analyses(analyses)
    parts: list[str] = []
    for sew, mil in pairs:
        common = sorted(set(sew.slides) & set(mil.slides))
        parts.append(
            f"<h3>SEW (<code>{esc(sew.path)}</code>) beside the exhaustive baseline "
            f"(<code>{esc(mil.path)}</code>)</h3>"
        )
        if not common:
            notes.append(f"{sew.path} and {mil.path} share no slide, so no side-by-side view")
            continue
        parts.append(
            "<p>Left: SEW's focus heatmap over the thumbnail, the windows it read at high "
            "magnification outlined in cyan. Right: the attention of the baseline that read every "
            "tile, its top tiles outlined. Where the slide has a lesion annotation it is outlined "
            "in green.</p>"
        )
        for slide_id in common[:SLIDE_LIMIT]:
            panels = "".join(
                figure(folder.heatmap(slide_id), _caption(folder, slide_id), 640) for folder in (sew, mil)
            )
            parts.append(f'<div class="pair">{panels}</div>' + view_command((sew, mil), slide_id))
        if len(common) > SLIDE_LIMIT:
            parts.append(note(f"{len(common) - SLIDE_LIMIT} more slides in both folders"))
        parts.append(table([_slide_row((sew, mil), slide_id) for slide_id in common]))
    for folder in alone:
        ids = sorted(folder.slides)
        parts.append(
            f"<h3>{esc(METHOD_TITLES.get(folder.method, folder.method))} "
            f"(<code>{esc(folder.path)}</code>)</h3>"
        )
        panels = "".join(figure(folder.heatmap(s), _caption(folder, s), 480) for s in ids[:SLIDE_LIMIT])
        parts.append(f'<div class="figures">{panels}</div>')
        parts += [view_command((folder,), s) for s in ids[:SLIDE_LIMIT]]
        parts.append(table([_slide_row((folder,), slide_id) for slide_id in ids]))
    if analyses and not pairs:
        notes.append("no SEW and baseline analyses of the same slides, so no side-by-side view")
    return "".join(parts), notes


def comparison_rows(methods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows per method plus the derived ratios (computed here from the per-slide values)."""
    rows = []
    for name, values in methods.items():
        row: dict[str, Any] = {"method": name, "AUC": values.get("auc")}
        if values.get("auc_low") is not None and values.get("auc_high") is not None:
            row["AUC 95% CI"] = f"{values['auc_low']:.3f}–{values['auc_high']:.3f}"
        row |= {
            "accuracy": values.get("accuracy"),
            "seconds per slide": values.get("seconds"),
            "Mpx read per slide": None if values.get("pixels_read") is None else values["pixels_read"] / 1e6,
        }
        for key, title in (("lesion_hit_rate", "lesion hit rate"), ("precision_at_k", "precision@k")):
            if any(v.get(key) is not None for v in methods.values()):
                row[title] = values.get(key)
        rows.append(row)
    sew, exhaustive = methods.get("sew") or {}, methods.get("exhaustive") or {}
    ratio: dict[str, Any] = {"method": "exhaustive ÷ SEW (time, pixels); SEW − exhaustive (AUC, accuracy)"}
    if sew.get("auc") is not None and exhaustive.get("auc") is not None:
        ratio["AUC"] = sew["auc"] - exhaustive["auc"]
    if sew.get("accuracy") is not None and exhaustive.get("accuracy") is not None:
        ratio["accuracy"] = sew["accuracy"] - exhaustive["accuracy"]
    if sew.get("seconds") and exhaustive.get("seconds") is not None:
        ratio["seconds per slide"] = exhaustive["seconds"] / sew["seconds"]
    if sew.get("pixels_read") and exhaustive.get("pixels_read") is not None:
        ratio["Mpx read per slide"] = exhaustive["pixels_read"] / sew["pixels_read"]
    return [*rows, ratio]


def comparison_section(
    comparisons: list[tuple[Path, dict[str, Any]]], runs: list[RunFolder], analyses: list[AnalysisFolder]
) -> tuple[str, list[str]]:
    """SEW versus the exhaustive baseline: from a benchmark file, else from the two runs' evaluations,
    else (speed and pixels only) from the per-slide analyses."""
    parts: list[str] = []
    for path, document in comparisons:
        extra = {k: document[k] for k in ("n_slides", "device", "command", "notes") if k in document}
        parts += [
            f"<h3>Benchmark (<code>{esc(path)}</code>)</h3>",
            table(comparison_rows(document["methods"])),
            key_value_table(extra) if extra else "",
        ]
        picture = Path(path).parent / str(document.get("figure", ""))
        if document.get("figure") and picture.is_file():
            parts.append(figure(picture, "test AUC against the high-magnification pixels read", 560))
    if parts:
        return "".join(parts), []
    evaluations = {
        run.kind: read_document(run.path / "eval" / "metrics.json")
        for run in runs
        if run.kind in (FOCUS_METHOD, BASELINE_METHOD)
    }
    if all(isinstance(evaluations.get(kind), dict) for kind in (FOCUS_METHOD, BASELINE_METHOD)):
        methods = {
            name: {
                "auc": evaluations[kind].get("auc"),
                "accuracy": evaluations[kind].get("accuracy"),
                "seconds": evaluations[kind].get("seconds_per_slide"),
                "pixels_read": evaluations[kind].get("pixels_read_per_slide"),
            }
            for name, kind in (("sew", FOCUS_METHOD), ("exhaustive", BASELINE_METHOD))
        }
        return (
            "<p>From the two runs' <code>eval/metrics.json</code> (medians per slide).</p>"
            + table(comparison_rows(methods)),
            [],
        )
    pairs, _ = pair_analyses(analyses)
    if pairs:
        sew, mil = pairs[0]
        methods = {
            name: {
                "seconds": statistics.median(s["seconds"] for s in folder.slides.values()),
                "pixels_read": statistics.median(s["pixels_read"] for s in folder.slides.values()),
            }
            for name, folder in (("sew", sew), ("exhaustive", mil))
        }
        return (
            "<p>Speed and pixels only (medians over the analysed slides); accuracy needs the runs' "
            "evaluations or a benchmark file.</p>" + table(comparison_rows(methods)),
            ["no benchmark comparison file or evaluated SEW and MIL runs: AUC comparison left out"],
        )
    missing = ", ".join(f"methods.*.{k}" for k in COMPARISON_METRICS)
    return "", [f"no SEW-versus-exhaustive comparison (a JSON of kind sew_vs_exhaustive with {missing})"]


def _interval(value: Any) -> str:
    return f"{fmt(value[0])} – {fmt(value[1])}" if isinstance(value, list) and len(value) == 2 else "–"


def markers_headline(document: dict[str, Any]) -> str:
    """The verdict in words, then the cross-validated C-index and log-rank statistic beside their nulls."""
    if "null_mean" not in document:
        return ("<p><strong>Verdict: inconclusive, not a finding.</strong> This markers.json predates the "
                "permutation null (pathfocus markers before the repeated cross-validation): its C-index "
                f"{esc(fmt(document.get('c_index')))} has no null beside it; run the command again.</p>")
    text = document.get("verdict_text") or "inconclusive, not a finding (no verdict recorded)"
    null = "on shuffled outcomes (mean ± SD)"
    rows = [
        {"": "cross-validated C-index", "observed": document.get("c_index"),
         "interval over repeats": _interval(document.get("c_index_interval")),
         null: f"{fmt(document.get('null_mean'))} ± {fmt(document.get('null_sd'))}",
         "permutation p": document.get("permutation_p")},
        {"": "log-rank z (one-sided, by fold)", "observed": document.get("logrank_z"),
         "interval over repeats": "–",
         null: f"{fmt(document.get('logrank_null_mean'))} ± {fmt(document.get('logrank_null_sd'))}",
         "permutation p": document.get("logrank_permutation_p")},
    ]
    validation = document.get("cross_validation") or {}
    setting = (f"{fmt(validation.get('repeats'))} repeats of {fmt(validation.get('folds'))}-fold "
               f"cross-validation, {fmt(document.get('permutations'))} permutations, "
               f"{fmt(document.get('n_events'))} events in {fmt(document.get('n_slides'))} slides")
    return (f"<p><strong>Verdict:</strong> {esc(text)}</p>" + table(rows)
            + note(f"{setting}. The interval shows the spread over fold assignments only; the null is the "
                   "same procedure, marker selection included, on shuffled outcomes."))


def markers_section(markers: list[tuple[Path, dict[str, Any]]]) -> tuple[str, list[str]]:
    """Per markers folder: the verdict and the C-index beside its null, then ``markers.json`` as tables
    (numbers at the top level, lists of records as tables) and every PNG (Kaplan–Meier curves first)."""
    parts: list[str] = []
    for folder, document in markers:
        parts.append(f"<h3>Markers (<code>{esc(folder)}</code>)</h3>")
        parts.append(markers_headline(document))
        top = scalars(document)
        if top:
            parts.append(key_value_table(top))
        for key, value in document.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                parts += [f"<p>{esc(key)}</p>", table([scalars(v) for v in value])]
            elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
                parts += [f"<p>{esc(key)}</p>", table([{"": k, **scalars(v)} for k, v in value.items()])]
            elif isinstance(value, dict) and value:
                parts += [f"<p>{esc(key)}</p>", key_value_table(scalars(value))]
        pngs = sorted(folder.glob("*.png"), key=lambda p: ("km" not in p.name.lower(), p.name))
        if pngs:
            panels = "".join(figure(p, p.stem.replace("_", " "), 560) for p in pngs)
            parts.append(f'<div class="figures">{panels}</div>')
    return "".join(parts), []
