"""Patch training end to end on tiny synthetic data: run folder contract, evaluation, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from pathfocus.analysis.patch import patient_recognition_rate
from pathfocus.cli.main import app
from pathfocus.data.breakhis import build_index
from pathfocus.data.breakhis_splits import make_splits
from pathfocus.data.synthetic.patches import make_synthetic_patches
from pathfocus.engines.patch import load_patch_model
from pathfocus.errors import CheckpointError, InputError
from pathfocus.models.backbones import load_backbone_weights
from pathfocus.runs import save_run_model

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("patches")
    tree = make_synthetic_patches(
        root / "BreaKHis_v1",
        patients_per_subtype=2,
        images_per_patient=4,
        image_size=64,
        magnifications=(40,),
        seed=0,
    )
    broken = next(Path(tree).rglob("*.png"))
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    index = build_index(root)
    index.to_csv(root / "index.csv", index=False)
    make_splits(index, folds=1, test_size=0.3, seed=0).to_csv(root / "splits.csv", index=False)
    return {"root": root, "index": root / "index.csv", "splits": root / "splits.csv", "broken": broken}


@pytest.fixture(scope="module")
def run(dataset: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "kfde"
    result = runner.invoke(
        app,
        [
            "train",
            "patch",
            "--index",
            str(dataset["index"]),
            "--splits",
            str(dataset["splits"]),
            "--out",
            str(out),
            "--model",
            "kfde",
            "--epochs",
            "3",
            "--image-size",
            "64",
            "--batch-size",
            "16",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_run_folder_contract(run: Path, dataset: dict[str, Path]) -> None:
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "patch" and config["class_names"] == ["benign", "malignant"]
    assert config["model"]["name"] == "kfde" and config["model"]["num_classes"] == 2
    assert not (run / "metrics.json").exists()  # the training summary has its own name
    metrics = json.loads((run / "training_summary.json").read_text())
    assert metrics["n_skipped"] == 1 and str(dataset["broken"]) in metrics["skipped"]
    log = pd.read_csv(run / "logs" / "metrics.csv")
    train_loss = log["train_loss_epoch"].dropna().to_numpy()
    assert len(train_loss) == 3 and train_loss[-1] < train_loss[0], "training did not lower the loss"


def test_evaluate_writes_metrics_on_test_patients_only(run: Path, dataset: dict[str, Path]) -> None:
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    for key in (
        "image_accuracy",
        "patient_recognition_rate",
        "balanced_accuracy",
        "macro_f1",
        "auc",
        "confusion_matrix",
        "class_names",
        "n_images",
        "n_patients",
    ):
        assert key in metrics
    predictions = pd.read_csv(run / "eval" / "predictions.csv")
    splits = pd.read_csv(dataset["splits"])
    test_paths = set(splits.loc[splits["subset"] == "test", "path"])
    assert set(predictions["path"]) <= test_paths and len(predictions) == metrics["n_images"]
    accuracy = float((predictions["true"] == predictions["predicted"]).mean())
    assert metrics["image_accuracy"] == pytest.approx(accuracy)
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["n_images"]
    assert (run / "eval" / "confusion_matrix.png").stat().st_size > 0


def test_predict_cli(run: Path, dataset: dict[str, Path], tmp_path: Path) -> None:
    folder = dataset["broken"].parent
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(run), str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert str(dataset["broken"]) not in set(table["path"])
    probs = table[["prob_benign", "prob_malignant"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_resume_continues_and_keeps_the_best_epoch_from_before(run: Path, dataset: dict[str, Path],
                                                               tmp_path: Path) -> None:
    import shutil

    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    before = json.loads((run / "training_summary.json").read_text())
    epochs_before = pd.read_csv(run / "logs" / "metrics.csv")["epoch"].dropna().unique()
    result = runner.invoke(app, ["train", "patch", "--index", str(dataset["index"]), "--splits",
                                 str(dataset["splits"]), "--out", str(resumed), "--model", "kfde",
                                 "--epochs", "4", "--image-size", "64", "--batch-size", "16",
                                 "--workers", "0", "--resume"])
    assert result.exit_code == 0, result.output
    after = json.loads((resumed / "training_summary.json").read_text())
    assert after["epochs_run"] == 4
    # the training log keeps the epochs before the restart and adds the new one
    epochs_after = pd.read_csv(resumed / "logs" / "metrics.csv")["epoch"].dropna().unique()
    assert sorted(epochs_before) == [0, 1, 2] and sorted(epochs_after) == [0, 1, 2, 3]
    # the best of epochs 0-2 was restored from last.ckpt, so the best is never worse than before the restart
    assert after["best_val"]["val_loss"] <= before["best_val"]["val_loss"]
    if after["best_epoch"] != 3:
        assert after["best_epoch"] == before["best_epoch"]


def test_patient_recognition_rate_is_mean_of_patient_shares() -> None:
    patients = ["a", "a", "a", "b", "c", "c"]
    correct = [True, False, True, False, True, True]
    assert patient_recognition_rate(patients, correct) == pytest.approx((2 / 3 + 0 + 1) / 3)


def test_checkpoint_for_other_class_count_is_refused(run: Path, tmp_path: Path) -> None:
    from pathfocus.models.kfde import create_model

    config = json.loads((run / "config.json").read_text())
    config["model"]["num_classes"] = 8
    config["class_names"] = [f"c{i}" for i in range(8)]
    other = tmp_path / "other"
    save_run_model(other, create_model("kfde", num_classes=2), config)
    with pytest.raises(CheckpointError, match="differ in shape"):
        load_patch_model(other)


def test_evaluate_on_a_folder_that_is_no_run_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a pathfocus run folder" in result.output and "Traceback" not in result.output


def test_local_backbone_weights_are_loaded_and_checked(tmp_path: Path) -> None:
    from pathfocus.models.kfde import create_model

    source = create_model("baseline", num_classes=2)
    target = create_model("kfde", num_classes=2)
    file = tmp_path / "backbone.safetensors"
    save_file({f"model.{k}": v.contiguous() for k, v in source.backbone.state_dict().items()}, str(file))
    loaded = load_backbone_weights(target.backbone, file)
    assert loaded == len(target.backbone.state_dict())
    for name, tensor in target.backbone.state_dict().items():
        torch.testing.assert_close(tensor, source.backbone.state_dict()[name])
    wrong = tmp_path / "wrong.safetensors"
    save_file({"head.weight": torch.zeros(2, 3)}, str(wrong))
    with pytest.raises(CheckpointError, match="matches only"):
        load_backbone_weights(target.backbone, wrong)
    with pytest.raises(InputError, match="safetensors"):
        load_backbone_weights(target.backbone, tmp_path / "weights.pth")


@pytest.mark.slow
def test_kfde_beats_chance_on_held_out_patients(tmp_path: Path) -> None:
    """The demo-sized problem: binary accuracy on patients never seen in training is clearly above chance."""
    make_synthetic_patches(
        tmp_path / "data", patients_per_subtype=3, images_per_patient=6, image_size=128, seed=1
    )
    index = build_index(tmp_path / "data")
    index.to_csv(tmp_path / "index.csv", index=False)
    splits = make_splits(index, folds=1, test_size=0.3, seed=1)
    splits.to_csv(tmp_path / "splits.csv", index=False)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "patch",
            "--index",
            str(tmp_path / "index.csv"),
            "--splits",
            str(tmp_path / "splits.csv"),
            "--out",
            str(out),
            "--epochs",
            "10",
            "--patience",
            "10",
            "--image-size",
            "96",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["evaluate", str(out)]).exit_code == 0
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    train_patients = set(
        index.loc[index["path"].isin(splits.loc[splits["subset"] == "train", "path"]), "patient_id"]
    )
    test_patients = set(pd.read_csv(out / "eval" / "predictions.csv")["patient_id"])
    assert not train_patients & test_patients
    assert metrics["image_accuracy"] >= 0.85, metrics
