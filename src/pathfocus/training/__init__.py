"""pathfocus.training: Lightning tasks, data modules and the run folders they write."""
