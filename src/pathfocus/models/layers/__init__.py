"""pathfocus.models.layers."""
