"""The shared Trainer: checkpoints, resume, precision choice, non-finite loss."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from fewgen.errors import FewgenError
from fewgen.data.order import ShardedBatches, derived_seed
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
    assert latest == "step_00000080" and sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000080"]
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
    import fewgen.train

    for cuda, cuda_bf16, cpu_bf16, expected in [(False, False, True, "bf16"), (False, False, False, "no"),
                                                (True, True, False, "bf16"), (True, False, True, "no")]:
        with pytest.MonkeyPatch.context() as patch:  # auto follows the hardware: bf16 only where it runs natively
            patch.setattr(fewgen.train.torch.cuda, "is_available", lambda: cuda)
            patch.setattr(fewgen.train.torch.cuda, "is_bf16_supported", lambda: cuda_bf16)
            patch.setattr(fewgen.train, "cpu_has_native_bf16", lambda: cpu_bf16)
            assert choose_mixed_precision("auto") == expected
            assert choose_mixed_precision("auto", cpu=True) == ("bf16" if cpu_bf16 else "no")
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
    folder = tmp_path / "step_00000120"
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
    """Checkpoints of earlier versions: an ``epoch_NNNN`` folder, one ``scheduler``, no history, no plan."""
    x, y = data()
    cfg = dict(batch_size=16, lr=0.05, progress=False, precision="fp32")
    Trainer(Regressor(), TrainConfig(epochs=2, **cfg), tmp_path).fit(x, y)
    folder = (tmp_path / "step_00000008").rename(tmp_path / "epoch_0002")
    (tmp_path / "latest.json").write_text(json.dumps({"folder": folder.name}))
    state = json.loads((folder / "state.json").read_text())
    old = {"epoch": 2, "step": state["step"], "scheduler": state["schedulers"][0], "config": state["config"], "tag": state["tag"]}
    (folder / "state.json").write_text(json.dumps(old))
    summary = Trainer(Regressor(), TrainConfig(epochs=3, **cfg), tmp_path).fit(x, y, resume=True)
    assert summary["steps"] == 3 * 4 and [row["epoch"] for row in summary["history"]] == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step_00000012"]


class NoisyRegressor(Regressor):
    """Draws noise every step (like a diffusion loss) and can fail at a chosen call, as a killed run would."""

    def __init__(self, fail_at: int | None = None, noise: float = 0.1):
        super().__init__()
        self.fail_at, self.calls, self.noise = fail_at, 0, noise

    def training_loss(self, x, y):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("killed")
        noisy = x + self.noise * torch.randn_like(x)
        return ((self.linear(noisy).squeeze(1) - y) ** 2).mean(), {}


EXACT_CONFIG = TrainConfig(epochs=3, batch_size=16, lr=0.05, schedule="cosine", checkpoint_every=3, progress=False,
                           precision="fp32")


def test_resume_mid_epoch_repeats_the_uninterrupted_run_exactly(tmp_path):
    """Killed at step 7 of 12 (checkpoint at step 6, mid-epoch) under the cosine schedule, with noise drawn every
    step: the resumed run must end bit-identical. Fails if the data order, the per-step randomness, the optimizer
    or the scheduler's position is not restored."""
    x, y = data()
    cfg = EXACT_CONFIG
    torch.manual_seed(0)
    start = NoisyRegressor().state_dict()
    straight, killed, resumed = NoisyRegressor(), NoisyRegressor(fail_at=7), NoisyRegressor()
    for model in (straight, killed, resumed):
        model.load_state_dict(start)
    Trainer(straight, cfg, tmp_path / "a").fit(x, y)
    with pytest.raises(KeyboardInterrupt):
        Trainer(killed, cfg, tmp_path / "b").fit(x, y)
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["folder"] == "step_00000006"
    summary = Trainer(resumed, cfg, tmp_path / "b").fit(x, y, resume=True)
    assert summary["resumed_from_step"] == 6 and resumed.calls == 12 - 6
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    assert [row["epoch"] for row in summary["history"]] == [1, 2, 3]


def test_resume_refuses_a_longer_cosine_schedule_but_extends_a_constant_one(tmp_path):
    x, y = data()
    cfg = dict(batch_size=16, lr=0.05, progress=False, precision="fp32")
    Trainer(Regressor(), TrainConfig(epochs=2, schedule="cosine", **cfg), tmp_path / "cos").fit(x, y)
    with pytest.raises(FewgenError, match=r"cosine schedule was laid out for 8 steps \(--epochs 2\).*resume with --epochs 2"):
        Trainer(Regressor(), TrainConfig(epochs=4, schedule="cosine", **cfg), tmp_path / "cos").fit(x, y, resume=True)
    Trainer(Regressor(), TrainConfig(epochs=2, **cfg), tmp_path / "const").fit(x, y)
    assert Trainer(Regressor(), TrainConfig(epochs=4, **cfg), tmp_path / "const").fit(x, y, resume=True)["steps"] == 16
    with pytest.raises(FewgenError, match="--batch-size 16, not 32"):
        Trainer(Regressor(), TrainConfig(epochs=4, **{**cfg, "batch_size": 32}), tmp_path / "const").fit(x, y, resume=True)


def test_sharded_batches_split_each_global_batch_whatever_the_number_of_processes():
    one = list(ShardedBatches(50, 8, epoch=3, seed=1))
    two = [list(ShardedBatches(50, 8, epoch=3, seed=1, rank=r, world=2)) for r in range(2)]
    assert len(one) == 6 and all(len(b) == 8 for b in one)
    assert [a + b for a, b in zip(*two)] == one  # process 0 reads the first half of each global batch, process 1 the rest
    assert list(ShardedBatches(50, 8, epoch=3, seed=1, start=4)) == one[4:]
    assert list(ShardedBatches(50, 8, epoch=4, seed=1)) != one


def test_checkpoint_every_must_be_positive(tmp_path):
    with pytest.raises(FewgenError, match="--checkpoint-every must be at least 1, got 0"):
        Trainer(Regressor(), TrainConfig(checkpoint_every=0, progress=False), tmp_path).fit(*data())


def torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 tests/launched.py ARGS`` on the CPU (gloo), one thread per process."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(root), str(root / "src"), os.environ.get("PYTHONPATH", "")])}
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(port), str(root / "tests" / "launched.py"), "--", *args]  # "--": fewgen's --run is not torchrun's --run-path
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_processes_take_the_steps_of_one_and_resume_its_checkpoints(tmp_path):
    """Data parallel: 2 processes, each reading half of every global batch of 16, end where one process ends
    (within float tolerance: the gradient is averaged in another order); and they resume a one-process checkpoint."""
    torch.manual_seed(0)
    one = NoisyRegressor(noise=0.0)
    torch.manual_seed(0)
    killed = NoisyRegressor(noise=0.0, fail_at=7)
    Trainer(one, EXACT_CONFIG, tmp_path / "one").fit(*data())
    with pytest.raises(KeyboardInterrupt):
        Trainer(killed, EXACT_CONFIG, tmp_path / "killed").fit(*data())
    torchrun("trainer", str(tmp_path))
    rows = [json.loads((tmp_path / f"rows-{rank}.json").read_text()) for rank in (0, 1)]
    order = torch.randperm(64, generator=torch.Generator().manual_seed(derived_seed(0, "epoch", 0)))
    assert rows[0][0] + rows[1][0] == data()[0][order[:16], 0].tolist()  # each process read its half of the global batch
    for name in ("straight", "resumed"):
        two = load_file(str(tmp_path / f"{name}.safetensors"))
        for key, value in one.state_dict().items():
            torch.testing.assert_close(two[key], value, atol=1e-6, rtol=1e-5, msg=f"{name}: {key}")
    state = json.loads((tmp_path / "straight" / "step_00000012" / "state.json").read_text())
    assert state["processes"] == 2 and state["step"] == 12


class TinyConv(nn.Module):
    """A convolution whose weights have a memory order to change: images [B, 2, 6, 6] -> a regression loss."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)

    def training_loss(self, x, y):
        return ((self.conv(x).mean(dim=(1, 2, 3)) - y) ** 2).mean(), {}


def test_channels_last_trains_the_same_weights_and_resumes(tmp_path):
    """--channels-last changes only how the weights lie in memory: the same run within float rounding, a
    checkpoint in the standard layout, and a resume on top of it."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 2, 6, 6), torch.randn(32)
    start = TinyConv().state_dict()
    plain, last = TinyConv(), TinyConv()
    for model in (plain, last):
        model.load_state_dict(start)
    cfg = dict(epochs=2, batch_size=8, lr=0.01, progress=False, precision="fp32")
    Trainer(plain, TrainConfig(**cfg), tmp_path / "plain").fit(x, y)
    Trainer(last, TrainConfig(**cfg, channels_last=True), tmp_path / "last").fit(x, y)
    assert last.conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(last.state_dict(), plain.state_dict(), atol=1e-6, rtol=1e-5)
    longer = TinyConv()
    summary = Trainer(longer, TrainConfig(**{**cfg, "epochs": 3}, channels_last=True), tmp_path / "last").fit(x, y, resume=True)
    assert summary["resumed_from_step"] == 8 and summary["steps"] == 12


def test_compile_wraps_the_training_step_only(tmp_path, monkeypatch):
    """--compile hands the training step to torch.compile (stood in for by a spy here: TorchInductor needs a
    compiler and minutes); the model that is saved stays the plain module."""
    import fewgen.train

    compiled = []
    monkeypatch.setattr(fewgen.train.torch, "compile", lambda module: compiled.append(module) or module)
    model = TinyConv()
    Trainer(model, TrainConfig(epochs=1, batch_size=8, progress=False, precision="fp32", compile=True), tmp_path).fit(
        torch.randn(16, 2, 6, 6), torch.randn(16))
    assert len(compiled) == 1 and compiled[0].model is model
    assert not hasattr(model, "_orig_mod")
