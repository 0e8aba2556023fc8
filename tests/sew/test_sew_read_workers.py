"""Reading a slide's windows on a thread pool must give exactly the result of reading them in turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pathfocus.analysis.sew import SEWAnalyzer
from pathfocus.errors import InputError
from pathfocus.markers.extract import slide_region_features


def test_threaded_reads_give_the_sequential_result(sew_run: Path, cohort: Path) -> None:
    sequential, threaded = SEWAnalyzer(sew_run, read_threads=1), SEWAnalyzer(sew_run, read_threads=2)
    for slide in sorted((cohort / "slides").glob("*"))[:2]:
        one, two = sequential.analyze(slide), threaded.analyze(slide)
        assert two.probabilities == one.probabilities
        assert two.regions == one.regions
        reading = sequential.reading
        assert two.pixels_read == one.pixels_read == reading.k * reading.tiles.tile_size ** 2
        assert two.extra | {"read_threads": 0} == one.extra | {"read_threads": 0}
        np.testing.assert_array_equal(two.heatmap, one.heatmap)
    slide = sorted((cohort / "slides").glob("*"))[0]
    grid_one = slide_region_features(sequential, slide, all_tissue=True)
    grid_two = slide_region_features(threaded, slide, all_tissue=True)
    np.testing.assert_array_equal(grid_two.boxes, grid_one.boxes)
    np.testing.assert_array_equal(grid_two.features, grid_one.features)
    np.testing.assert_array_equal(grid_two.crops, grid_one.crops)


def test_read_threads_must_be_positive(sew_run: Path) -> None:
    with pytest.raises(InputError, match="read_threads"):
        SEWAnalyzer(sew_run, read_threads=0)
