"""pathfocus.data."""
