"""SimCLR views made a whole batch at a time, with torch tensor ops (on the CPU, per-image torchvision
transforms cost more than the network itself).

A view of a stored tile (kept at the magnification the encoder sees at inference): a crop, never
resized, so nuclei keep the size they will have in use (nuclear size is diagnostic, so the encoder must
not learn to ignore it); a random flip and right-angle rotation, stain-like colour jitter (brightness,
contrast, saturation, hue), sometimes grey, sometimes blurred; normalised for the backbone. The network
pools globally, so crops smaller than the input size are fine. Random draws come from the given
generator only (reproducible).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pathfocus.models.backbones import DataConfig


def random_views(
    tiles: torch.Tensor, crop: int, data: DataConfig, generator: torch.Generator
) -> torch.Tensor:
    """One view of every tile of ``tiles`` (B x 3 x S x S uint8) -> B x 3 x crop x crop, normalised."""
    batch, _, side, _ = tiles.shape
    top = torch.randint(0, side - crop + 1, (batch,), generator=generator).tolist()
    left = torch.randint(0, side - crop + 1, (batch,), generator=generator).tolist()
    views = torch.stack(
        [tiles[i, :, t : t + crop, s : s + crop] for i, (t, s) in enumerate(zip(top, left, strict=True))]
    )
    views = _flip_rotate(views.float().div_(255.0), generator)
    jitter = torch.rand(batch, generator=generator) < 0.8
    views = torch.where(jitter[:, None, None, None], _colour_jitter(views, generator), views)
    grey = torch.rand(batch, generator=generator) < 0.2
    views = torch.where(grey[:, None, None, None], _grey(views).expand_as(views), views)
    blur = torch.rand(batch, generator=generator) < 0.3
    views = torch.where(blur[:, None, None, None], _blur(views), views)
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    return (views.clamp_(0.0, 1.0) - mean) / std


def _flip_rotate(views: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(len(views), generator=generator) < 0.5
    views = torch.where(flip[:, None, None, None], views.flip(-1), views)
    turns = torch.randint(0, 4, (len(views),), generator=generator)
    out = views.clone()
    for k in (1, 2, 3):
        chosen = turns == k
        if chosen.any():
            out[chosen] = torch.rot90(views[chosen], k, dims=(-2, -1))
    return out


def _grey(views: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (views * weights).sum(dim=1, keepdim=True)


def _colour_jitter(views: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation factors in [0.6, 1.4] and a hue turn of up to +-0.08 of a circle,
    drawn per image (stain and scanner variation, not a new stain)."""
    batch = len(views)

    def factor() -> torch.Tensor:
        return (0.6 + 0.8 * torch.rand(batch, generator=generator)).view(batch, 1, 1, 1)

    views = views * factor()
    grey_mean = _grey(views).mean(dim=(2, 3), keepdim=True)
    views = (views - grey_mean) * factor() + grey_mean
    grey = _grey(views)
    views = (views - grey) * factor() + grey
    return _rotate_hue(views, (torch.rand(batch, generator=generator) - 0.5) * 0.16 * 2 * math.pi)


def _rotate_hue(views: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate chroma about the grey axis (YIQ), per image."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq = torch.einsum("ij,bjhw->bihw", to_yiq, views)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(to_yiq), yiq)


def _blur(views: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    radius = 2
    offsets = torch.arange(-radius, radius + 1, dtype=views.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = views.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    padded = F.pad(views, (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)
