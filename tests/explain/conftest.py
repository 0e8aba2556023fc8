"""Tiny models and images for the explain tests: a planted-blob task where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

SIZE = 32
BLOB = 6


class BlobNet(nn.Module):
    """Two full-resolution convolutions, global pooling, a linear head; declares its Grad-CAM target
    the way pathfocus models do."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 2)

    def gradcam_target_layers(self) -> list[nn.Module]:
        return [self.features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def blob_images(n: int, rng: np.random.Generator, with_red: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grey noise with a blue distractor square in every image and, when ``with_red``, a red square
    (the only thing that separates the classes); returns images N×3×S×S and the red squares' masks."""
    images = rng.normal(0.5, 0.08, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    masks = np.zeros((n, SIZE, SIZE), dtype=bool)
    for i in range(n):
        spots = rng.choice((SIZE - BLOB) // BLOB, size=2, replace=False) * BLOB
        rows = rng.integers(0, SIZE - BLOB, size=2)
        y, x = rows[0], spots[0]
        images[i, :, y:y + BLOB, x:x + BLOB] = np.array([0.2, 0.2, 0.95])[:, None, None]  # blue distractor
        if with_red:
            y, x = rows[1], spots[1]
            images[i, :, y:y + BLOB, x:x + BLOB] = np.array([0.95, 0.2, 0.2])[:, None, None]
            masks[i, y:y + BLOB, x:x + BLOB] = True
    return images, masks


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine two threads that wait on
    each other run ten times slower than one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def blobs():
    """The image maker (``blobs(n, rng, with_red)``); ``blobs.size`` is the side in pixels."""
    blob_images.size = SIZE
    return blob_images


@pytest.fixture(scope="session")
def trained_blobnet(one_thread) -> BlobNet:
    """BlobNet after 80 Adam steps on the planted-blob task (well under a second on two cores)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = BlobNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(80):
        red, _ = blob_images(16, rng, with_red=True)
        plain, _ = blob_images(16, rng, with_red=False)
        x = torch.from_numpy(np.concatenate([plain, red]))
        y = torch.tensor([0] * 16 + [1] * 16)
        loss = nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.fixture
def untrained_blobnet(one_thread) -> BlobNet:
    torch.manual_seed(1)
    return BlobNet().eval()
