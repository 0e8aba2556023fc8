"""Training patch classifiers (KFDE, its ablations, baseline CNNs)."""
