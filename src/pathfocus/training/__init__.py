"""pathfocus.training."""
