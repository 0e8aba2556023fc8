"""Prognostic markers from region features: prototypes, uniqueness, spatial statistics, survival.

``features`` (the region table) -> ``prototypes`` (K-Means) -> ``uniqueness`` and ``spatial`` ->
``survival`` (cross-validated Cox, Kaplan-Meier, log-rank); ``pipeline.discover_markers`` runs them all
after ``clinical`` has validated the cohort's tables. Importing this package imports nothing heavy.
"""
