"""Grad-CAM explanations of patch classifiers, computed with the ``grad-cam`` package.

Every pathfocus patch model declares where Grad-CAM should look (``gradcam_target_layers()``: the
enhanced feature map after CSFE/MFDF for KFDE, the backbone's last stage otherwise), so the same call
explains KFDE, its ablations and the comparison CNNs. Heatmaps live on the model's input grid, scaled to
[0, 1] per image by the package (the map's maximum is 1; an all-zero map means no positive evidence).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from pathfocus.errors import InputError

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam")


class Explanation(NamedTuple):
    """One image's Grad-CAM: ``heatmap`` H×W float32 in [0, 1] on the input grid, the model's
    predicted class index and its softmax probabilities (the explained class is the caller's choice)."""

    heatmap: np.ndarray
    predicted: int
    probabilities: np.ndarray


def cam_class(method: str) -> type:
    """The ``pytorch_grad_cam`` class for a method name (see :data:`METHODS`)."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM

    classes = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM,
               "xgradcam": XGradCAM, "layercam": LayerCAM}
    if method not in classes:
        msg = f"unknown Grad-CAM method {method!r}; use one of {', '.join(METHODS)}"
        raise InputError(msg)
    return classes[method]


def target_layers(model: nn.Module) -> list[nn.Module]:
    """The modules the model declares for Grad-CAM (``gradcam_target_layers()``)."""
    declare = getattr(model, "gradcam_target_layers", None)
    if declare is None:
        msg = (f"{type(model).__name__} does not declare gradcam_target_layers(); build it with "
               "pathfocus.models.kfde.create_model or pass target_layers explicitly")
        raise InputError(msg)
    return list(declare())


def explain_images(
    model: nn.Module,
    images: torch.Tensor,
    target_class: int | Sequence[int] | None = None,
    method: str = "gradcam",
    batch_size: int = 16,
    layers: Sequence[nn.Module] | None = None,
) -> list[Explanation]:
    """Grad-CAM heatmaps for a batch of preprocessed images (N×3×H×W, as the model is fed).

    Args:
        model: a patch classifier; it is put in eval mode and stays on its device.
        images: normalised input tensor (see :func:`preprocess`).
        target_class: class index to explain for every image, one index per image, or None for each
            image's predicted class.
        method: one of :data:`METHODS`.
        batch_size: images per forward/backward pass (memory bound).
        layers: override of the model's declared target layers.
    """
    if images.ndim != 4:
        msg = f"images must be an N×C×H×W tensor, got shape {tuple(images.shape)}"
        raise InputError(msg)
    n = images.shape[0]
    classes = _targets_per_image(target_class, n)
    num_classes = getattr(model, "num_classes", None)
    bad = [c for c in classes if c is not None and isinstance(num_classes, int) and not 0 <= c < num_classes]
    if bad:
        msg = f"target class {bad[0]} is out of range for a model with {num_classes} classes"
        raise InputError(msg)
    cam_type = cam_class(method)
    model.eval()
    cam = cam_type(model=model, target_layers=list(layers) if layers is not None else target_layers(model))
    results: list[Explanation] = []
    try:
        with torch.enable_grad():
            for start in range(0, n, batch_size):
                results.extend(_explain_batch(cam, images[start:start + batch_size],
                                              classes[start:start + batch_size]))
    finally:
        cam.activations_and_grads.release()
    return results


def _explain_batch(cam: object, batch: torch.Tensor, classes: list[int | None]) -> list[Explanation]:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    # NOTE: grad-cam runs one forward pass; we read its logits (``cam.outputs``) for the prediction so
    # the explained forward and the reported probabilities are the same computation.
    targets = None if classes[0] is None else [ClassifierOutputTarget(c) for c in classes]
    heatmaps = cam(input_tensor=batch, targets=targets)
    probabilities = torch.softmax(cam.outputs.detach().float().cpu(), dim=1).numpy()
    return [Explanation(np.clip(h.astype(np.float32), 0.0, 1.0), int(p.argmax()), p.astype(np.float32))
            for h, p in zip(heatmaps, probabilities, strict=True)]


def _targets_per_image(target_class: int | Sequence[int] | None, n: int) -> list[int | None]:
    if target_class is None:
        return [None] * n
    if isinstance(target_class, int | np.integer):
        return [int(target_class)] * n
    classes = [int(c) for c in target_class]
    if len(classes) != n:
        msg = f"got {len(classes)} target classes for {n} images; pass one per image or a single one"
        raise InputError(msg)
    return classes


def preprocess(images: Sequence[np.ndarray], image_size: int, mean: Sequence[float],
               std: Sequence[float]) -> torch.Tensor:
    """RGB uint8 images (H×W×3, any size) -> the normalised N×3×S×S tensor a patch run was trained on.

    Same steps as evaluation (square resize with antialiasing, scale to [0, 1], normalise).
    """
    from torchvision.transforms import v2

    transform = v2.Compose([
        v2.ToImage(),
        v2.Resize((image_size, image_size), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(mean), list(std)),
    ])
    tensors = []
    for image in images:
        array = np.asarray(image)
        if not array.flags.writeable:  # PIL-backed arrays are read-only; torch wants to own writable memory
            array = array.copy()
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            msg = f"expected an H×W×3 uint8 RGB image, got {array.dtype} of shape {array.shape}"
            raise InputError(msg)
        tensors.append(transform(array))
    return torch.stack(tensors)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] heatmap (resized to the image if needed) over an RGB image -> H×W×3 uint8.

    ``alpha`` weights the heatmap's colour: pixels read ``(1 - alpha) * image + alpha * colour``.
    """
    from matplotlib import colormaps

    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        msg = f"overlay needs an H×W×3 RGB image, got shape {rgb.shape}"
        raise InputError(msg)
    if not 0.0 <= alpha <= 1.0:
        msg = f"alpha must be in [0, 1], got {alpha}"
        raise InputError(msg)
    heat = resize_map(np.asarray(heatmap, dtype=np.float32), rgb.shape[:2])
    colour = colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3]
    base = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    blended = (1.0 - alpha) * base + alpha * colour
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a 2-D float map to ``shape`` (rows, cols); a no-op when it already fits."""
    if values.ndim != 2:
        msg = f"a heatmap must be 2-D, got shape {values.shape}"
        raise InputError(msg)
    if values.shape == tuple(shape):
        return values
    from PIL import Image

    resized = Image.fromarray(values.astype(np.float32)).resize((shape[1], shape[0]),
                                                                Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)
