"""pathfocus.data.synthetic."""
