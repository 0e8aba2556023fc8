"""Training SEW: settings, caches, objective, Lightning task and the run folder."""
