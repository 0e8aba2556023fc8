"""Thumbnails come from the coarsest pyramid level that is fine enough, never level 0 when a lower level
will do; a slide without such a level is read in strips, not whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pathfocus.slide import reader
from pathfocus.slide.reader import open_slide


@pytest.mark.parametrize(("mpp", "level"), [(8.0, 2), (4.0, 2), (2.0, 1), (1.0, 1), (0.5, 0)])
def test_the_thumbnail_is_read_from_the_coarsest_level_fine_enough(pyramid: Path, mpp: float,
                                                                   level: int) -> None:
    with open_slide(pyramid) as slide:  # levels at 0.25, 1 and 4 um/px
        thumbnail = slide.thumbnail(mpp)
        assert slide.reads.by_level().keys() == {level}
        assert slide.reads.reads == 1
    assert thumbnail.shape == (round(4096 * 0.25 / mpp),) * 2 + (3,)


def test_sew_builds_its_thumbnail_graph_from_level_2_alone(pyramid: Path) -> None:
    from pathfocus.engines.sew.graphs import build_thumbnail_graph
    from pathfocus.engines.sew.reading import SEWReading

    with open_slide(pyramid) as slide:
        graph = build_thumbnail_graph(slide, SEWReading(n_superpixels=48))
        assert slide.reads.by_level().keys() == {2}
    assert graph.x.shape[0] <= 2 * 48 and len(graph.windows) > 0


def test_a_slide_without_a_pyramid_is_read_in_strips(single_level: Path, pyramid: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with open_slide(single_level) as slide:
        assert slide.level_count == 1
        whole = slide.thumbnail(8.0)
        assert slide.reads.reads == 1
        monkeypatch.setattr(reader, "STRIP_READ_PIXELS", 4096 * 256)
        strips = slide.thumbnail(8.0)
        reads = slide.reads.reads - 1
    assert reads == 16  # 4096 rows of level 0, 256 a strip
    np.testing.assert_array_equal(strips, whole)
    with open_slide(pyramid) as slide:  # the same slide's pyramid level, up to its JPEG
        assert np.abs(slide.thumbnail(8.0).astype(float) - strips).mean() < 3


def test_sew_thumbnail_is_capped_on_large_slides(pyramid: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slide whose 8 um/px thumbnail would pass THUMBNAIL_MAX_SIDE gets a coarser one (cap scaled down
    here: 1024 um of slide, a 64 px cap), so SEW's thumbnail work does not grow with the slide."""
    from pathfocus.engines.sew import graphs
    from pathfocus.engines.sew.reading import SEWReading

    monkeypatch.setattr(graphs, "THUMBNAIL_MAX_SIDE", 64)
    with open_slide(pyramid) as slide:
        graph = graphs.build_thumbnail_graph(slide, SEWReading(n_superpixels=16), keep_pixels=True)
        assert slide.reads.by_level() == {2: 256 * 256}  # the 4 um/px level, once: no 8 um/px mask besides
    assert graph.thumbnail_mpp == pytest.approx(16.0)
    assert graph.mask.shape == graph.thumbnail.shape[:2] == (64, 64)
    assert len(graph.windows) > 0 and np.allclose(graph.windows.overlap.sum(axis=1), 1)
