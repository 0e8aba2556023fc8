"""pathfocus.slide."""
