"""SEW modules on random graphs: shapes, configs, region selection and the pooling softmax."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from pathfocus.configs import from_dict, to_dict
from pathfocus.engines.sew.forward import select_regions
from pathfocus.engines.sew.reading import SEWReading
from pathfocus.errors import InputError
from pathfocus.models.sew import SEWModel, _segment_softmax
from pathfocus.models.sew_settings import SEWArchitecture
from pathfocus.training.sew.config import SEWTrainConfig


def _graphs(sizes: list[int], features: int, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    graphs = [
        Data(
            x=torch.randn(n, features, generator=generator),
            edge_index=torch.randint(0, n, (2, 3 * n), generator=generator),
        )
        for n in sizes
    ]
    return Batch.from_data_list(graphs)


def _model(**changes: object) -> SEWModel:
    architecture = SEWArchitecture(
        num_classes=3, hidden=16, detail_hidden=16, heads=2, transformer_layers=1, **changes
    )
    return SEWModel(architecture).eval()


def test_global_branch_and_focus_shapes() -> None:
    model = _model()
    batch = _graphs([30, 45], model.architecture.global_features)
    out = model.forward_global(batch.x, batch.edge_index, batch.batch, 2)
    assert out.logits.shape == (2, 3)
    assert out.cls.shape == (2, 16)
    assert out.nodes.shape == (75, 16)
    assert out.focus.shape == (75,)
    assert torch.isfinite(out.focus).all()


def test_global_branch_keeps_graphs_apart() -> None:
    """A slide's prediction must not depend on the other slides in its batch (masked attention)."""
    model = _model()
    batch = _graphs([30, 45], model.architecture.global_features)
    alone = _graphs([30], model.architecture.global_features)
    together = model.forward_global(batch.x, batch.edge_index, batch.batch, 2)
    single = model.forward_global(alone.x, alone.edge_index, alone.batch, 1)
    torch.testing.assert_close(together.logits[0], single.logits[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(together.focus[:30], single.focus, atol=1e-5, rtol=1e-4)


def test_detail_branch_shapes_and_fusion() -> None:
    model = _model(tile_features=24)
    tiles = torch.randn(9, 24)
    tile_window = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4])  # five windows of 1-3 tiles
    tokens = model.detail_branch.windows(tiles, tile_window, 5)
    assert tokens.shape == (5, 16)
    window_slide = torch.tensor([0, 0, 0, 1, 1])
    out = model.detail_branch(tokens, window_slide, 2)
    assert out.logits.shape == (2, 3)
    assert out.regions.shape == (5, 16)
    assert out.region_logits.shape == (5, 3)
    # lesion score = 1 - P(normal class 0) of each window on its own
    torch.testing.assert_close(out.lesion, 1 - torch.softmax(out.region_logits, dim=1)[:, 0])
    torch.testing.assert_close(out.attention[:3].sum(), torch.tensor(1.0))
    torch.testing.assert_close(out.attention[3:].sum(), torch.tensor(1.0))
    assert model.project_global(torch.randn(2, 16)).shape == (2, 16)
    fused = model.fuse(torch.zeros(2, 3), out.logits)
    torch.testing.assert_close(fused, out.logits / 2)  # the default global weight is 0.5
    model.global_weight.fill_(0.0)
    torch.testing.assert_close(model.fuse(torch.randn(2, 3), out.logits), out.logits)


def test_a_window_is_scored_on_its_own() -> None:
    """A window's lesion score does not depend on the other windows read (focus is calibrated on it)."""
    model = _model(tile_features=8)
    tiles = torch.randn(4, 8)
    alone = model.detail_branch.windows(tiles[:2], torch.tensor([0, 0]), 1)
    together = model.detail_branch.windows(tiles, torch.tensor([0, 0, 1, 1]), 2)
    torch.testing.assert_close(
        model.detail_branch.score(alone)[1], model.detail_branch.score(together[:1])[1]
    )


@pytest.mark.parametrize("branches", ["global", "detail"])
def test_fusion_uses_only_the_chosen_branch(branches: str) -> None:
    model = _model(branches=branches)
    global_logits, detail_logits = torch.randn(2, 3), torch.randn(2, 3)
    expected = global_logits if branches == "global" else detail_logits
    torch.testing.assert_close(model.fuse(global_logits, detail_logits), expected)


def test_config_round_trip_and_validation() -> None:
    config = from_dict(
        SEWTrainConfig,
        {
            "architecture": {"branches": "global"},
            "reading": {"k": 5},
            "training": {"use_consistency": False, "lambda_focus": 0.3},
        },
    )
    assert from_dict(SEWTrainConfig, to_dict(config)) == config
    with pytest.raises(InputError, match=r"unknown key\(s\) \['kk'\]"):
        from_dict(SEWReading, {"k": 3, "kk": 4})
    with pytest.raises(InputError, match="branches"):
        SEWArchitecture(branches="local")
    with pytest.raises(InputError, match="num_classes"):
        SEWArchitecture(num_classes=1)


def test_select_regions_takes_top_focus_with_spacing() -> None:
    focus = torch.tensor([0.9, 0.8, 0.1, 0.7, 0.2])
    positions = torch.tensor([[0.0, 0.0], [1.0, 0.0], [50.0, 0.0], [100.0, 0.0], [150.0, 0.0]])
    assert select_regions(focus, positions, k=3).tolist() == [0, 1, 3]
    # node 1 sits 1 unit from node 0: suppressed, so the next best distinct nodes come first
    assert select_regions(focus, positions, k=3, min_gap=10.0).tolist() == [0, 3, 4]
    # with fewer distinct nodes than k the suppressed ones fill up
    assert sorted(select_regions(focus, positions, k=5, min_gap=10.0).tolist()) == [0, 1, 2, 3, 4]
    assert select_regions(focus, positions, k=9).numel() == 5


def test_select_regions_explores_other_nodes() -> None:
    focus = torch.arange(20, dtype=torch.float32)
    positions = torch.zeros(20, 2)
    chosen = select_regions(focus, positions, k=4, explore=0.5, generator=torch.Generator().manual_seed(0))
    assert len(set(chosen.tolist())) == 4
    assert chosen[:2].tolist() == [19, 18]


def test_segment_softmax_matches_per_segment_softmax() -> None:
    scores = torch.tensor([1.0, 2.0, 3.0, -1.0, 0.5])
    segment = torch.tensor([0, 0, 0, 1, 1])
    weights = _segment_softmax(scores, segment, 2)
    torch.testing.assert_close(weights[:3], torch.softmax(scores[:3], 0))
    torch.testing.assert_close(weights[3:], torch.softmax(scores[3:], 0))


def test_runs_saved_before_slide_relative_features_load_without_them() -> None:
    """A run's weights fit the network it was trained with: an old config has no slide_relative key."""
    from pathfocus.engines.sew.settings import run_settings

    current = {"architecture": to_dict(SEWArchitecture()), "reading": to_dict(SEWReading())}
    old = {"architecture": {k: v for k, v in current["architecture"].items() if k != "slide_relative"},
           "reading": current["reading"]}
    assert run_settings(current)[0].slide_relative is True
    assert run_settings(old)[0].slide_relative is False
    widths = {relative: SEWModel(run_settings(config)[0]).global_branch.gcn.state_dict()
              for relative, config in ((True, current), (False, old))}
    first = next(iter(widths[True]))
    assert widths[True][first].shape != widths[False][first].shape


def test_slide_relative_features_ignore_a_colour_shift_of_one_slide() -> None:
    """Standardised within each slide: shifting one slide's colours moves that slide's absolute features
    only, so the relative half the branch sees stays the same."""
    model = _model()
    batch = _graphs([20, 25], model.architecture.global_features)
    shifted = batch.x.clone()
    shifted[:20] = 1.5 * shifted[:20] + 0.3
    relative = model.global_branch.relative
    assert relative is not None
    torch.testing.assert_close(relative(shifted, batch.batch, 2), relative(batch.x, batch.batch, 2),
                               atol=1e-4, rtol=1e-4)
