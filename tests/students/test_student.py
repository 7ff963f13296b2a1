"""Students: the pool loss follows the teacher until the student is confident, the confidence mask matters (FixMatch's
own mask: tests/baselines/test_fixmatch.py), a resumed student ends with the weights of an uninterrupted one, and the networks take the images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fewgen.backbones import get_backbone_class
from fewgen.configs import StudentConfig
from fewgen.errors import FewgenError
from fewgen.networks import build_network
from fewgen.students.student import Student, TaughtClassifier, student_targets


def _images(n: int, seed: int = 0, shape=(1, 8, 8)) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _teacher(n: int, k: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.softmax(torch.randn(n, k, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_the_students_own_pseudo_label_replaces_the_teachers_only_where_it_is_confident():
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.2, 0.1, 0.0]])  # confident in class 0; unsure
    teacher = _teacher(2)
    targets, own = student_targets(logits, teacher, threshold=0.9)
    assert own.tolist() == [True, False]
    assert targets[0].tolist() == [1.0, 0.0, 0.0] and torch.equal(targets[1], teacher[1])
    targets, own = student_targets(logits, teacher, threshold=1.01)  # above 1: never its own
    assert not own.any() and torch.equal(targets, teacher)


def _taught(threshold: float, k: int = 3) -> tuple[TaughtClassifier, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    config = StudentConfig(batch_size=4, mu=2, threshold=threshold)
    net = build_network("small", (1, 8, 8), k)
    identity = torch.nn.Identity()  # no augmentation: the loss can be recomputed here
    model = TaughtClassifier(net, _images(6), torch.tensor([0, 1, 2, 0, 1, 2]), identity, identity, config).eval()
    return model, _images(8, seed=3), _teacher(8, k)


def test_above_threshold_1_the_pool_loss_is_the_soft_cross_entropy_with_the_teachers_targets():
    model, pool, teacher = _taught(threshold=1.01)
    torch.manual_seed(5)
    loss, logs = model.training_loss(pool, teacher)
    torch.manual_seed(5)
    pick = torch.randint(6, (4,))
    with torch.no_grad():
        supervised = torch.nn.functional.cross_entropy(model(model.labeled[pick]), model.labels[pick])
        pooled = -(teacher * torch.log_softmax(model(pool), dim=1)).sum(1).mean()
    assert logs["own"] == 0.0
    torch.testing.assert_close(loss.detach(), supervised + pooled, rtol=1e-5, atol=1e-5)
    model, pool, teacher = _taught(threshold=0.0)  # every pseudo-label is the student's own: another loss
    other, logs = model.training_loss(pool, teacher)
    assert logs["own"] == 1.0 and not torch.isclose(other, loss)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16 autocast runs on every x86 CPU (emulated without AVX512-BF16)
def test_a_resumed_student_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch, precision):
    config = StudentConfig(steps=6, batch_size=2, mu=2, precision=precision)
    labeled, labels, pool = _images(6), np.array([0, 1, 2, 0, 1, 2]), _images(32, seed=2)
    targets = _teacher(32).numpy()

    def student():
        return Student(config, seed=3).teach(targets)

    straight = student().fit(labeled, labels, pool, tmp_path / "straight")
    original, calls = TaughtClassifier.training_loss, []

    def dies_at_step_5(self, *batch):
        calls.append(1)
        if len(calls) == 5:
            raise _Killed
        return original(self, *batch)

    monkeypatch.setattr(TaughtClassifier, "training_loss", dies_at_step_5)
    with pytest.raises(_Killed):
        student().fit(labeled, labels, pool, tmp_path / "killed", checkpoint_every=3)
    monkeypatch.setattr(TaughtClassifier, "training_loss", original)
    resumed = student().fit(labeled, labels, pool, tmp_path / "killed", resume=True, checkpoint_every=3)
    assert resumed.summaries_[0]["resumed_from_step"] == 3
    for key, value in straight.model_.state_dict().items():
        assert torch.equal(resumed.model_.state_dict()[key], value), key


def test_rounds_train_a_fresh_student_on_the_last_ones_predictions():
    config = StudentConfig(steps=2, batch_size=2, mu=2, rounds=2, precision="fp32")
    student = Student(config).teach(_teacher(16).numpy()).fit(_images(6), np.array([0, 1, 2, 0, 1, 2]), _images(16, seed=2))
    assert len(student.summaries_) == 2 and student.summary_["steps"] == 4
    proba = student.predict_proba(_images(5, seed=4))
    assert proba.shape == (5, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_a_temperature_below_1_sharpens_the_targets_every_round_learns_from(monkeypatch):
    taught = []
    monkeypatch.setattr(Student, "_train_round", lambda self, images, y, pool, targets, *rest: taught.append(targets))
    monkeypatch.setattr(Student, "_proba_of", lambda self, pool: np.full((len(pool), 3), 1 / 3, np.float32))
    teacher = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], np.float32)
    labeled, labels, pool = _images(3), np.array([0, 1, 2]), _images(2, seed=2)
    Student(StudentConfig(rounds=2)).teach(teacher).fit(labeled, labels, pool)
    assert torch.equal(taught[0], torch.from_numpy(teacher))  # temperature 1: the teacher's own probabilities
    Student(StudentConfig(temperature=0.5, rounds=2)).teach(teacher).fit(labeled, labels, pool)
    squared = teacher ** 2 / (teacher ** 2).sum(1, keepdims=True)
    torch.testing.assert_close(taught[2], torch.from_numpy(squared))
    torch.testing.assert_close(taught[3], torch.full((2, 3), 1 / 3))  # a flat row stays flat


def test_the_encoder_student_starts_from_the_backbones_features():
    vae = get_backbone_class("vae")(get_backbone_class("vae").Config(channels=8, latent_dim=4), (1, 8, 8))
    spec = vae.default_specs()[0]
    net = build_network("encoder", (1, 8, 8), 3, vae, spec)
    x = _images(4)
    with torch.no_grad():
        assert torch.equal(net.eval().view._features(x, spec), vae._features(x, spec))  # the same path, the same weights
    assert net(x).shape == (4, 3)
    assert all(p.requires_grad for p in net.body.parameters())
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(net.body.parameters(), vae.model.parameters()))  # a copy
    pixels = get_backbone_class("pixels")(get_backbone_class("pixels").Config(), (1, 8, 8))
    with pytest.raises(FewgenError, match="no trained image-to-feature path for the encoder student"):
        build_network("encoder", (1, 8, 8), 3, pixels, spec)
