"""Window novelty: how unlike every window of the lesion-free training slides a window is.

The default source of SEW's window pseudo-labels (``SEWTraining.pseudo_source``). Whatever a
lesion looks like, it is absent from lesion-free slides, so in a slide with lesion the windows farthest
from all lesion-free windows are the lesion candidates (nearest-neighbour novelty against normal
references, the idea of PatchCore and of kNN anomaly scores on frozen features). Computed once from the
frozen encoder's cached features, it cannot drift the way a ranking by the detail branch's own attention
can while that branch fits the training slides.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pathfocus.errors import InputError

MAX_REFERENCES = 50_000  # windows kept as references (a seeded sample beyond this): bounds memory and time


def window_features(tiles: torch.Tensor, tile_window: torch.Tensor, n_windows: int) -> torch.Tensor:
    """Mean tile feature of each window, L2-normalised (W x D)."""
    sums = torch.zeros(n_windows, tiles.shape[1], dtype=tiles.dtype).index_add_(0, tile_window, tiles)
    counts = torch.bincount(tile_window, minlength=n_windows).clamp(min=1)
    return F.normalize(sums / counts[:, None], dim=1)


def window_novelty(
    slides: list[torch.Tensor], lesion_free: list[bool], neighbours: int = 5, seed: int = 0
) -> list[torch.Tensor]:
    """Per slide, each window's mean cosine distance to its ``neighbours`` nearest reference windows.

    ``slides`` holds each slide's normalised window features; the references are the windows of the
    slides marked ``lesion_free`` (a slide never counts as its own reference).
    """
    owners = [i for i, free in enumerate(lesion_free) if free]
    if not owners:
        msg = "window novelty needs at least one lesion-free reference slide"
        raise InputError(msg)
    references = torch.cat([slides[i] for i in owners])
    owner = torch.cat([torch.full((len(slides[i]),), i) for i in owners])
    if len(references) > MAX_REFERENCES:
        keep = torch.randperm(len(references), generator=torch.Generator().manual_seed(seed))[:MAX_REFERENCES]
        references, owner = references[keep], owner[keep]
    novelty = []
    for index, windows in enumerate(slides):
        distance = 1.0 - windows @ references.T
        distance[:, owner == index] = float("inf")
        k = min(neighbours, int((owner != index).sum()))
        if k == 0:
            novelty.append(torch.zeros(len(windows)))
            continue
        novelty.append(distance.topk(k, dim=1, largest=False).values.mean(dim=1))
    return novelty
