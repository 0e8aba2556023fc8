"""The model registry: every name builds, runs, learns, and declares a Grad-CAM target on its path."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from pathfocus.errors import InputError, WeightsUnavailableError
from pathfocus.models import create_model as lazy_create_model
from pathfocus.models.kfde import MODEL_NAMES, ModelConfig, build_model, create_model
from pathfocus.models.layers.csfe import CSFE
from pathfocus.models.layers.mfdf import MFDF

_SLOW = {"vgg16"}  # 138 M parameters: several seconds just to initialise
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in MODEL_NAMES]


def test_registry_names() -> None:
    assert set(MODEL_NAMES) == {"baseline", "csfe", "mfdf", "kfde", "resnet50", "vgg16", "densenet121"}
    assert lazy_create_model is create_model


@pytest.mark.parametrize("name", NAMES)
def test_model_runs_learns_and_declares_target(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3)
    assert model.num_classes == 3 and model.config.name == name
    assert {"mean", "std", "input_size"} <= set(model.pretrained_cfg)

    captured: list[torch.Tensor] = []
    (target,) = model.gradcam_target_layers()
    assert target is model.get_submodule(model.target_layer_name)
    handle = target.register_forward_hook(lambda _m, _i, out: captured.append(out))
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    handle.remove()
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    assert len(captured) == 1 and captured[0].ndim == 4

    logits.sum().backward()
    first = next(model.backbone.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert model.fc.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        assert pooled.shape == (2, model.num_features)
        torch.testing.assert_close(model.forward_head(feats), model(x))


@pytest.mark.parametrize(("name", "modules", "target"), [
    ("baseline", (), "backbone.stages.3"),
    ("csfe", (CSFE,), "csfe"),
    ("mfdf", (MFDF,), "mfdf"),
    ("kfde", (CSFE, MFDF), "mfdf"),
])
def test_variants_hold_their_modules(name: str, modules: tuple[type, ...], target: str) -> None:
    model = create_model(name, num_classes=2)
    present = {type(m) for m in model.modules()} & {CSFE, MFDF}
    assert present == set(modules)
    assert model.target_layer_name == target
    model.eval()
    with torch.no_grad():  # the declared target's output is what the head pools
        captured: list[torch.Tensor] = []
        handle = model.gradcam_target_layers()[0].register_forward_hook(lambda _m, _i, o: captured.append(o))
        feats = model.forward_features(torch.randn(1, 3, 64, 64))
        handle.remove()
    if name != "baseline":
        torch.testing.assert_close(captured[0], feats)


def test_kfde_gradients_reach_enhancement_modules() -> None:
    model = create_model("kfde", num_classes=2, mfdf_kernel_sizes=(3, 5))
    assert model.mfdf.kernel_sizes == (3, 5)
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert model.csfe.cfe.norm.weight.grad.abs().sum() > 0
    assert model.mfdf.fc2.weight.grad.abs().sum() > 0
    assert model.mfdf.last_attention.shape == (2, 2, 320)


def test_config_round_trip_and_reset_classifier() -> None:
    model = create_model("kfde", num_classes=8, drop_rate=0.2)
    data = json.loads(json.dumps(model.config.to_dict()))
    assert data["name"] == "kfde" and data["backbone"] == "convnextv2_atto" and data["num_classes"] == 8
    rebuilt = build_model(ModelConfig.from_dict(data))
    assert rebuilt.config == model.config
    assert rebuilt.state_dict().keys() == model.state_dict().keys()

    model.reset_classifier(5)
    assert model.num_classes == model.config.num_classes == model.pretrained_cfg["num_classes"] == 5
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)
        model.reset_classifier(0)
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 320)


def test_comparison_cnn_is_its_own_backbone() -> None:
    assert create_model("densenet121", num_classes=2).config.backbone == "densenet121"
    with pytest.raises(InputError, match="its own backbone"):
        ModelConfig(name="resnet50", num_classes=2, backbone="convnextv2_atto")


def test_bad_names_are_input_errors() -> None:
    with pytest.raises(InputError, match="choose one of"):
        create_model("kfdee", num_classes=2)
    with pytest.raises(InputError, match="unknown backbone 'not_a_net'"):
        create_model("kfde", num_classes=2, backbone="not_a_net")
    with pytest.raises(InputError, match="unknown keys"):
        ModelConfig.from_dict({"name": "kfde", "num_classes": 2, "colour": "red"})
    with pytest.raises(InputError, match="num_classes"):
        create_model("baseline", num_classes=-1)


def test_token_backbone_is_refused_clearly() -> None:
    model = create_model("baseline", num_classes=2, backbone="vit_tiny_patch16_224")
    with pytest.raises(InputError, match="convolutional backbone"):
        model(torch.randn(1, 3, 224, 224))


def test_pretrained_offline_fails_fast_with_weights_hint(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))  # no cached weights to fall back on
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="--weights FILE") as info:
        create_model("kfde", num_classes=2, pretrained=True)
    assert time.perf_counter() - start < 20
    assert "convnextv2_atto" in str(info.value) and str(info.value).count(". ") == 0


@pytest.mark.slow  # importing pytorch_grad_cam (sklearn, cv2) alone takes 5-10 s here
def test_gradcam_package_accepts_declared_target() -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    model = create_model("kfde", num_classes=2).eval()
    with GradCAM(model=model, target_layers=model.gradcam_target_layers()) as cam:
        heatmap = cam(input_tensor=torch.randn(2, 3, 64, 64), targets=[ClassifierOutputTarget(1)] * 2)
        (activation,) = cam.activations_and_grads.activations
        (gradient,) = cam.activations_and_grads.gradients
    assert heatmap.shape == (2, 64, 64) and np.isfinite(heatmap).all()
    assert activation.shape == gradient.shape == (2, 320, 2, 2) and gradient.abs().sum() > 0
