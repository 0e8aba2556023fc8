"""SEW as an engine: its reading settings, the graphs it reads from a slide and its forward pass."""
