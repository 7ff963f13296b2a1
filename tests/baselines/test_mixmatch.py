"""MixMatch (Berthelot et al., 2019): sharpened guesses, the ramped unlabeled weight that resumes with the model,
and a fit that predicts the draw's classes (the pool-only check is in tests/baselines/test_fixmatch.py)."""

from __future__ import annotations

import numpy as np
import torch

from fewgen.baselines.mixmatch import MixMatchBaseline, MixMatchClassifier, sharpen
from fewgen.baselines.resnet import standard_augmentation
from fewgen.configs import MixMatchConfig
from fewgen.networks import SmallCNN


def test_sharpening_lowers_the_entropy_and_keeps_the_order():
    p = torch.tensor([[0.5, 0.3, 0.2]])
    sharp = sharpen(p, 0.5)
    torch.testing.assert_close(sharp, p ** 2 / (p ** 2).sum())
    assert sharp.argmax() == 0 and sharp[0, 0] > p[0, 0] and torch.isclose(sharp.sum(), torch.tensor(1.0))
    cold = sharpen(torch.tensor([[0.1] * 9 + [0.1001], [1.0, 0.0, 0.0] + [0.0] * 7]), 0.001)  # p ** 1000 underflows
    assert torch.isfinite(cold).all() and cold.argmax(1).tolist() == [9, 0] and torch.allclose(cold.sum(1), torch.ones(2))


def test_the_unlabeled_weight_ramps_up_step_by_step_and_is_saved_with_the_model():
    config = MixMatchConfig(steps=10, batch_size=2, mu=1, rampup=0.5, lambda_u=75.0)
    torch.manual_seed(0)
    labeled = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    model = MixMatchClassifier(SmallCNN(1, 2), labeled, torch.tensor([0, 1, 0, 1]), standard_augmentation(8, False), config, 2)
    weights = [model.training_loss(torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8))[1]["weight"] for _ in range(7)]
    assert weights == [0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 75.0]
    assert int(model.state_dict()["step"]) == 7  # a checkpoint keeps it, so a resumed run ramps on from there


def test_mixmatch_fits_and_predicts_the_draws_classes():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    pool = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8)
    config = MixMatchConfig(steps=3, batch_size=4, mu=2, precision="fp32", network="small")
    model = MixMatchBaseline(config, seed=0).fit(images, np.array([3, 5, 3, 5, 3, 5]), pool)
    assert set(model.predict(pool)) <= {3, 5} and model.summary_["steps"] == 3
    assert np.allclose(model.predict_proba(pool).sum(1), 1, atol=1e-5)
