"""pathfocus: KFDE patch classification and SEW whole-slide analysis."""
__version__ = "0.1.0"
