"""Defaults of the markers' survival statistics, importable without numpy or lifelines (the CLI shows them).

Why these values: docs/design.md, "Markers: an honest cross-validated C-index".
"""

from __future__ import annotations

FOLDS = 3  # held-out folds of ~8 slides in a 24-slide cohort: enough comparable pairs in each
REPEATS = 20  # fold assignments the C-index and log-rank statistic are averaged over
PERMUTATIONS = 200  # shuffles of the outcomes for the null: p-values down to 1/201
# NOTE: about 10 events per candidate variable are needed for stable Cox estimates (Peduzzi et al. 1995);
# with the default two candidate markers that is 20 events.
MIN_EVENTS = 20
