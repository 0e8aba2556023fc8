"""Settings: defaults written once in the dataclasses, then a YAML/JSON file, then flags; typos refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pathfocus.configs import default_of, from_dict, read_config_file, resolve, to_dict
from pathfocus.errors import InputError
from pathfocus.training.mil.config import MILTrainConfig
from pathfocus.training.sew.config import SEWTrainConfig, SEWTraining


def test_defaults_then_file_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "sew.yaml"
    file.write_text("reading:\n  k: 3\n  tiles:\n    mpp: 1.0\ntraining:\n  epochs: 7\n  lr: 0.01\n")
    settings = resolve(SEWTrainConfig, file, {"training": {"epochs": 2, "lr": None}, "reading": {"k": None}})
    assert settings.reading.k == 3 and settings.reading.tiles.mpp == 1.0  # from the file, nested too
    assert settings.training.epochs == 2  # the flag wins over the file
    assert settings.training.lr == 0.01  # a flag not given (None) leaves the file's value
    assert settings.training.patience == default_of(SEWTraining, "patience")  # neither: the default


def test_json_files_and_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "mil.json"
    file.write_text(json.dumps({"encoder": {"input_size": 96}, "tiles": {"mpp": 1.0}}))
    settings = resolve(MILTrainConfig, file, {})
    assert settings.encoder.input_size == 96 and settings.tiles.mpp == 1.0
    assert from_dict(MILTrainConfig, to_dict(settings)) == settings


@pytest.mark.parametrize(("text", "words"), [
    ("reading:\n  kk: 3\n", "unknown key(s) ['kk']"),
    ("readin:\n  k: 3\n", "unknown key(s) ['readin']"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("reading: [unclosed\n", "not readable"),
])
def test_bad_files_are_one_clear_error(tmp_path: Path, text: str, words: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(InputError) as error:
        resolve(SEWTrainConfig, file, {})
    assert words in str(error.value) and "bad.yaml" in str(error.value)


def test_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.yaml does not exist"):
        read_config_file(tmp_path / "nope.yaml")
