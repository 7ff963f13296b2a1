"""The shared Trainer: checkpoints, resume, precision choice, non-finite loss."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from fewgen.errors import FewgenError
from fewgen.train import Phase, TrainConfig, Trainer, choose_mixed_precision


class Regressor(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.scale = scale

    def training_loss(self, x, y):
        return self.scale * ((self.linear(x).squeeze(1) - y) ** 2).mean(), {}


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def test_loss_decreases_and_checkpoint_is_written(tmp_path):
    x, y = data()
    model = Regressor()
    before = model.training_loss(x, y)[0].item()
    summary = Trainer(model, TrainConfig(epochs=20, batch_size=16, lr=0.05, progress=False, precision="fp32"), tmp_path).fit(x, y)
    assert summary["final_loss"] < before / 10
    latest = json.loads((tmp_path / "latest.json").read_text())["folder"]
    assert latest == "epoch_0020" and sorted(p.name for p in tmp_path.glob("epoch_*")) == ["epoch_0020"]
    assert set(load_file(str(tmp_path / latest / "model.safetensors"))) == {"linear.weight", "linear.bias"}


def test_resume_continues_to_the_same_weights(tmp_path):
    x, y = data()
    cfg = dict(batch_size=16, lr=0.05, progress=False, precision="fp32")
    straight = Regressor()
    torch.manual_seed(0)
    straight.load_state_dict(Regressor().state_dict())
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    Trainer(straight, TrainConfig(epochs=6, **cfg), tmp_path / "a").fit(x, y)

    first = Regressor()
    first.load_state_dict(start)
    Trainer(first, TrainConfig(epochs=3, **cfg), tmp_path / "b").fit(x, y)  # "killed" after 3 epochs
    resumed = Regressor()
    resumed.load_state_dict(start)
    summary = Trainer(resumed, TrainConfig(epochs=6, **cfg), tmp_path / "b").fit(x, y, resume=True)
    assert summary["steps"] == 6 * 4
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(FewgenError, match="--resume found no checkpoint"):
        Trainer(Regressor(), TrainConfig(progress=False), tmp_path).fit(*data(), resume=True)


def test_non_finite_loss_is_a_clear_error():
    with pytest.raises(FewgenError, match="training loss became nan .*--lr"):
        Trainer(Regressor(scale=float("nan")), TrainConfig(epochs=1, progress=False)).fit(*data())


def test_precision_choice():
    assert choose_mixed_precision("fp32") == "no"
    assert choose_mixed_precision("bf16") == "bf16"
    assert choose_mixed_precision("auto") in ("bf16", "no")
    with pytest.raises(FewgenError, match="--precision"):
        choose_mixed_precision("fp8")


class TwoPhase(nn.Module):
    """Phase 'a' fits ``first`` to y; phase 'b' fits ``second`` to -y (each its own optimizer)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 1)
        self.second = nn.Linear(3, 1)
        self.calls = []

    def training_phases(self):
        return [Phase("a", tuple(self.first.parameters())), Phase("b", tuple(self.second.parameters()), betas=(0.0, 0.99))]

    def training_loss(self, x, y, phase):
        self.calls.append(phase)
        layer, target = (self.first, y) if phase == "a" else (self.second, -y)
        return ((layer(x).squeeze(1) - target) ** 2).mean(), {f"{phase}_seen": 1.0}


def test_phases_run_in_order_with_their_own_optimizers(tmp_path):
    x, y = data()
    model = TwoPhase()
    cfg = TrainConfig(epochs=30, batch_size=16, lr=0.05, progress=False, precision="fp32")
    summary = Trainer(model, cfg, tmp_path).fit(x, y)
    assert model.calls[:4] == ["a", "b", "a", "b"] and len(model.calls) == 2 * summary["steps"]
    torch.testing.assert_close(model.first.weight.detach(), torch.tensor([[1.0, -2.0, 0.5]]), atol=0.05, rtol=0)
    torch.testing.assert_close(model.second.weight.detach(), torch.tensor([[-1.0, 2.0, -0.5]]), atol=0.05, rtol=0)
    last = summary["history"][-1]
    assert last["epoch"] == 30 and {"loss", "a_loss", "b_loss", "a_seen", "b_seen"} <= set(last)
    folder = tmp_path / "epoch_0030"
    assert (folder / "optimizer_a.safetensors").is_file() and (folder / "optimizer_b.safetensors").is_file()


def test_multi_phase_resume_continues_to_the_same_weights(tmp_path):
    x, y = data()
    cfg = dict(batch_size=16, lr=0.05, progress=False, precision="fp32")
    torch.manual_seed(0)
    start = TwoPhase().state_dict()
    straight, first, resumed = TwoPhase(), TwoPhase(), TwoPhase()
    for model in (straight, first, resumed):
        model.load_state_dict(start)
    Trainer(straight, TrainConfig(epochs=4, **cfg), tmp_path / "a").fit(x, y)
    Trainer(first, TrainConfig(epochs=2, **cfg), tmp_path / "b").fit(x, y)
    summary = Trainer(resumed, TrainConfig(epochs=4, **cfg), tmp_path / "b").fit(x, y, resume=True)
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3, 4]
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)


def test_epoch_means_count_each_log_on_the_steps_it_was_given():
    class Sometimes(Regressor):
        step = 0

        def training_loss(self, x, y):
            loss, _ = super().training_loss(x, y)
            Sometimes.step += 1
            return loss, ({"rare": 2.0} if Sometimes.step % 2 else {})

    summary = Trainer(Sometimes(), TrainConfig(epochs=1, batch_size=16, progress=False)).fit(*data())
    assert summary["history"][0]["rare"] == 2.0


def test_resume_reads_a_checkpoint_written_before_phases(tmp_path):
    x, y = data()
    cfg = dict(batch_size=16, lr=0.05, progress=False, precision="fp32")
    Trainer(Regressor(), TrainConfig(epochs=2, **cfg), tmp_path).fit(x, y)
    state_path = tmp_path / "epoch_0002" / "state.json"
    state = json.loads(state_path.read_text())
    state["scheduler"] = state.pop("schedulers")[0]
    del state["history"]
    state_path.write_text(json.dumps(state))
    summary = Trainer(Regressor(), TrainConfig(epochs=3, **cfg), tmp_path).fit(x, y, resume=True)
    assert summary["steps"] == 3 * 4 and [row["epoch"] for row in summary["history"]] == [3]
