"""Whole-slide input: everything that turns a slide file into what the models consume.

``reader`` (open_slide, Slide: levels, mpp, read_region at an mpp, thumbnails), ``tissue`` (masks and
polygons from the thumbnail), ``tiling`` (tile grids and their HDF5 form; TileDataset lives in
``dataset``), ``superpixels`` (SLIC region adjacency graphs for GCNs), ``export`` (GeoJSON for QuPath)
and ``batch`` (one job per slide over a cohort, with status and resume).
"""
