"""The reader against independent OpenSlide reads of the synthetic slides."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import openslide
import pytest

from pathfocus.errors import InputError, MissingMppError, SlideError
from pathfocus.slide.reader import open_slide

SIZE = 2048  # the conftest cohort's level-0 size


def test_synthetic_slide_is_an_aperio_slide_with_mpp(slide_path: Path) -> None:
    raw = openslide.OpenSlide(slide_path)
    assert raw.properties[openslide.PROPERTY_NAME_VENDOR] == "aperio"
    assert float(raw.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
    assert float(raw.properties[openslide.PROPERTY_NAME_OBJECTIVE_POWER]) == pytest.approx(20)
    assert raw.level_dimensions == ((SIZE, SIZE), (SIZE // 4, SIZE // 4), (SIZE // 16, SIZE // 16))
    with open_slide(slide_path) as slide:
        assert slide.mpp == pytest.approx(0.5)
        assert slide.magnification == pytest.approx(20.0)
        assert slide.vendor == "aperio"
        assert slide.level_downsamples == (1.0, 4.0, 16.0)
        assert slide.slide_id == slide_path.stem
        info = slide.info()
    assert {
        "dimensions",
        "level_count",
        "level_downsamples",
        "mpp",
        "magnification",
        "vendor",
        "path",
    } <= set(info)
    assert info["dimensions"] == [SIZE, SIZE] and info["level_count"] == 3


@pytest.mark.parametrize(
    ("mpp", "level", "out_size", "reduce"),
    [(0.5, 0, 200, 1), (2.0, 1, 200, 1), (8.0, 2, 100, 1), (1.0, 0, 200, 2), (4.0, 1, 200, 2)],
)
def test_read_region_matches_openslide(
    slide_path: Path, mpp: float, level: int, out_size: int, reduce: int
) -> None:
    raw = openslide.OpenSlide(slide_path)
    with open_slide(slide_path) as slide:
        assert slide.level_for_mpp(mpp) == level
        out = slide.read_region((64, 96), (out_size, out_size), mpp)
    expected = raw.read_region((64, 96), level, (out_size * reduce, out_size * reduce)).convert("RGB")
    expected = np.asarray(expected.reduce(reduce) if reduce > 1 else expected)
    assert out.dtype == np.uint8 and out.shape == (out_size, out_size, 3)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("base_xy", [(64, 96), (SIZE - 100, SIZE - 50)])  # inside, and past the edge
def test_public_api_fallback_reads_the_same_pixels(slide_path: Path, base_xy: tuple[int, int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path uses openslide-python's private read functions (versions pinned in pyproject.toml);
    where they are missing the reader falls back to the public API, which must give the same pixels."""
    from pathfocus.slide import reader

    assert reader._FAST_READ, "the pinned openslide-python should offer the fast path"
    with open_slide(slide_path) as slide:
        fast = slide.read_region(base_xy, (256, 256), 0.5).copy()
        rgba_fast = reader._read_rgba(slide._handle(), base_xy, 0, (256, 256))
    monkeypatch.setattr(reader, "_FAST_READ", False)
    with open_slide(slide_path) as slide:
        public = slide.read_region(base_xy, (256, 256), 0.5)
        rgba_public = reader._read_rgba(slide._handle(), base_xy, 0, (256, 256))
    np.testing.assert_array_equal(rgba_public, rgba_fast)
    np.testing.assert_array_equal(public, fast)


def test_read_between_levels_uses_finer_level_and_resizes_down(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        level, read_size, base_size = slide.read_plan((100, 60), 3.0)
        out = slide.read_region((0, 0), (100, 60), 3.0)
    assert level == 1 and read_size == (150, 90) and base_size == (600, 360)
    assert out.shape == (60, 100, 3)


def test_outside_the_slide_is_white(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        out = slide.read_region((SIZE - 100, SIZE - 50), (256, 256), 0.5)
    assert (out[60:, :] == 255).all() and (out[:, 110:] == 255).all()


def test_finer_than_level0_is_refused(slide_path: Path) -> None:
    with open_slide(slide_path) as slide, pytest.raises(InputError, match="up-sampling"):
        slide.read_region((0, 0), (64, 64), 0.25)


def test_thumbnail_comes_from_the_pyramid(slide_path: Path) -> None:
    raw = openslide.OpenSlide(slide_path)
    with open_slide(slide_path) as slide:
        thumb = slide.thumbnail(8.0)
        half = slide.thumbnail(4.0)
    assert thumb.shape == (SIZE // 16, SIZE // 16, 3)
    assert np.array_equal(
        thumb, np.asarray(raw.read_region((0, 0), 2, (SIZE // 16, SIZE // 16)).convert("RGB"))
    )
    assert half.shape == (SIZE // 8, SIZE // 8, 3)
    level1 = raw.read_region((0, 0), 1, (SIZE // 4, SIZE // 4)).convert("RGB")
    assert np.abs(half.astype(int) - np.asarray(level1.reduce(2)).astype(int)).max() <= 1


def test_missing_mpp_needs_an_override(bad_slides: dict[str, Path]) -> None:
    slide = open_slide(bad_slides["nompp"])
    assert slide.info()["mpp"] is None
    with pytest.raises(MissingMppError, match=r"nompp.*--slide-mpp"):
        _ = slide.mpp
    assert open_slide(bad_slides["nompp"], mpp=0.25).mpp == 0.25


@pytest.mark.parametrize(
    ("name", "words"),
    [("missing", "does not exist"), ("notaslide", "not a slide"), ("truncated", "truncated")],
)
def test_bad_files_raise_one_sentence(bad_slides: dict[str, Path], name: str, words: str) -> None:
    with pytest.raises(SlideError, match=words) as caught:
        open_slide(bad_slides[name])
    assert bad_slides[name].name in str(caught.value) and "\n" not in str(caught.value)


def test_unreadable_tiles_fail_at_read_time(bad_slides: dict[str, Path]) -> None:
    slide = open_slide(bad_slides["corrupt_tiles"])
    with pytest.raises(SlideError, match=r"corrupt_tiles.*corrupt"):
        slide.read_region((0, 0), (256, 256), 0.5)


def test_slide_pickles_without_its_handle(slide_path: Path) -> None:
    slide = open_slide(slide_path)
    before = slide.read_region((300, 300), (64, 64), 0.5)
    clone = pickle.loads(pickle.dumps(slide))
    assert clone._osr is None
    assert np.array_equal(clone.read_region((300, 300), (64, 64), 0.5), before)


def test_the_read_log_counts_what_openslide_was_asked_for(slide_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read is counted at the level and size it reached OpenSlide (an independent count agrees)."""
    from pathfocus.slide import reader

    seen: list[int] = []
    original = reader._read_rgba

    def counting(handle, base_xy, level, size):  # type: ignore[no-untyped-def]
        seen.append(size[0] * size[1])
        return original(handle, base_xy, level, size)

    monkeypatch.setattr(reader, "_read_rgba", counting)
    with open_slide(slide_path) as slide:
        slide.read_region((0, 0), (100, 60), 3.0)  # level 1 read at 150 x 90, resized down
        slide.read_region((64, 64), (256, 256), 0.5)
        slide.thumbnail(8.0)
        assert slide.reads.pixels == sum(seen) and slide.reads.reads == 3
        assert slide.reads.by_level()[1] == 150 * 90 and slide.reads.by_level()[0] == 256 * 256
        clone = pickle.loads(pickle.dumps(slide))
    assert clone.reads.pixels == sum(seen)
