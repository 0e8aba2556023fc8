"""pathfocus.models."""
