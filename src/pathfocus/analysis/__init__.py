"""pathfocus.analysis: trained runs applied to new data (slide analysis, held-out evaluation, prediction)."""
