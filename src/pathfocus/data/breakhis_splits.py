"""BreakHis splits: group-disjoint train/val/test folds over an index, and one fold's rows back.

Splits are made by whole groups (numeric slide ids by default, see :mod:`pathfocus.data.breakhis`) so no
tissue is on both sides; ``splits.csv`` (``path, fold, subset``) then drives training, evaluation and the
report without re-walking the image folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfocus.data.breakhis import read_index
from pathfocus.errors import InputError


def make_splits(
    index: pd.DataFrame,
    folds: int = 5,
    test_size: float = 0.3,
    val_size: float = 0.15,
    seed: int = 0,
    group_by: str = "slide_group",
    stratify: str = "subtype",
) -> pd.DataFrame:
    """Independent random group-disjoint train/val/test splits, one per fold (BreakHis protocol).

    Each fold draws its own ~``test_size`` share of images as test, by whole groups, within every
    stratum of ``stratify`` (so each subtype with two or more groups, hence each class, is in both train
    and test). Then ``val_size`` of each class's remaining training images becomes validation, by whole
    groups, avoiding a stratum's last training group unless the class has no other to give; each class
    with two or more training groups gives at least one, so small cohorts see both classes everywhere.
    ``val_size=0`` makes no validation part. Every image gets a subset in every fold.

    A group never straddles two subsets. By default groups are numeric slide ids (leakage-safe:
    22549AB/CD/G, and 13412 filed under two subtypes, are one group); ``group_by="patient_id"`` groups
    by patient folder instead. Groups are taken greedily in a seeded random order, each one only when
    it brings the image count nearer the target, so shares are close to, not exactly, the targets.

    Returns:
        A frame with columns ``path, fold, subset``: one row per image and fold (folds 1..``folds``).
    """
    _check_split_args(index, folds, test_size, val_size, group_by, stratify)
    groups = _group_table(index, group_by, stratify)
    parts = []
    for fold in range(1, folds + 1):
        rng = np.random.default_rng([seed, fold])
        order = list(groups.index[rng.permutation(len(groups))])
        test: set[Any] = set()
        for _, stratum in groups.groupby("stratum", sort=True):
            keys = [k for k in order if k in stratum.index]
            test |= _pick(keys, groups["n_images"], test_size * stratum["n_images"].sum())
        val: set[Any] = set()
        left = groups.loc[[k for k in order if k not in test]]
        budget = (left["stratum"].value_counts() - 1).to_dict()  # each stratum keeps one training group
        for _, part in left.groupby("label", sort=True):
            keys = [k for k in order if k in part.index]
            val |= _pick(
                keys, groups["n_images"], val_size * part["n_images"].sum(), budget, groups["stratum"]
            )
        subset_of = {k: "test" if k in test else "val" if k in val else "train" for k in order}
        subsets = index[group_by].map(subset_of).to_numpy()
        parts.append(pd.DataFrame({"path": index["path"].to_numpy(), "fold": fold, "subset": subsets}))
    return pd.concat(parts, ignore_index=True)


def summarize_splits(index: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Images and patients per fold, subset and label; for CLI summaries and sanity checks."""
    merged = splits.merge(index[["path", "patient_id", "label"]], on="path", how="left")
    table = merged.groupby(["fold", "subset", "label"]).agg(
        images=("path", "size"), patients=("patient_id", "nunique")
    )
    return table.reset_index()


def _check_split_args(
    index: pd.DataFrame, folds: int, test_size: float, val_size: float, group_by: str, stratify: str
) -> None:
    if folds < 1:
        msg = f"--folds must be at least 1, got {folds}."
        raise InputError(msg)
    if not 0 < test_size < 1:
        msg = f"--test-size must be between 0 and 1 (a share of images), got {test_size}."
        raise InputError(msg)
    if not 0 <= val_size < 1:
        msg = f"--val-size must be in [0, 1) (a share of the training images), got {val_size}."
        raise InputError(msg)
    for option, column in (("group_by", group_by), ("stratify", stratify)):
        if column not in index.columns:
            msg = f"{option} column {column!r} is not in the index; use one of {', '.join(index.columns)}."
            raise InputError(msg)
    if index.empty:
        msg = "the index has no images to split; build it with `pathfocus index ROOT --out index.csv`."
        raise InputError(msg)


def _group_table(index: pd.DataFrame, group_by: str, stratify: str) -> pd.DataFrame:
    """One row per group (sorted, so results do not depend on row order): size, majority stratum, label."""

    def majority(values: pd.Series) -> Any:
        return values.value_counts().sort_index().idxmax()

    grouped = index.groupby(group_by, sort=True)
    return pd.DataFrame(
        {
            "n_images": grouped.size(),
            "stratum": grouped[stratify].agg(majority),
            "label": grouped["label"].agg(majority),
        }
    )


def _pick(
    keys: list[Any],
    sizes: pd.Series,
    target: float,
    budget: dict[Any, int] | None = None,
    stratum_of: pd.Series | None = None,
) -> set[Any]:
    """Walk ``keys`` in (shuffled) order, taking a group whenever it brings the image total nearer target.

    With two or more keys, at least one is taken (if ``target`` > 0) and one left behind. ``budget``
    (updated in place) caps how many groups each stratum (``stratum_of``) may still give away; only
    when no group fits the budget is the one group taken beyond it.
    """
    if len(keys) < 2 or target <= 0:
        return set()

    def allowed(key: Any) -> bool:
        return budget is None or budget[stratum_of[key]] > 0

    taken: list[Any] = []
    total = 0
    for key in keys:
        if len(taken) == len(keys) - 1:
            break
        if allowed(key) and abs(total + sizes[key] - target) < abs(total - target):
            taken.append(key)
            total += sizes[key]
            if budget is not None:
                budget[stratum_of[key]] -= 1
    if not taken:  # one group at least, within budget if possible
        taken = ([k for k in keys if allowed(k)] or keys)[:1]
        if budget is not None:
            budget[stratum_of[taken[0]]] -= 1
    return set(taken)


def fold_table(index_csv: str | os.PathLike[str], splits_csv: str | os.PathLike[str], fold: int,
               magnification: str = "all") -> pd.DataFrame:
    """Index rows of the chosen fold and magnification, with their ``subset`` (train|val|test)."""
    index = read_index(index_csv)
    splits_path = Path(splits_csv)
    if not splits_path.is_file():
        msg = f"splits file {splits_path} does not exist; make one with `pathfocus split INDEX --out SPLITS`"
        raise InputError(msg)
    splits = pd.read_csv(splits_path, dtype={"path": str})
    missing = {"path", "fold", "subset"} - set(splits.columns)
    if missing:
        msg = f"{splits_path} lacks columns {sorted(missing)}; it must come from `pathfocus split`"
        raise InputError(msg)
    fold = splits[splits["fold"] == fold]
    if fold.empty:
        msg = f"fold {fold} is not in {splits_path} (folds there: {sorted(splits['fold'].unique())})"
        raise InputError(msg)
    table = index.merge(fold[["path", "subset"]], on="path", how="inner")
    if magnification != "all":
        table = table[table["magnification"].astype(int) == int(magnification)]
    if table.empty:
        msg = f"no images of magnification {magnification} in fold {fold} of {splits_path}"
        raise InputError(msg)
    return table.reset_index(drop=True)
