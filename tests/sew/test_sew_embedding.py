"""CNN node embeddings: the feature map is averaged under each superpixel of the window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathfocus.engines.sew.embedding import CNNEmbedder, load_embedder
from pathfocus.errors import InputError


def test_features_are_averaged_per_superpixel() -> None:
    def ramp(image: torch.Tensor) -> torch.Tensor:  # channel 0: column index 0..6, channel 1: ones
        columns = torch.arange(7.0).expand(7, 7)
        return torch.stack([columns, torch.ones(7, 7)])[None]

    embedder = CNNEmbedder(torch.nn.Identity(), ramp, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), torch.device("cpu"))
    labels = np.zeros((128, 128), np.int32)
    labels[:, :64] = 1  # left half
    labels[:, 64:] = 2  # right half
    features = embedder(np.zeros((128, 128, 3), np.uint8), labels, 2)
    assert features.shape == (2, 2)
    np.testing.assert_allclose(features[:, 1], 1.0, atol=1e-5)
    assert features[0, 0] < 3.0 < features[1, 0]
    np.testing.assert_allclose(features[:, 0].mean(), 3.0, atol=0.05)  # symmetric ramp


def test_unknown_embedding_spec_is_refused() -> None:
    with pytest.raises(InputError, match="kfde:<patch run folder>"):
        load_embedder("resnet")
