"""Prototypes: K-Means clusters of region features, the vocabulary markers are spoken in.

Features are standardised (each dimension to zero mean, unit variance over the cohort's regions) so no
dimension dominates the distances. K is either given or chosen as the K in a small range (3-8) with the
highest mean silhouette, a criterion that uses no outcome, so fitting prototypes on the whole cohort
leaks nothing into the survival statistics that follow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pathfocus.errors import InputError

log = logging.getLogger(__name__)

# NOTE: K starts at 3. Features from a model trained for the slide label split first along that label:
# on the 24-slide synthetic cohort (docs/design.md) the best-silhouette K = 2 put the lesion windows
# (mean lesion score 0.89) against everything else, merging every other tissue pattern into one prototype.
K_RANGE = (3, 8)
SILHOUETTE_SAMPLE = 3000  # silhouette is quadratic in the number of regions: estimate it on a sample
# NOTE: on small tables OpenMP start-up and contention cost K-Means 20x its work on a busy machine, so
# below this many regions it runs single-threaded.
SINGLE_THREAD_BELOW = 20000


@dataclass
class Prototypes:
    """K-Means prototypes of a cohort's regions.

    Attributes:
        k: number of prototypes.
        labels: N prototype index per region.
        centroids: K x D centroids in the original feature units.
        scaled_features: N x D standardised features the clustering ran on (for separability).
        criterion: how K was chosen, in words.
        k_scores: mean silhouette per tried K (empty when K was given).
    """

    k: int
    labels: np.ndarray
    centroids: np.ndarray
    scaled_features: np.ndarray
    scaled_centroids: np.ndarray
    criterion: str
    k_scores: dict[int, float]

    def proportions(self, slide_ids: np.ndarray, order: list[str]) -> pd.DataFrame:
        """Per-slide fraction of its regions in each prototype (rows ``order``, columns ``p0..``)."""
        counts = pd.crosstab(pd.Series(slide_ids, name="slide_id"), pd.Series(self.labels, name="prototype"))
        counts = counts.reindex(index=order, columns=range(self.k), fill_value=0)
        totals = counts.sum(axis=1).replace(0, np.nan)
        frame = counts.div(totals, axis=0).fillna(0.0)
        frame.columns = [f"p{i}" for i in range(self.k)]
        return frame

    def examples(self, n: int = 6) -> dict[int, np.ndarray]:
        """Indices of the ``n`` regions nearest each centroid (the prototype's most typical members)."""
        result = {}
        for cluster in range(self.k):
            members = np.flatnonzero(self.labels == cluster)
            distances = np.linalg.norm(self.scaled_features[members] - self.scaled_centroids[cluster], axis=1)
            result[cluster] = members[np.argsort(distances, kind="stable")[:n]]
        return result


def _kmeans(scaled: np.ndarray, k: int, seed: int) -> KMeans:
    with threadpool_limits(1 if len(scaled) < SINGLE_THREAD_BELOW else None):
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(scaled)


def fit_prototypes(features: np.ndarray, k: int | None = None, seed: int = 0,
                   k_range: tuple[int, int] = K_RANGE) -> Prototypes:
    """Cluster region features into K prototypes (K given, or chosen by the best mean silhouette).

    Args:
        features: N x D region features.
        k: number of prototypes; None chooses it from ``k_range`` (inclusive) by silhouette.
        seed: random state of K-Means and of the silhouette sample.
        k_range: smallest and largest K tried when ``k`` is None.
    """
    n = len(features)
    distinct = len(np.unique(features, axis=0))
    if k is not None:
        if k < 2:
            msg = f"--k {k} is too small; markers need at least 2 prototypes to compare"
            raise InputError(msg)
        if k >= distinct:
            msg = (f"--k {k} needs more than the {distinct} distinct regions available (silhouettes need "
                   "fewer prototypes than regions); pass a smaller --k")
            raise InputError(msg)
    elif distinct < 3:
        msg = f"only {distinct} distinct regions in the cohort; K-Means needs at least 3 to choose K"
        raise InputError(msg)
    scaler = StandardScaler().fit(features)
    scaled = scaler.transform(features)
    scores: dict[int, float] = {}
    if k is None:
        high = min(k_range[1], distinct - 1)
        low = max(2, min(k_range[0], high))
        rng_seed = np.random.RandomState(seed)
        sample = min(n, SILHOUETTE_SAMPLE)
        for candidate in range(low, high + 1):
            labels = _kmeans(scaled, candidate, seed).labels_
            if len(np.unique(labels)) < 2:
                continue
            scores[candidate] = float(silhouette_score(scaled, labels, sample_size=sample,
                                                       random_state=rng_seed))
        if not scores:
            msg = "K-Means found fewer than 2 distinct clusters for every K tried; pass --k explicitly"
            raise InputError(msg)
        k = max(scores, key=lambda c: (scores[c], -c))
        criterion = f"highest mean silhouette over K = {low}..{high}"
        log.info("chose K = %d prototypes (%s)", k, criterion)
    else:
        criterion = "given by the user"
    model = _kmeans(scaled, k, seed)
    centroids = scaler.inverse_transform(model.cluster_centers_)
    return Prototypes(k=k, labels=model.labels_.astype(int), centroids=centroids, scaled_features=scaled,
                      scaled_centroids=model.cluster_centers_, criterion=criterion, k_scores=scores)
