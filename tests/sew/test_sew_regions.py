"""SEW's windows are blocks of the baseline's own tile grid, on tissue, with a focus from the superpixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pathfocus.engines.sew.detail import encode_windows
from pathfocus.engines.sew.graphs import POSITION_FEATURES, build_thumbnail_graph
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.engines.tile_settings import TISSUE_MPP
from pathfocus.engines.windows import window_overlap
from pathfocus.models.tile_encoder import TileEncoder
from pathfocus.slide.reader import open_slide
from pathfocus.slide.superpixels import graph_from_slide
from pathfocus.slide.tiling import tile_grid
from pathfocus.slide.tissue import TissueConfig, slide_tissue


def test_windows_hold_exactly_the_baselines_tiles(cohort: Path) -> None:
    reading = SEWReading(n_superpixels=48, window_tiles=2)
    path = next((cohort / "slides").glob("*.tiff"))
    with open_slide(path) as slide:
        graph = build_thumbnail_graph(slide, reading, keep_pixels=True)
        baseline = tile_grid(
            slide, mpp=0.5, size=256, min_tissue=0.5, tissue=slide_tissue(slide, TissueConfig(TISSUE_MPP))
        )
    windows = graph.windows
    np.testing.assert_array_equal(windows.tile_coords, baseline.coords)  # the very same tiles
    truth = np.asarray(Image.open(cohort / "masks" / f"{path.stem}_tissue.png")) > 0
    for window in range(len(windows)):
        tiles = windows.tiles_of(window)
        assert 1 <= len(tiles) <= 4
        x, y, w, h = windows.boxes[window]
        corners = windows.tile_coords[tiles]
        assert corners[:, 0].min() == x and corners[:, 1].min() == y  # the box bounds its tiles
        assert (corners[:, 0] + 256).max() == x + w and (corners[:, 1] + 256).max() == y + h
        assert (corners // 512 == corners[0] // 512).all()  # one 2 x 2 block of the grid
        assert truth[y // 16 : (y + h) // 16, x // 16 : (x + w) // 16].mean() > 0.2  # on drawn tissue
    np.testing.assert_allclose(windows.overlap.sum(axis=1), 1.0, atol=1e-5)


def test_overlap_shares_are_pixel_counts() -> None:
    labels = np.zeros((8, 8), np.int64)
    labels[:, :4] = 1
    labels[:, 4:] = 2
    labels[6:, 6:] = 3
    boxes = np.array([[0, 0, 8, 16], [4, 0, 8, 8], [12, 12, 4, 4]])  # level-0, 2 px per label pixel
    overlap = window_overlap(boxes, labels, 2.0)
    np.testing.assert_allclose(overlap[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(overlap[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(overlap[2], [0.0, 0.0, 1.0])


def test_reading_windows_reads_their_tiles_and_counts_it(cohort: Path) -> None:
    reading = SEWReading(n_superpixels=48, window_tiles=2)
    path = next((cohort / "slides").glob("*.tiff"))
    encoder = TileEncoder("test_resnet", input_size=32)
    with open_slide(path) as slide:
        graph = build_thumbnail_graph(slide, reading)
        before = slide.reads.pixels
        chosen = [0, len(graph.windows) - 1]
        features, owner, pixels, tiles = encode_windows(slide, graph.windows, chosen, reading.tiles, encoder)
        assert sum(pixels) == slide.reads.pixels - before  # what the reader counted
        expected = [int(np.prod(graph.windows.boxes[w, 2:])) for w in chosen]  # level 0 at 0.5 um/px
        assert pixels == expected
        direct = slide.read_region(tuple(int(v) for v in graph.windows.tile_coords[0]), (256, 256), 0.5)
    assert features.shape == (len(owner), encoder.num_features)
    n_first = len(graph.windows.tiles_of(0))
    assert owner.tolist()[:n_first] == [0] * n_first and owner.tolist()[n_first:] == [1] * (
        len(owner) - n_first
    )
    np.testing.assert_array_equal(
        tiles[0][0], direct
    )  # a window's tile is the baseline's tile, pixel for pixel
    with torch.no_grad():
        alone = encoder(torch.from_numpy(direct).permute(2, 0, 1)[None].float() / 255)
    torch.testing.assert_close(features[0:1], alone, rtol=1e-4, atol=1e-5)


def test_node_features_leave_positions_out(cohort: Path) -> None:
    """The global branch must not see where a node is: with positions it memorises which focus of each
    training slide holds the lesion, and focus fails on new slides."""
    reading = SEWReading(n_superpixels=48)
    path = next((cohort / "slides").glob("*.tiff"))
    with open_slide(path) as slide:
        graph = build_thumbnail_graph(slide, reading)
        full, _, _ = graph_from_slide(
            slide, mpp=reading.thumbnail_mpp, n_segments=reading.n_superpixels,
            compactness=reading.superpixel_compactness,
        )
    keep = [i for i, name in enumerate(full.feature_names) if name not in POSITION_FEATURES]
    assert {"x", "y"} <= set(full.feature_names) and len(keep) == len(full.feature_names) - 2
    assert torch.equal(graph.x, full.data.x[:, keep])
