"""Self-supervised tile encoders: SimCLR on a cohort's own training tiles, the offline default encoder."""
