"""CLI commands for the markers area (registered by :mod:`pathfocus.cli.main`)."""

from __future__ import annotations

from pathlib import Path

import typer

from pathfocus.cli.common import console, user_errors
from pathfocus.errors import InputError


@user_errors
def markers(
    run: Path | None = typer.Argument(None, help="Trained SEW run folder (leave out with --features)."),
    slides: Path = typer.Option(..., "--slides", help="labels.csv: slide_id,path[,label]."),
    clinical: Path = typer.Option(..., "--clinical", help="clinical.csv: slide_id,time,event[,covariates]."),
    out: Path = typer.Option(..., "--out", help="Output folder (markers.json, slides.csv, PNGs)."),
    k: int | None = typer.Option(None, "--k", help="Number of prototypes (default: best silhouette, 2-8)."),
    all_tissue: bool = typer.Option(False, "--all-tissue", help="Use all tissue regions, not only focused."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds for C-index and risk groups."),
    seed: int = typer.Option(0, "--seed", help="Random seed (K-Means, folds)."),
    permutations: int = typer.Option(
        0, "--permutations", help="Rerun the CV N times on shuffled outcomes: a p-value for the C-index."),
    features: Path | None = typer.Option(
        None, "--features", help="Region-feature CSV (slide_id,x,y,w,h,focus,lesion,f0,...) instead of RUN."),
) -> None:
    """Discover prognostic markers: prototypes, uniqueness, spatial statistics and survival."""
    if (run is None) == (features is None):
        msg = "pass either a SEW run folder (RUN) or --features FILE, not both and not neither"
        raise InputError(msg)
    if features is not None and all_tissue:
        msg = "--all-tissue needs a SEW run to extract from; it has no effect with --features"
        raise InputError(msg)
    from pathfocus.markers.pipeline import MARKERS_FILE, discover_markers

    result = discover_markers(run, slides, clinical, out, k=k, all_tissue=all_tissue, folds=folds, seed=seed,
                              features=features, permutations=permutations)
    significant = ", ".join(result["significant_markers"]) or "none"
    logrank, c_index = result["logrank_p"], result["c_index"]
    c_text = "n/a" if c_index is None else f"{c_index:.3f}"
    logrank_text = "n/a" if logrank is None else f"{logrank:.3g}"
    console.print(
        f"{result['prototypes']['k']} prototypes from {result['n_regions']} regions of {result['n_slides']} "
        f"slides; significant after correction: {significant}; cross-validated C-index "
        f"{c_text}; log-rank p (one-sided) {logrank_text}",
        highlight=False,
    )
    chance = result["c_index_permutation_p"]
    if chance is not None:
        console.print(f"C-index permutation p ({permutations} shuffles): {chance:.3g}", highlight=False)
    console.print(f"wrote {out / MARKERS_FILE}", highlight=False)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this area's commands to the root app and its groups."""
    app.command("markers")(markers)
