"""Slide explanations: where SEW looked next to where the exhaustive baseline attended, and what a patch
model sees inside SEW's focus regions.

Both views are built from the files ``pathfocus analyze`` writes (``<slide_id>.json`` and
``<slide_id>_heatmap.png`` in each analysis folder), so they can be remade at any time without the
models. SEW's detail branch works on superpixel graphs, not on a convolutional feature map, so
Grad-CAM does not apply to it directly; instead a patch classifier (e.g. KFDE) is explained on crops of
the focus regions read from the slide.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathfocus.errors import InputError
from pathfocus.fileio import read_json, save_figure
from pathfocus.units import Region

log = logging.getLogger(__name__)
HEATMAP_SUFFIX = "_heatmap.png"
DETAIL_MPP = 0.5


def slide_ids(analysis_dir: str | os.PathLike[str]) -> list[str]:
    """Slides with both a JSON result and a heatmap PNG in an analysis folder."""
    folder = Path(analysis_dir)
    return sorted(p.name[: -len(HEATMAP_SUFFIX)] for p in folder.glob(f"*{HEATMAP_SUFFIX}")
                  if (folder / f"{p.name[: -len(HEATMAP_SUFFIX)]}.json").is_file())


def _panel(axis: Any, folder: Path, slide_id: str, title: str) -> None:
    from PIL import Image

    document = read_json(folder / f"{slide_id}.json")
    with Image.open(folder / f"{slide_id}{HEATMAP_SUFFIX}") as image:
        axis.imshow(np.asarray(image.convert("RGB")))
    probabilities = document.get("probabilities") or [float("nan")]
    axis.set_title(f"{title}: {document.get('label')} ({max(probabilities):.2f})\n"
                   f"{document.get('seconds', float('nan')):.2f} s, "
                   f"{document.get('pixels_read', 0) / 1e6:.1f} Mpx read, "
                   f"{len(document.get('regions') or [])} regions", fontsize=9)
    axis.axis("off")


def write_side_by_side(focus_dir: str | os.PathLike[str], baseline_dir: str | os.PathLike[str],
                       out_dir: str | os.PathLike[str],
                       titles: tuple[str, str] = ("SEW focus", "MIL attention")) -> list[Path]:
    """For every slide analysed in both folders, ``<slide_id>_focus_vs_attention.png``: SEW's focus
    heatmap with its regions (left) beside the baseline's attention map (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    focus, baseline = Path(focus_dir), Path(baseline_dir)
    common = sorted(set(slide_ids(focus)) & set(slide_ids(baseline)))
    if not common:
        msg = (f"{focus} and {baseline} share no analysed slide; run `pathfocus analyze` with both runs "
               "on the same slides")
        raise InputError(msg)
    written = []
    for slide_id in common:
        figure, axes = plt.subplots(1, 2, figsize=(10, 5))
        _panel(axes[0], focus, slide_id, titles[0])
        _panel(axes[1], baseline, slide_id, titles[1])
        figure.suptitle(slide_id)
        written.append(save_figure(Path(out_dir) / f"{slide_id}_focus_vs_attention.png", figure))
        plt.close(figure)
    return written


def read_region_crops(slide_path: str | os.PathLike[str], regions: Sequence[Region],
                      read_mpp: float = DETAIL_MPP) -> list[np.ndarray]:
    """The level-0 boxes of ``regions`` read at ``read_mpp`` (µm/px) as RGB uint8 arrays."""
    from pathfocus.slide.reader import open_slide

    with open_slide(slide_path) as slide:
        factor = read_mpp / slide.mpp  # level-0 pixels per output pixel
        return [slide.read_region((r.x, r.y), (max(1, round(r.w / factor)), max(1, round(r.h / factor))),
                                  read_mpp) for r in regions]


def explain_focus_regions(
    run_dir: str | os.PathLike[str],
    slide_path: str | os.PathLike[str],
    analysis_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    read_mpp: float = DETAIL_MPP,
    method: str = "gradcam",
    device: str | None = None,
) -> Path:
    """Grad-CAM of a patch run's model on the focus regions SEW chose for one slide.

    Reads ``<slide_id>.json`` from ``analysis_dir``, reads each region from the slide at ``read_mpp``,
    and writes an explain folder (see :mod:`pathfocus.explain.outputs`) whose items are named
    ``<slide_id>_region<k>``; returns its ``explain.json``.
    """
    from pathfocus.engines.patch import load_patch_model
    from pathfocus.explain.gradcam import explain_images, preprocess
    from pathfocus.explain.outputs import ExplainedImage, write_explanations

    slide_id = Path(slide_path).stem
    result_path = Path(analysis_dir) / f"{slide_id}.json"
    if not result_path.is_file():
        msg = (f"no analysis of {slide_id} in {analysis_dir} ({result_path.name} missing); run "
               "`pathfocus analyze` first")
        raise InputError(msg)
    regions = [Region(int(r["x"]), int(r["y"]), int(r["w"]), int(r["h"]), float(r.get("score", 0.0)))
               for r in read_json(result_path).get("regions") or []]
    if not regions:
        msg = f"{result_path} lists no focus regions, so there is nothing to explain"
        raise InputError(msg)
    model, config = load_patch_model(run_dir, device)
    crops = read_region_crops(slide_path, regions, read_mpp)
    batch = preprocess(crops, int(config["image_size"]), config["mean"], config["std"])
    explanations = explain_images(model, batch, method=method)
    names = [str(c) for c in config["class_names"]]
    items = [ExplainedImage(f"{slide_id}_region{k}", f"{slide_path}#({r.x},{r.y},{r.w},{r.h})", crop, e,
                            e.predicted, {"focus_score": r.score})
             for k, (r, crop, e) in enumerate(zip(regions, crops, explanations, strict=True))]
    header = {"run": os.fspath(Path(run_dir).resolve()), "model": config["model"], "method": method,
              "requested_class": None, "slide_id": slide_id, "read_mpp": read_mpp}
    return write_explanations(out_dir, items, names, header)
