"""The one Trainer every model uses: accelerate for device and precision, AdamW,
a progress bar, an atomic checkpoint per epoch, resume, and a clear error on a
non-finite loss.

A trainable model is an ``nn.Module`` with ``training_loss(*batch) -> (loss, logs)``,
where ``batch`` is one minibatch of the tensors given to :meth:`Trainer.fit`, and
optionally ``after_optimizer_step()`` (called after every step, e.g. for EMA weights).
A model trained by alternating updates (a GAN) also defines ``training_phases() ->
list[Phase]``: each phase has its own optimizer, and every step runs the phases in
order, calling ``training_loss(*batch, phase=name)`` for each.
Only this module picks the device and the precision, for training and for
inference (:func:`inference_device`, :func:`inference_autocast`).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from safetensors import safe_open
from safetensors.torch import load_file
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from fewgen.atomic import save_tensors, write_json
from fewgen.errors import FewgenError

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    """Optimisation settings. ``steps``, when set, overrides ``epochs`` as the budget."""

    epochs: int = 10
    steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine
    precision: str = "auto"  # auto | bf16 | fp32
    seed: int = 0
    progress: bool = True
    cpu: bool = False  # force the CPU even where a GPU is present


@dataclass(frozen=True)
class Phase:
    """One optimizer of a model trained by alternating updates, e.g. ALAE's discriminator step.

    ``betas``: Adam's momentum terms; GANs use (0.0, 0.99) (Karras et al., 2019; Pidhorskyi et al., 2020).
    """

    name: str
    parameters: tuple = field(repr=False)
    betas: tuple[float, float] = (0.9, 0.999)


SINGLE_PHASE = "model"


def training_phases(model: torch.nn.Module) -> list[Phase]:
    """The model's phases, or one phase over every parameter that needs a gradient (not EMA copies)."""
    custom = getattr(model, "training_phases", None)
    if custom is not None:
        return custom()
    return [Phase(SINGLE_PHASE, tuple(p for p in model.parameters() if p.requires_grad))]


def phase_loss(model: torch.nn.Module, phase: Phase, batch) -> tuple[torch.Tensor, dict[str, float]]:
    """``model.training_loss`` for one phase of one minibatch (a tuple of tensors)."""
    if phase.name == SINGLE_PHASE:
        return model.training_loss(*batch)
    return model.training_loss(*batch, phase=phase.name)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_mixed_precision(precision: str, cpu: bool = False) -> str:
    """Map ``auto|bf16|fp32`` to accelerate's ``bf16|no``: bf16 only where the hardware runs it natively."""
    if precision not in PRECISIONS:
        raise FewgenError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    if precision == "fp32":
        return "no"
    if precision == "bf16":
        return "bf16"
    if torch.cuda.is_available() and not cpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_has_native_bf16() else "no"


def make_accelerator(precision: str = "auto", cpu: bool = False) -> Accelerator:
    """An Accelerator for this precision; accelerate keeps one global state per process, so a
    different precision than the last one resets it (as accelerate's own test utilities do)."""
    mixed = choose_mixed_precision(precision, cpu)
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != mixed:
        AcceleratorState._reset_state(reset_partial_state=False)
    if cpu and state and state.get("device") is not None and state["device"].type != "cpu":
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(mixed_precision=mixed, cpu=cpu)


def inference_device(cpu: bool = False) -> torch.device:
    """Where feature extraction and sampling run: the GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def inference_autocast(precision: str, device: torch.device):
    """An autocast context: bf16 where :func:`choose_mixed_precision` picks it, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolved_precision(precision, device) == "bf16")


def resolved_precision(precision: str, device: torch.device) -> str:
    """``bf16`` or ``fp32``: what ``precision`` means on ``device`` (recorded with cached features)."""
    return "bf16" if choose_mixed_precision(precision, cpu=device.type == "cpu") == "bf16" else "fp32"


# -- optimizer state <-> safetensors -------------------------------------------
def _optimizer_to_tensors(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in list(tensors.items()) + list(meta["scalars"].items()):
        pid, key = flat.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


class Trainer:
    """Trains ``model`` on tensors; checkpoints into ``checkpoint_dir`` when given."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, checkpoint_dir: Path | None = None, tag: str = "model"):
        self.model = model
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.tag = tag

    def fit(self, *tensors: torch.Tensor, resume: bool = False) -> dict:
        """Train on minibatches of ``tensors`` (first dim = examples); returns a summary."""
        cfg = self.config
        if cfg.schedule not in ("constant", "cosine"):
            raise FewgenError(f"--schedule must be constant or cosine, got '{cfg.schedule}'")
        accelerator = make_accelerator(cfg.precision, cfg.cpu)
        dataset = TensorDataset(*tensors)
        batch_size = min(cfg.batch_size, len(dataset))
        drop_last = len(dataset) > batch_size  # no tiny last batch (BatchNorm needs > 1 example)
        steps_per_epoch = len(dataset) // batch_size
        total_steps = cfg.steps or cfg.epochs * steps_per_epoch
        epochs = math.ceil(total_steps / steps_per_epoch)
        phases = training_phases(self.model)
        optimizers = [self._optimizer(phase, accelerator) for phase in phases]
        schedulers = [self._scheduler(opt, total_steps) for opt in optimizers]
        start_epoch, step, history = (self._restore(phases, optimizers, schedulers) if resume else (0, 0, []))
        model, *opts = accelerator.prepare(self.model, *optimizers)
        unwrapped = accelerator.unwrap_model(model)
        after_step = getattr(unwrapped, "after_optimizer_step", None)  # e.g. an EMA update
        started, last_loss = time.perf_counter(), float("nan")
        for epoch in range(start_epoch, epochs):
            set_seed(cfg.seed * 100_003 + epoch)
            order = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            loader = accelerator.prepare(DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=drop_last, generator=order))
            model.train()
            bar = tqdm(loader, desc=f"{self.tag} epoch {epoch + 1}/{epochs}", disable=not cfg.progress, leave=False)
            totals: dict[str, tuple[float, int]] = {}  # per log key: sum and count, for epoch means
            for batch in bar:
                if step >= total_steps:
                    break
                last_loss, logs = self._step(accelerator, unwrapped, phases, opts, schedulers, batch, epoch, step)
                if after_step is not None:
                    after_step()
                step += 1
                for key, value in {"loss": last_loss, **logs}.items():
                    total, count = totals.get(key, (0.0, 0))
                    totals[key] = (total + value, count + 1)
                bar.set_postfix(loss=f"{last_loss:.4g}", **{k: f"{v:.3g}" for k, v in logs.items()})
            history.append({"epoch": epoch + 1, **{k: total / count for k, (total, count) in totals.items()}})
            self._checkpoint(accelerator, phases, optimizers, schedulers, epoch, step, history)
        self.model = accelerator.unwrap_model(model).cpu().eval()
        return {"seconds": time.perf_counter() - started, "steps": step, "epochs": epochs, "final_loss": last_loss,
                "mixed_precision": accelerator.mixed_precision, "history": history}

    def _optimizer(self, phase: Phase, accelerator: Accelerator) -> torch.optim.Optimizer:
        fused = accelerator.device.type in ("cpu", "cuda")  # one kernel per step: 10x faster on CPU for ResNet-18
        cfg = self.config
        return torch.optim.AdamW(list(phase.parameters), lr=cfg.lr, betas=phase.betas, weight_decay=cfg.weight_decay, fused=fused)

    def _scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int):
        if self.config.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    def _step(self, accelerator, model, phases, optimizers, schedulers, batch, epoch: int, step: int) -> tuple[float, dict]:
        """One minibatch: each phase's loss, backward and optimizer step in turn; returns (summed loss, logs)."""
        total, logs = 0.0, {}
        for phase, opt, scheduler in zip(phases, optimizers, schedulers):
            with accelerator.autocast():
                loss, phase_logs = phase_loss(model, phase, batch)
            if not torch.isfinite(loss):
                where = f"; the last good checkpoint is in {self.checkpoint_dir}" if self.checkpoint_dir else ""
                which = "" if phase.name == SINGLE_PHASE else f" ({phase.name} phase)"
                raise FewgenError(
                    f"training loss{which} became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                    f"lower --lr or use --precision fp32{where}"
                )
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            opt.step()
            scheduler.step()
            total += loss.item()
            logs.update(phase_logs)
            if len(phases) > 1:
                logs[f"{phase.name}_loss"] = loss.item()
        return total, logs

    # -- checkpoints -------------------------------------------------------------
    @staticmethod
    def _optimizer_file(phases: list[Phase], phase: Phase) -> str:
        return "optimizer.safetensors" if len(phases) == 1 else f"optimizer_{phase.name}.safetensors"

    def _checkpoint(self, accelerator: Accelerator, phases, optimizers, schedulers, epoch: int, step: int,
                    history: list[dict]) -> None:
        """Write ``epoch_NNNN/`` (each file atomic), then point ``latest.json`` at it, then prune."""
        if self.checkpoint_dir is None:
            return
        folder = self.checkpoint_dir / f"epoch_{epoch + 1:04d}"
        weights = accelerator.unwrap_model(self.model).state_dict()
        save_tensors(folder / "model.safetensors", weights, {"tag": self.tag})
        for phase, optimizer in zip(phases, optimizers):
            opt_tensors, opt_meta = _optimizer_to_tensors(optimizer.state_dict())
            save_tensors(folder / self._optimizer_file(phases, phase), opt_tensors, {"meta": json.dumps(opt_meta)})
        write_json(folder / "state.json", {"epoch": epoch + 1, "step": step, "schedulers": [s.state_dict() for s in schedulers],
                                           "history": history, "config": asdict(self.config), "tag": self.tag})
        write_json(self.checkpoint_dir / "latest.json", {"folder": folder.name})
        for old in self.checkpoint_dir.glob("epoch_*"):
            if old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)

    def _restore(self, phases, optimizers, schedulers) -> tuple[int, int, list[dict]]:
        latest = self.checkpoint_dir / "latest.json" if self.checkpoint_dir else None
        if latest is None or not latest.is_file():
            raise FewgenError(f"--resume found no checkpoint in {self.checkpoint_dir}; run without --resume")
        folder = self.checkpoint_dir / json.loads(latest.read_text())["folder"]
        state = json.loads((folder / "state.json").read_text())
        if state["tag"] != self.tag:
            raise FewgenError(f"checkpoint {folder} is for '{state['tag']}', not '{self.tag}'; use a fresh --run folder")
        try:
            self.model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        except RuntimeError:
            raise FewgenError(f"checkpoint {folder} does not fit this model; resume with the settings the run started with") from None
        for phase, optimizer in zip(phases, optimizers):
            path = folder / self._optimizer_file(phases, phase)
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["meta"])
            optimizer.load_state_dict(_optimizer_from_tensors(load_file(str(path)), meta))
        saved_schedulers = state["schedulers"] if "schedulers" in state else [state["scheduler"]]  # before phases
        for scheduler, saved in zip(schedulers, saved_schedulers):
            scheduler.load_state_dict(saved)
        return state["epoch"], state["step"], state.get("history", [])
