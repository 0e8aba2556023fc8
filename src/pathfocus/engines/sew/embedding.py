"""Optional CNN node embeddings for SEW's detail branch: a KFDE patch run or a pretrained timm model.

The detail subgraph's hand-made colour and texture features can be extended with learned ones: the
window goes through a CNN once, and each superpixel gets the mean of the feature map under it. The
spec is ``kfde:<patch run folder>`` (a model trained by ``pathfocus train patch``) or ``timm:<name>``
(timm's pretrained weights, fetched once when the run is trained and saved inside it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pathfocus.devices import pick_device
from pathfocus.errors import InputError, WeightsUnavailableError
from pathfocus.models.backbones import DataConfig, create_backbone
from pathfocus.runs import load_safetensors_into

INPUT_SIDE = 224
POOL_SIDE = 64  # labels and feature map meet on this grid
EMBEDDER_FILE = "embedder.safetensors"  # a timm: embedder's weights, saved in the SEW run


class CNNEmbedder:
    """Mean CNN feature per superpixel of a window (callable as a ``NodeEmbedder``)."""

    def __init__(self, model: torch.nn.Module, features: Callable[[torch.Tensor], torch.Tensor],
                 mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        self.model = model
        self.features = features
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.device = device

    @torch.no_grad()
    def __call__(self, window: np.ndarray, labels: np.ndarray, n_nodes: int) -> np.ndarray:
        pixels = torch.from_numpy(np.ascontiguousarray(window)).to(self.device)
        image = pixels.permute(2, 0, 1)[None].float() / 255
        image = F.interpolate(image, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear", antialias=True,
                              align_corners=False)
        fmap = self.features((image - self.mean) / self.std)
        fmap = F.interpolate(fmap, size=(POOL_SIDE, POOL_SIDE), mode="bilinear", align_corners=False)[0]
        channels = fmap.shape[0]
        step_r, step_c = labels.shape[0] / POOL_SIDE, labels.shape[1] / POOL_SIDE
        rows = ((np.arange(POOL_SIDE) + 0.5) * step_r).astype(np.intp)
        cols = ((np.arange(POOL_SIDE) + 0.5) * step_c).astype(np.intp)
        owner = torch.from_numpy(labels[np.ix_(rows, cols)].astype(np.int64).ravel()).to(self.device)
        flat = fmap.reshape(channels, -1).T
        sums = torch.zeros(n_nodes + 1, channels, device=self.device).index_add_(0, owner, flat)
        counts = torch.bincount(owner, minlength=n_nodes + 1).float()[:, None]
        means = torch.where(counts > 0, sums / counts.clamp(min=1), flat.mean(dim=0, keepdim=True))
        return means[1:].cpu().numpy()


def load_embedder(spec: str, device: str | None = None,
                  weights_file: str | os.PathLike[str] | None = None) -> CNNEmbedder:
    """``kfde:<patch run folder>`` or ``timm:<model name>`` -> a superpixel embedder.

    A ``timm:`` model's weights are fetched once, at training, and saved in the SEW run
    (:data:`EMBEDDER_FILE`); analysis passes that file as ``weights_file`` and never downloads again.
    """
    kind, _, target = spec.partition(":")
    chosen = pick_device(device)
    if kind == "kfde" and target:
        from pathfocus.engines.patch import load_patch_model, run_data_config

        model, config = load_patch_model(Path(target), str(chosen))
        data = run_data_config(config)
        return CNNEmbedder(model, model.forward_features, data.mean, data.std, chosen)
    if kind == "timm" and target:
        if weights_file is not None:
            model = create_backbone(target, pretrained=False, num_classes=0, global_pool="")
            load_safetensors_into(Path(weights_file), model)
        else:
            try:
                model = create_backbone(target, pretrained=True, num_classes=0, global_pool="")
            except WeightsUnavailableError as error:
                msg = (f"pretrained weights of timm model {target!r} are not available offline; use "
                       "--detail-embedding kfde:<patch run folder> or drop the option")
                raise WeightsUnavailableError(msg) from error
        model = model.to(chosen).eval()
        data = DataConfig.of(model)
        return CNNEmbedder(model, model.forward_features, data.mean, data.std, chosen)
    msg = f"detail embedding {spec!r} is not one of kfde:<patch run folder> or timm:<model name>"
    raise InputError(msg)
