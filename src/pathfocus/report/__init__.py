"""pathfocus.report."""
