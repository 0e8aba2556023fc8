"""The look-alike cohort: a thumbnail shows where the foci are but not which is the lesion; 0.5 um/px does.

One cohort of 56 small slides (2560 px at 0.5 um/px, 3-4 foci of 140-200 um; about 195 foci, 28 of
them lesions) is built once. Every focus gets the features a low-resolution model could use (its
superpixel-graph node features at 8 um/px, averaged over the superpixels under it, and statistics of
the thumbnail pixels inside it) and a simple high-magnification feature (nuclei segmented on the
haematoxylin of a 0.5 um/px crop). Logistic regressions scored out of fold on held-out slides must be
near chance on the first and near perfect on the second.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2hed
from skimage.filters import threshold_otsu
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathfocus.data.synthetic.lookalike import FociConfig, LookalikeRecipe, write_lookalike_slide
from pathfocus.data.synthetic.slides import make_synthetic_cohort
from pathfocus.errors import InputError
from pathfocus.slide.reader import open_slide

N_SLIDES = 56
SIZE = 2560
FOCI = FociConfig(n_foci=(3, 4), diameter_um=(140.0, 200.0))
THUMB_MPP = 8.0  # one thumbnail pixel = one mask pixel = 16 level-0 pixels
CROP = 192  # high-magnification crop side at 0.5 um/px (96 um, inside the smallest focus)
NEAR_CHANCE = 0.65
SEPARATES = 0.9


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lookalike")
    return make_synthetic_cohort(
        out, n_slides=N_SLIDES, seed=0, size=SIZE, task="lookalike", foci=FOCI, workers=2
    )


@pytest.fixture(scope="module")
def foci(cohort: Path) -> pd.DataFrame:
    """One row per focus: its slide, label and kind, thumbnail features and high-magnification features."""
    from pathfocus.slide.superpixels import graph_from_slide  # torch: imported after the worker pool ran

    table = pd.read_csv(cohort / "foci.csv").merge(pd.read_csv(cohort / "labels.csv"), on="slide_id")
    rows = []
    for slide_id, group in table.groupby("slide_id", sort=True):
        with open_slide(cohort / "slides" / f"{slide_id}.tiff") as slide:
            graph, thumb, _ = graph_from_slide(slide, mpp=THUMB_MPP, texture=True)
            hed = rgb2hed(thumb)
            stroma = _pixel_features(thumb, hed, _stroma(cohort, slide_id))
            for focus in group.itertuples():
                disc = _disc(thumb.shape[:2], focus, 0.85)
                pixels = _pixel_features(thumb, hed, disc)
                crop = slide.read_region(
                    (round(focus.x) - CROP // 2, round(focus.y) - CROP // 2), (CROP, CROP), 0.5
                )
                rows.append(
                    {
                        "slide_id": slide_id,
                        "label": focus.label,
                        "lesion": int(focus.kind == "lesion"),
                        "superpixel": _superpixel_features(graph, disc),
                        "pixels": pixels,
                        "darker_red": stroma[0] - pixels[0],
                        "hema_ratio": pixels[6] / stroma[6],
                        "nuclei": _nucleus_features(crop),
                    }
                )
    return pd.DataFrame(rows)


def _disc(shape: tuple[int, int], focus: object, scale: float) -> np.ndarray:
    """Thumbnail pixels within ``scale`` x the focus radius of its centre (foci.csv is in level-0 px)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    per_px = THUMB_MPP / 0.5
    distance = np.hypot(cols + 0.5 - focus.x / per_px, rows + 0.5 - focus.y / per_px)
    return distance < scale * focus.radius / per_px


def _stroma(cohort: Path, slide_id: str) -> np.ndarray:
    """Plain stroma of a slide at thumbnail resolution: tissue that is no focus and no pattern P."""
    masks = {
        name: np.asarray(Image.open(cohort / "masks" / f"{slide_id}_{name}.png")) > 0
        for name in ("tissue", "lesion", "lookalike", "pattern")
    }
    other = ndimage.binary_dilation(masks["lesion"] | masks["lookalike"] | masks["pattern"], iterations=3)
    return ndimage.binary_erosion(masks["tissue"], iterations=3) & ~other


def _superpixel_features(graph: object, disc: np.ndarray) -> np.ndarray:
    """Mean node features (colour, stain, texture; not position or size) of the superpixels under a focus."""
    labels = graph.labels
    inside = np.bincount(labels[disc], minlength=graph.num_nodes + 1)[1:]
    total = np.bincount(labels.ravel(), minlength=graph.num_nodes + 1)[1:]
    nodes = np.flatnonzero(inside >= 0.5 * total)
    if nodes.size == 0:  # a small focus cut by superpixel borders: the one that overlaps it most
        nodes = np.array([int(np.argmax(inside))])
    keep = [i for i, name in enumerate(graph.feature_names) if name not in ("x", "y", "area")]
    return graph.data.x.numpy()[nodes][:, keep].mean(axis=0)


def _pixel_features(thumb: np.ndarray, hed: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Mean and std of RGB, haematoxylin and eosin (``hed`` = ``rgb2hed(thumb)``) over ``where``."""
    rgb = thumb[where].astype(np.float64)
    hed = hed[where]
    return np.r_[
        rgb.mean(0), rgb.std(0), hed[:, 0].mean(), hed[:, 0].std(), hed[:, 1].mean(), hed[:, 1].std()
    ]


def _nucleus_features(crop: np.ndarray) -> np.ndarray:
    """Median area, area CV, median eccentricity and count of nuclei segmented on haematoxylin.

    Otsu on the haematoxylin channel; holes filled (a vesicular nucleus is an inked rim) and specks
    opened away; areas and second moments per nucleus from bincounts (regionprops is 100x slower).
    """
    hema = rgb2hed(crop)[..., 0]
    mask = ndimage.binary_opening(ndimage.binary_fill_holes(hema > threshold_otsu(hema)))
    labels, count = ndimage.label(mask)
    flat = labels.ravel()
    rows, cols = (axis.ravel().astype(np.float64) for axis in np.indices(mask.shape))
    area = np.bincount(flat, minlength=count + 1)[1:].astype(np.float64)
    moments = [
        np.bincount(flat, v, minlength=count + 1)[1:] / np.maximum(area, 1)
        for v in (rows, cols, rows * rows, cols * cols, rows * cols)
    ]
    var_r = moments[2] - moments[0] ** 2
    var_c = moments[3] - moments[1] ** 2
    cov = moments[4] - moments[0] * moments[1]
    spread = np.sqrt(((var_r - var_c) / 2) ** 2 + cov**2)
    major, minor = (var_r + var_c) / 2 + spread, (var_r + var_c) / 2 - spread
    nuclei = area >= 15
    eccentricity = np.sqrt(np.clip(1 - minor / np.maximum(major, 1e-9), 0, 1))[nuclei]
    area = area[nuclei]
    return np.r_[np.median(area), area.std() / area.mean(), np.median(eccentricity), nuclei.sum()]


def _out_of_fold(features: np.ndarray, target: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Probabilities of a standardised logistic regression for samples it was not fitted on (5 folds)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if groups is None:
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
    else:  # foci of one slide stay in one fold: scored on held-out slides
        folds = StratifiedGroupKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(model, features, target, groups=groups, cv=folds, method="predict_proba")[:, 1]


def _thumbnail_matrix(foci: pd.DataFrame) -> np.ndarray:
    return np.c_[np.stack(foci["superpixel"]), np.stack(foci["pixels"])]


def test_cohort_files_masks_and_foci_agree(cohort: Path) -> None:
    labels = pd.read_csv(cohort / "labels.csv")
    clinical = pd.read_csv(cohort / "clinical.csv")
    truth = pd.read_csv(cohort / "truth.csv")
    table = pd.read_csv(cohort / "foci.csv")
    assert list(labels.columns) == ["slide_id", "path", "label"]
    assert list(clinical.columns) == ["slide_id", "time", "event"]
    assert list(table.columns) == ["slide_id", "kind", "x", "y", "radius"]
    assert len(labels) == N_SLIDES and labels["label"].sum() == N_SLIDES // 2
    assert (clinical["time"] > 0).all() and set(clinical["event"]) <= {0, 1}
    kinds = table.groupby("slide_id")["kind"].agg(lambda k: int((k == "lesion").sum()))
    assert (kinds == labels.set_index("slide_id")["label"]).all()  # one lesion focus per positive slide
    assert (table.groupby("slide_id").size() == truth.set_index("slide_id")["n_foci"]).all()
    assert table.groupby("slide_id").size().between(*FOCI.n_foci).all()
    # radius in level-0 px at 0.5 um/px = diameter in um
    assert table["radius"].between(FOCI.diameter_um[0], FOCI.diameter_um[1]).all()
    for row in truth.itertuples():
        masks = {
            name: np.asarray(Image.open(cohort / "masks" / f"{row.slide_id}_{name}.png")) > 0
            for name in ("tissue", "lesion", "pattern", "lookalike")
        }
        assert masks["tissue"].shape == (SIZE // 16, SIZE // 16)
        for name in ("lesion", "pattern", "lookalike"):
            assert not (masks[name] & ~masks["tissue"]).any()
        assert (
            not (masks["lesion"] & masks["lookalike"]).any()
            and not (masks["pattern"] & masks["lookalike"]).any()
        )
        assert masks["lesion"].any() == (row.label == 1) and masks["lookalike"].any()
        assert masks["lesion"].sum() / masks["tissue"].sum() == pytest.approx(row.lesion_fraction)
        mine = table[table["slide_id"] == row.slide_id]
        for kind in ("lesion", "lookalike"):
            near = np.zeros_like(masks["tissue"])
            for focus in mine[mine["kind"] == kind].itertuples():
                near |= _disc(near.shape, focus, 1.2)
                assert masks[kind][_disc(near.shape, focus, 0.8)].all()  # each focus is drawn solid...
            assert not (masks[kind] & ~near).any()  # ...and nothing of its kind lies outside the foci
        centres = mine[["x", "y"]].to_numpy()
        gaps = np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1))
        reach = mine["radius"].to_numpy()[:, None] + mine["radius"].to_numpy()[None]
        assert (gaps[~np.eye(len(mine), dtype=bool)] > reach[~np.eye(len(mine), dtype=bool)]).all()


def test_thumbnail_shows_the_foci_but_not_which_is_the_lesion(foci: pd.DataFrame) -> None:
    # the thumbnail shows WHERE the foci are: every focus is clearly darker than the slide's stroma
    assert (foci["darker_red"] > 10).all() and (foci["hema_ratio"] > 1.5).all()
    lesion = foci["lesion"].to_numpy()
    slides = foci["slide_id"].to_numpy()
    features = _thumbnail_matrix(foci)
    focus_auc = roc_auc_score(lesion, _out_of_fold(features, lesion, slides))
    superpixel_auc = roc_auc_score(lesion, _out_of_fold(np.stack(foci["superpixel"]), lesion, slides))
    # slide level, held-out slides: (a) the most lesion-like focus of each slide by the focus model,
    # (b) a model on per-slide thumbnail summaries (mean over foci and the spread between foci)
    score = foci.assign(p=_out_of_fold(features, lesion, slides)).groupby("slide_id")
    slide_label = score["label"].first().to_numpy()
    max_auc = roc_auc_score(slide_label, score["p"].max().to_numpy())
    summary = np.stack(
        [
            np.r_[m.mean(0), m.max(0) - m.min(0)]
            for m in (np.stack(g["pixels"]) for _, g in foci.groupby("slide_id"))
        ]
    )
    summary_auc = roc_auc_score(slide_label, _out_of_fold(summary, slide_label))
    aucs = {
        "focus": focus_auc,
        "superpixel": superpixel_auc,
        "slide_max": max_auc,
        "slide_summary": summary_auc,
    }
    print(
        "thumbnail AUCs", {k: round(v, 3) for k, v in aucs.items()}, f"{int(lesion.sum())}/{len(lesion)} foci"
    )
    assert len(foci) >= 150 and lesion.sum() >= N_SLIDES // 2
    assert all(auc <= NEAR_CHANCE for auc in aucs.values()), aucs


def test_high_magnification_tells_them_apart(foci: pd.DataFrame) -> None:
    lesion = foci["lesion"].to_numpy()
    nuclei = np.stack(foci["nuclei"])
    auc = roc_auc_score(lesion, _out_of_fold(nuclei, lesion, foci["slide_id"].to_numpy()))
    print("0.5 um/px AUC", round(auc, 3))
    assert auc >= SEPARATES
    area = nuclei[:, 0]
    assert np.median(area[lesion == 1]) > 2 * np.median(area[lesion == 0])  # fewer, larger nuclei
    assert np.median(nuclei[lesion == 1, 3]) < np.median(nuclei[lesion == 0, 3])


def test_label_changes_only_the_lesion_focus_cells(tmp_path: Path) -> None:
    """The same recipe as label 0 and 1: same tissue, pattern P and foci; only one focus is painted lesion."""
    recipe = LookalikeRecipe(
        slide_id="twin",
        label=1,
        seed=5,
        size=2048,
        mpp=0.5,
        tissue_share=0.5,
        pattern_share=0.1,
        n_foci=(2, 3),
        diameter_um=(120.0, 160.0),
    )
    positive = write_lookalike_slide(tmp_path / "positive.tiff", recipe)
    negative = write_lookalike_slide(tmp_path / "negative.tiff", replace(recipe, label=0))
    assert [(f.row, f.col, f.radius) for f in positive.foci] == [
        (f.row, f.col, f.radius) for f in negative.foci
    ]
    assert [f.kind for f in positive.foci].count("lesion") == 1
    assert {f.kind for f in negative.foci} == {"lookalike"}
    assert np.array_equal(positive.tissue_mask, negative.tissue_mask)
    assert np.array_equal(positive.pattern_mask, negative.pattern_mask)
    assert np.array_equal(positive.lesion_mask | positive.lookalike_mask, negative.lookalike_mask)
    with open_slide(tmp_path / "positive.tiff") as one, open_slide(tmp_path / "negative.tiff") as two:
        a, b = one.thumbnail(THUMB_MPP).astype(float), two.thumbnail(THUMB_MPP).astype(float)
    lesion = positive.lesion_mask
    # JPEG: the 16 px blocks touching the lesion (and a pixel of chroma upsampling) differ, not the rest
    elsewhere = ~ndimage.binary_dilation(lesion, np.ones((3, 3), bool), iterations=24)
    assert np.array_equal(a[elsewhere], b[elsewhere])
    assert np.abs(a[lesion].mean(0) - b[lesion].mean(0)).max() < 2.0  # grey levels of 255: the same colour


def test_lesion_task_keeps_its_output(tmp_path: Path) -> None:
    out = make_synthetic_cohort(tmp_path / "lesion", n_slides=2, seed=1, size=512)
    assert list(pd.read_csv(out / "truth.csv").columns) == [
        "slide_id",
        "path",
        "label",
        "tissue_fraction",
        "lesion_fraction",
        "pattern_fraction",
        "severity",
        "seed",
        "width",
        "height",
        "mpp",
        "mask_mpp",
        "time",
        "event",
    ]
    assert not (out / "foci.csv").exists() and not list((out / "masks").glob("*_lookalike.png"))
    assert "task" not in json.loads((out / "cohort.json").read_text())


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"task": "lookalikes"}, "lookalikes"),
        ({"task": "lookalike", "grades": 3}, "--grades"),
        ({"foci": FociConfig()}, "foci"),
        ({"task": "lookalike", "size": 1024}, "do not fit"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict, named: str) -> None:
    with pytest.raises(InputError, match=named):
        make_synthetic_cohort(tmp_path / "bad", n_slides=4, **{"size": 2048, **kwargs})


def test_foci_config_checks_its_ranges() -> None:
    with pytest.raises(InputError, match="n_foci"):
        FociConfig(n_foci=(4, 3))
    with pytest.raises(InputError, match="diameter_um"):
        FociConfig(diameter_um=(0.0, 100.0))
