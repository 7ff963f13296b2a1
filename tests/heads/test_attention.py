"""The attention head (seed 004): tokens cut from flat features by the backbone's layout, batch-independent
predictions, a round trip through the model folder's arrays, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fewgen.backbones import FeatureSpec
from fewgen.backbones.ddpm import DDPMBackbone, DDPMConfig
from fewgen.errors import FewgenError
from fewgen.heads import AttentionHead, make_head
from fewgen.heads.export import head_from_state, head_state

LAYOUT = [(8, 4), (2, 4)]  # two parts of 2x2 cells: 8 and 2 channels, 40 features


def token_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class c lifts channel c of one cell of the first part, a random one: an object that may lie anywhere."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    first, second = rng.normal(size=(n, 8, 4)), rng.normal(size=(n, 2, 4))
    first[np.arange(n), y, rng.integers(0, 4, n)] += 4.0
    return np.concatenate([first.reshape(n, -1), second.reshape(n, -1)], axis=1), y


def test_each_part_becomes_its_cells_as_tokens_of_its_channels():
    head = AttentionHead(layout=LAYOUT, max_iter=1).fit(*token_data(16))
    module, seen = head.module_, []
    hooks = [norm.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0])) for norm in module.norms]
    z = torch.arange(2 * 40, dtype=torch.float64).reshape(2, 40)
    module(z)
    for hook in hooks:
        hook.remove()
    torch.testing.assert_close(seen[0], z[:, :32].reshape(2, 8, 4).transpose(1, 2))  # [B, cells, channels]
    torch.testing.assert_close(seen[1], z[:, 32:].reshape(2, 2, 4).transpose(1, 2))


def test_it_learns_what_lies_in_one_cell_and_predicts_each_image_alone():
    x, y = token_data(200)
    head = AttentionHead(layout=LAYOUT, max_iter=100, lr=3e-3).fit(x[:120], y[:120])
    assert (head.predict(x[120:]) == y[120:]).mean() > 0.75  # chance: 1/3
    whole = head.predict_proba(x[120:])
    one_by_one = np.concatenate([head.predict_proba(x[i : i + 1]) for i in range(120, 200)])
    np.testing.assert_array_equal(one_by_one, whole)


def test_it_round_trips_through_the_model_folders_arrays():
    x, y = token_data(40)
    head = make_head("attention", random_state=1, layout=LAYOUT, max_iter=20).fit(x, y)
    arrays, meta = head_state("attention", head)
    again = head_from_state(arrays, meta)
    assert again.layout == [list(part) for part in LAYOUT]
    np.testing.assert_array_equal(again.predict_proba(x), head.predict_proba(x))


def test_a_layout_that_does_not_cover_the_features_is_one_sentence():
    with pytest.raises(FewgenError, match="layout covers 32 features and the features have 40"):
        AttentionHead(layout=[(8, 4)], max_iter=1).fit(*token_data(8))
    with pytest.raises(FewgenError, match="width \\(10\\) must be a multiple of its heads \\(4\\)"):
        AttentionHead(width=10, max_iter=1).fit(*token_data(8))


def test_only_the_heads_that_read_tokens_get_the_layout():
    assert make_head("logreg", layout=LAYOUT).get_params().get("layout") is None
    assert make_head("attention", layout=LAYOUT).layout == [[8, 4], [2, 4]]


def test_the_ddpm_layout_matches_its_features():
    backbone = DDPMBackbone(DDPMConfig(preset="tiny"), (1, 8, 8))
    backbone.precision = "fp32"
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    for spec in (FeatureSpec(layers=("up0", "mid"), timestep=(10, 50), pool="2x2"), FeatureSpec(timestep=(5,)),
                 FeatureSpec(layers=("up1",), timestep=(10, 50), pool="2x2", combine="mean")):
        layout = backbone.token_layout(spec)
        assert sum(c * cells for c, cells in layout) == backbone.features(x, spec).shape[1]
    assert backbone.token_layout(FeatureSpec(layers=("up0", "mid"), timestep=(10, 50), pool="2x2")) == [(16, 4), (16, 4)] * 2
