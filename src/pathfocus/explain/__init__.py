"""pathfocus.explain."""
