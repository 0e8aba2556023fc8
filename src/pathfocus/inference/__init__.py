"""pathfocus.inference."""
