"""Training the exhaustive attention-MIL baseline on cached tile features."""
