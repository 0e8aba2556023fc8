"""CLI commands for the markers area (registered by :mod:`pathfocus.cli.main`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pathfocus.cli.common import cluster_option, console, user_errors
from pathfocus.errors import InputError
from pathfocus.markers.defaults import FOLDS, PERMUTATIONS, REPEATS


@user_errors
def markers(
    run: Path | None = typer.Argument(None, help="Trained SEW run folder (leave out with --features)."),
    slides: Path = typer.Option(..., "--slides", help="labels.csv: slide_id,path[,label]."),
    clinical: Path = typer.Option(..., "--clinical", help="clinical.csv: slide_id,time,event[,covariates]."),
    out: Path = typer.Option(..., "--out", help="Output folder (markers.json, slides.csv, PNGs)."),
    k: int | None = typer.Option(None, "--k", help="Number of prototypes (default: best silhouette, 3-8)."),
    all_tissue: bool | None = typer.Option(
        None, "--all-tissue/--focused",
        help="Describe every tissue region (default with a RUN) or only the windows SEW focused on."),
    folds: int = typer.Option(FOLDS, "--folds", help="Cross-validation folds (stratified by event)."),
    repeats: int = typer.Option(
        REPEATS, "--repeats", help="Fold assignments the cross-validated C-index is averaged over."),
    seed: int = typer.Option(0, "--seed", help="Random seed (K-Means, folds, shuffles)."),
    permutations: int = typer.Option(
        PERMUTATIONS, "--permutations",
        help="Shuffles of the outcomes for the C-index's null and p-value (0: none, and no finding)."),
    features: Path | None = typer.Option(
        None, "--features", help="Region-feature CSV (slide_id,x,y,w,h,focus,lesion,f0,...) instead of RUN."),
    cluster: str | None = cluster_option(),
) -> None:
    """Discover prognostic markers: prototypes, uniqueness, spatial statistics and survival."""
    if (run is None) == (features is None):
        msg = "pass either a SEW run folder (RUN) or --features FILE, not both and not neither"
        raise InputError(msg)
    if features is not None and all_tissue is not None:
        msg = "--all-tissue/--focused choose the regions extracted from a SEW run; drop it with --features"
        raise InputError(msg)
    if features is not None and cluster is not None:
        msg = "--cluster extracts region features from a SEW run on a cluster; drop it with --features"
        raise InputError(msg)
    from pathfocus.markers.pipeline import MARKERS_FILE, discover_markers

    result = discover_markers(run, slides, clinical, out, k=k, all_tissue=all_tissue is not False,
                              folds=folds, seed=seed, features=features, permutations=permutations,
                              repeats=repeats, cluster=cluster)
    for line in summary_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"wrote {out / MARKERS_FILE}", highlight=False)


def _number(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """What a run found, in reading order: the cohort, each figure beside its null, the verdict."""
    significant = ", ".join(result["significant_markers"]) or "none"
    validation = result["cross_validation"]
    low, high = result["c_index_interval"] or (None, None)
    lines = [
        f"{result['prototypes']['k']} prototypes from {result['n_regions']} regions of {result['n_slides']} "
        f"slides ({result['n_events']} events); significant after correction: {significant}",
        f"cross-validated C-index {_number(result['c_index'], '.3f')} [{_number(low, '.3f')}, "
        f"{_number(high, '.3f')}] ({validation['repeats']} x {validation['folds']}-fold)",
    ]
    if result["permutations"]:
        null = f"{_number(result['null_mean'], '.3f')} ± {_number(result['null_sd'], '.3f')}"
        lines += [
            f"  on shuffled outcomes ({result['permutations']} permutations): {null}; permutation p "
            f"{_number(result['permutation_p'], '.3g')}",
            f"log-rank z (one-sided, by fold) {_number(result['logrank_z'], '.2f')}; on shuffled outcomes "
            f"{_number(result['logrank_null_mean'], '.2f')} ± {_number(result['logrank_null_sd'], '.2f')}; "
            f"permutation p {_number(result['logrank_permutation_p'], '.3g')}",
        ]
    lines.append(("[bold]" if result["verdict"] == "finding" else "[bold yellow]") + "verdict:[/] "
                 + result["verdict_text"])
    return lines


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this area's commands to the root app and its groups."""
    app.command("markers")(markers)
