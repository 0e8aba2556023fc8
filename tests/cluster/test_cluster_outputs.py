"""The same slides give the same outputs on a cluster as in one process (`analyze`, `slide tile`, region
features), on a LocalCluster made as `--cluster local:2` makes it, a bad slide failing alone with the same
reason; and the documented SLURM config builds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pathfocus.cli.main import app
from pathfocus.errors import InputError, PathfocusError
from pathfocus.slide.cluster import ClusterSpec, parse_cluster, task_resources
from pathfocus.slide.tiling import read_tiles_h5

runner = CliRunner()


@pytest.fixture()
def folder(tmp_path: Path, slides: list[Path]) -> Path:
    """Two of the cohort's slides plus one text file posing as a slide."""
    folder = tmp_path / "slides"
    folder.mkdir()
    for slide in slides[:2]:
        (folder / slide.name).symlink_to(slide)
    (folder / "broken.svs").write_text("this is a text file, not a slide\n")
    return folder


def assert_same(ours: Any, theirs: Any, where: str = "") -> None:
    """Equal JSON documents except timings; floats equal to float32 rounding (torch's sums depend on its
    thread count, which a worker's share of the CPUs changes)."""
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            if "seconds" not in key:
                assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), where
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(mine, other, f"{where}[{index}]")
    elif isinstance(theirs, float):
        assert math.isclose(ours, theirs, rel_tol=1e-5, abs_tol=1e-6), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, where


def _status(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "status.csv").drop(columns=["seconds", "analysis_seconds"], errors="ignore")


def test_parse_cluster(tmp_path: Path) -> None:
    config = tmp_path / "slurm.yaml"
    config.write_text("cores: 4\n")
    assert parse_cluster("local:2") == ClusterSpec("local", workers=2)
    assert parse_cluster("tcp://10.0.0.5:8786") == ClusterSpec("address", address="tcp://10.0.0.5:8786")
    assert parse_cluster(f"slurm:{config}") == ClusterSpec("slurm", config=config)
    for bad in ("local:0", "local:two", "tcp://nohost", "slurm:missing.yaml", "kubernetes:x"):
        with pytest.raises(InputError, match="--cluster"):
            parse_cluster(bad)
    assert task_resources("cuda:1") == {"GPU": 1} and task_resources("cpu") is None
    assert task_resources(None) is None


def test_analyze_on_a_cluster_matches_a_local_run(sew_run: Path, folder: Path, tmp_path: Path,
                                                   address: str) -> None:
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    args = ["analyze", str(sew_run), str(folder), "--device", "cpu"]
    assert runner.invoke(app, [*args, "--out", str(local)]).exit_code == 0
    result = runner.invoke(app, [*args, "--out", str(cluster), "--cluster", address])
    assert result.exit_code == 0, result.output

    status = _status(cluster)
    pd.testing.assert_frame_equal(status, _status(local))
    assert status.set_index("slide_id").loc["broken", "status"] == "failed"
    assert (status["status"] == "ok").sum() == 2
    for document in sorted(local.glob("*.json")):
        twin = cluster / document.name
        assert_same(json.loads(twin.read_text()), json.loads(document.read_text()), document.name)
        geojson = document.with_suffix(".geojson")
        assert_same(json.loads((cluster / geojson.name).read_text()), json.loads(geojson.read_text()))
    assert sorted(p.name for p in cluster.iterdir()) == sorted(p.name for p in local.iterdir())



def test_slide_tile_on_a_scheduler_matches_a_local_run(folder: Path, tmp_path: Path, address: str) -> None:
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    args = ["slide", "tile", str(folder), "--size", "128"]
    assert runner.invoke(app, [*args, "--out", str(local)]).exit_code == 1  # the broken slide
    assert runner.invoke(app, [*args, "--out", str(cluster), "--cluster", address]).exit_code == 1

    status = _status(cluster).drop(columns=["output"])
    pd.testing.assert_frame_equal(status, _status(local).drop(columns=["output"]))
    assert "broken" in status.loc[status["status"] == "failed", "slide_id"].tolist()
    for tiles in sorted(local.glob("*.h5")):
        ours, theirs = read_tiles_h5(cluster / tiles.name), read_tiles_h5(tiles)
        assert (ours.coords == theirs.coords).all() and ours.spec == theirs.spec


def test_region_features_on_a_scheduler_match_a_local_run(sew_run: Path, slides: list[Path],
                                                           address: str) -> None:
    from pathfocus.markers.extract import extract_region_features

    local = extract_region_features(sew_run, slides[:3], device="cpu")
    ours = extract_region_features(sew_run, iter(slides[:3]), device="cpu", cluster=address)
    assert list(ours.slide_ids) == list(local.slide_ids)
    for name in ("boxes", "focus", "lesion", "features", "crops"):
        np.testing.assert_allclose(getattr(ours, name), getattr(local, name), rtol=1e-5, atol=1e-6)
    with pytest.raises(PathfocusError, match="broken.svs"):
        extract_region_features(sew_run, [*slides[:1], Path("broken.svs")], device="cpu", cluster=address)


def test_the_documented_slurm_config_makes_a_gpu_job_script(tmp_path: Path) -> None:
    """docs/cluster.md's example, built into SLURMCluster's job script (nothing is submitted)."""
    import yaml

    from pathfocus.slide.cluster import jobqueue_cluster

    docs = (Path(__file__).parents[2] / "docs" / "cluster.md").read_text()
    options = yaml.safe_load(docs.split("```yaml\n", 1)[1].split("```", 1)[0])
    options["scheduler_options"] = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}  # stay here
    config = tmp_path / "slurm.yaml"
    config.write_text(yaml.safe_dump(options))
    cluster, jobs = jobqueue_cluster(parse_cluster(f"slurm:{config}"))
    with cluster:
        script = cluster.job_script()
    assert jobs == 8
    assert "#SBATCH --gres=gpu:1" in script and "#SBATCH --cpus-per-task=8" in script
    assert script.rstrip().endswith("--nthreads 1 --resources GPU=1")  # the last --nthreads wins

    config.write_text("jobs: 1\nno_such_option: 3\n")
    with pytest.raises(InputError, match="no_such_option"):
        jobqueue_cluster(parse_cluster(f"slurm:{config}"))
