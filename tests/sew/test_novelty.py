"""Window novelty (the default pseudo-label source): nearest lesion-free windows, checked by brute force."""

from __future__ import annotations

import numpy as np
import torch

from pathfocus.training.sew.losses import UNKNOWN, pseudo_labels
from pathfocus.training.sew.novelty import window_features, window_novelty


def _slide(generator: torch.Generator, centres: torch.Tensor, n: int) -> torch.Tensor:
    picks = torch.randint(len(centres), (n,), generator=generator)
    noise = 0.05 * torch.randn(n, centres.shape[1], generator=generator)
    return torch.nn.functional.normalize(centres[picks] + noise, dim=1)


def _brute_force(slides: list[np.ndarray], free: list[bool], k: int) -> list[np.ndarray]:
    out = []
    for i, windows in enumerate(slides):
        references = np.concatenate([s for j, s in enumerate(slides) if free[j] and j != i])
        distance = 1.0 - windows @ references.T
        out.append(np.sort(distance, axis=1)[:, :k].mean(axis=1))
    return out


def test_window_features_are_normalised_means_of_their_tiles() -> None:
    tiles = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    owner = torch.tensor([0, 0, 1, 2])
    features = window_features(tiles, owner, 3)
    expected = np.array([[1.0, 0.0], [0.0, 1.0], [2 ** -0.5, 2 ** -0.5]])
    np.testing.assert_allclose(features.numpy(), expected, atol=1e-6)


def test_novelty_matches_brute_force_and_finds_the_window_unlike_any_lesion_free_one() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator)
    slides = [_slide(generator, centres, 30) for _ in range(5)]
    lesion = torch.nn.functional.normalize(torch.randn(1, 16, generator=generator), dim=1)
    slides[4] = torch.cat([slides[4], lesion])  # the slide with lesion: one window unlike every reference
    free = [True, True, True, True, False]
    novelty = window_novelty(slides, free, neighbours=3)
    expected = _brute_force([s.numpy() for s in slides], free, k=3)
    for got, want in zip(novelty, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert int(novelty[4].argmax()) == 30
    # the lesion window ranks first, so it alone (pseudo_k 1) takes the slide's label
    labels = pseudo_labels(novelty[4], target=1, normal_class=0, k=1)
    assert labels[30] == 1 and (labels[:30] != 1).all()
    assert (labels == UNKNOWN).sum() == 29


def test_a_lesion_free_slide_is_not_its_own_reference() -> None:
    generator = torch.Generator().manual_seed(1)
    centres = torch.randn(3, 8, generator=generator)
    slides = [_slide(generator, centres, 20) for _ in range(3)]
    odd = torch.nn.functional.normalize(torch.randn(1, 8, generator=generator), dim=1)
    slides[0] = torch.cat([slides[0], odd, odd])  # two identical windows: each other's match if self counted
    novelty = window_novelty(slides, [True, True, True], neighbours=1)
    assert float(novelty[0][-1]) > 0.2
    assert float(novelty[0][-1]) > float(novelty[0][:20].max())


def test_training_with_attention_pseudo_labels_records_them(cohort, tiny_sew, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Novelty is the default everywhere else in the suite; the attention ranking must keep working."""
    import json
    import math

    from pathfocus.training.sew.run import train_sew

    summary = train_sew(settings(cohort / "labels.csv", tiny_sew, epochs=1, batch_size=2,
                                 pseudo_source="attention"), tmp_path / "run", progress=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["training"]["pseudo_source"] == "attention"
    assert math.isfinite(summary["val_loss"])


def test_novelty_without_a_lesion_free_slide_is_refused() -> None:
    """No reference means no ranking: the caller falls back to attention instead of ranking by zeros."""
    import pytest

    from pathfocus.errors import InputError

    slides = [torch.nn.functional.normalize(torch.randn(5, 4), dim=1) for _ in range(2)]
    with pytest.raises(InputError, match="lesion-free"):
        window_novelty(slides, [False, False])


def test_without_lesion_free_training_slides_training_ranks_by_attention(  # type: ignore[no-untyped-def]
    cohort, tiny_sew, settings, tmp_path, caplog
) -> None:
    """Every training slide has a lesion: novelty has no references, so training says so and goes on."""
    import logging
    import math

    import pandas as pd

    from pathfocus.training.sew.run import train_sew

    labels = pd.read_csv(cohort / "labels.csv")
    subset = ["train" if label == 1 else "val" for label in labels["label"]]
    splits = pd.DataFrame({"slide_id": labels["slide_id"], "subset": subset})
    splits.to_csv(tmp_path / "splits.csv", index=False)
    config = settings(cohort / "labels.csv", tiny_sew, epochs=1, batch_size=2)
    config.slides.splits_csv = str(tmp_path / "splits.csv")
    with caplog.at_level(logging.WARNING, logger="pathfocus.training.sew.data"):
        summary = train_sew(config, tmp_path / "run", progress=False)
    assert "no references" in caplog.text
    assert math.isfinite(summary["val_loss"])
