"""FixMatch (Sohn et al., 2020): strong augmentation, the confidence mask, and the baseline on the same draws."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fewgen.baselines.fixmatch import FixMatchBaseline, FixMatchClassifier, FixMatchConfig, strong_augmentation
from fewgen.baselines.resnet import cifar_resnet18, standard_augmentation
from fewgen.cli import main

TINY = FixMatchConfig(steps=3, batch_size=4, mu=2, precision="fp32")


@pytest.mark.parametrize("channels", [1, 3])
def test_strong_augmentation_keeps_uint8_images_of_their_shape(channels):
    torch.manual_seed(0)
    image = torch.randint(0, 256, (channels, 16, 16), dtype=torch.uint8)
    out = [strong_augmentation(16, hflip=True)(image) for _ in range(5)]
    assert all(o.dtype == torch.uint8 and o.shape == image.shape for o in out)
    assert any(not torch.equal(o, image) for o in out) and (out[0] == 127).any()  # Cutout fills with grey


def test_only_confident_pseudo_labels_count():
    torch.manual_seed(0)
    labeled, unlabeled = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8), torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)

    def loss(threshold):
        torch.manual_seed(0)
        config = FixMatchConfig(batch_size=3, threshold=threshold)
        model = FixMatchClassifier(cifar_resnet18(1, 2), labeled, torch.tensor([0, 1] * 3), standard_augmentation(8, False),
                                   strong_augmentation(8, False), config)
        torch.manual_seed(1)
        return model.training_loss(unlabeled)

    none_kept, all_kept = loss(1.01)[1], loss(0.0)[1]
    assert none_kept["mask"] == 0.0 and none_kept["unsupervised"] == 0.0
    assert all_kept["mask"] == 1.0 and all_kept["unsupervised"] > 0.0
    assert none_kept["supervised"] == all_kept["supervised"]  # the same seeded labeled batch


class Brightness(torch.nn.Module):
    """Logits ``[B, 2]``: class 0 for a bright image, class 1 for a dark one, confidently."""

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))
        return torch.stack([10 * mean, -10 * mean], dim=1)


class Inverted(torch.nn.Module):
    def forward(self, image):
        return 255 - image


def test_pseudo_labels_come_from_the_weak_view_and_train_the_strong_one():
    """The weak view keeps an image, the strong one inverts it: a bright unlabeled image's pseudo-label (from the
    weak view) is class 0, and the strong view, which the network calls class 1, is trained towards it. Pseudo-labels
    from the strong view would agree with it and cost nothing."""
    bright = torch.full((4, 1, 8, 8), 230, dtype=torch.uint8)
    model = FixMatchClassifier(Brightness(), bright[:2], torch.tensor([0, 0]), torch.nn.Identity(), Inverted(),
                               FixMatchConfig(batch_size=2, threshold=0.0, lambda_u=1.0))
    _, logs = model.training_loss(bright)
    expected = torch.nn.functional.cross_entropy(Brightness()(((255 - bright).float() / 127.5) - 1.0),
                                                 torch.zeros(4, dtype=torch.long))
    assert logs["mask"] == 1.0 and logs["unsupervised"] == pytest.approx(expected.item(), rel=1e-5)
    assert logs["unsupervised"] > 5.0


@pytest.mark.parametrize("name, network", [("fixmatch", "resnet18"), ("mixmatch", "small")])
def test_evaluate_runs_the_semi_supervised_baselines_on_the_draws_and_the_pool_only(tmp_path, capsys, monkeypatch, name,
                                                                                      network):
    """--baselines fixmatch (or mixmatch): rows on every draw, tagged data=pool; the pool holds no validation or test
    image."""
    from fewgen.baselines import BASELINES

    cls = BASELINES[name].model_class()
    seen = []
    original = cls.fit

    def spy(self, images, labels, pool=None):
        seen.append(pool)
        return original(self, images, labels, pool)

    monkeypatch.setattr(cls, "fit", spy)
    run = tmp_path / "run"
    assert main(["pretrain", "--run", str(run), "--backbone", "pixels", "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--heads", "", "--baselines", name, "-B", f"{name}.steps=2", "-B",
                 f"{name}.network={network}", "--shots", "1", "--seeds", "2", "--val-per-class", "2", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [(r["backbone"], r["data"], r["seed"]) for r in rows] == [(name, "pool", 0), (name, "pool", 1)]
    assert rows[0]["spec"]["steps"] == 2 and rows[0]["spec"]["network"] == network
    from fewgen.data import load_source
    from fewgen.data.splits import validation_draw

    digits = load_source("digits")
    val = validation_draw(digits.train.labels, 2, digits.class_names)
    expected = np.setdiff1d(np.arange(len(digits.train)), val)  # the train split minus the validation draw
    assert all(torch.equal(pool, digits.train.images[torch.as_tensor(expected)]) for pool in seen)


def test_fixmatch_fits_and_predicts_the_draws_classes():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8)
    pool = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8)
    model = FixMatchBaseline(TINY, seed=0).fit(images, np.array([3, 5, 3, 5, 3, 5]), pool)
    assert set(model.predict(pool)) <= {3, 5} and model.summary_["steps"] == 3
