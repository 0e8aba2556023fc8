"""pathfocus.engines: what training and analysis share (SEW's forward over a slide, tile encoding, patch
inference). Engines read slides and run models; they do not train and write no run folders."""
