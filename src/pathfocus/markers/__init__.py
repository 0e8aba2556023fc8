"""Prognostic markers from region features: prototypes, uniqueness, spatial statistics, survival.

``features`` (the region table) -> ``prototypes`` (K-Means) -> ``uniqueness`` and ``spatial`` ->
``survival`` (one cross-validation split: within-fold C-index, risk groups, Kaplan-Meier, log-rank) ->
``validation`` (repeated cross-validation, its permutation null and the verdict in words);
``pipeline.discover_markers`` runs them all after ``clinical`` has validated the cohort's tables.
``cox_score`` holds the Cox score statistics the folds use; ``defaults`` the CLI's defaults. Importing
this package imports nothing heavy.
"""
