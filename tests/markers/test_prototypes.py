"""Prototypes: K chosen by silhouette, proportions and typical members."""

from __future__ import annotations

import numpy as np
import pytest

from pathfocus.errors import InputError
from pathfocus.markers.prototypes import fit_prototypes


def _blobs(k: int = 4, per: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(k, 6) * 12.0
    truth = np.repeat(np.arange(k), per)
    return centres[truth] + rng.normal(0, 1, (k * per, 6)), truth


def _agreement(labels: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of regions in the majority true cluster of their prototype (purity)."""
    return sum(np.bincount(truth[labels == c]).max() for c in np.unique(labels)) / len(labels)


def test_silhouette_recovers_the_number_of_well_separated_clusters():
    features, truth = _blobs(k=4)
    prototypes = fit_prototypes(features, seed=0)
    assert prototypes.k == 4
    assert set(prototypes.k_scores) == set(range(3, 9))
    assert max(prototypes.k_scores, key=prototypes.k_scores.get) == 4
    assert "silhouette" in prototypes.criterion
    assert _agreement(prototypes.labels, truth) == 1.0
    # centroids are in the original units: each true centre is near one centroid
    for centre in np.eye(4, 6) * 12.0:
        assert np.min(np.linalg.norm(prototypes.centroids - centre, axis=1)) < 1.0


def test_given_k_proportions_and_examples():
    features, _ = _blobs(k=3, per=10)
    prototypes = fit_prototypes(features, k=3, seed=1)
    assert prototypes.criterion == "given by the user" and prototypes.k_scores == {}
    slide_ids = np.array(["a"] * 15 + ["b"] * 15)
    proportions = prototypes.proportions(slide_ids, ["a", "b", "c"])
    for slide in ("a", "b"):
        counts = np.bincount(prototypes.labels[slide_ids == slide], minlength=3)
        np.testing.assert_allclose(proportions.loc[slide].to_numpy(), counts / 15)
    np.testing.assert_allclose(proportions.loc["c"].to_numpy(), 0.0)  # no regions: all zero
    examples = prototypes.examples(n=4)
    for cluster, members in examples.items():
        assert (prototypes.labels[members] == cluster).all()
        distance = np.linalg.norm(prototypes.scaled_features - prototypes.scaled_centroids[cluster], axis=1)
        others = np.setdiff1d(np.flatnonzero(prototypes.labels == cluster), members)
        assert distance[members].max() <= distance[others].min()


def test_bad_k_is_refused():
    features, _ = _blobs(k=2, per=3)
    with pytest.raises(InputError, match="too small"):
        fit_prototypes(features, k=1)
    with pytest.raises(InputError, match="distinct regions"):
        fit_prototypes(features, k=7)
    with pytest.raises(InputError, match="at least 3"):
        fit_prototypes(np.ones((10, 3)))
