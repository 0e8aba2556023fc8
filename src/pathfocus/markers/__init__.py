"""pathfocus.markers."""
