"""The one Trainer every model uses: accelerate for device, precision and data-parallel
processes, AdamW, a progress bar, atomic checkpoints per epoch (and every N steps),
exact resume, and a clear error on a non-finite loss.

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
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from fewgen.atomic import atomic_folder, save_tensors, write_json
from fewgen.cpu import cpu_flags
from fewgen.data.order import ShardedBatches, derived_seed
from fewgen.errors import FewgenError
from fewgen.optimizer_state import optimizer_from_tensors, optimizer_to_tensors
from fewgen.progress import bar_disabled

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
    checkpoint_every: int | None = None  # also checkpoint every this many steps; None: at the end of each epoch only
    workers: int | None = None  # DataLoader processes that decode batches; None: fewgen.data.files.default_workers
    compile: bool = False  # torch.compile the training step (TorchInductor); weights and checkpoints are unchanged
    channels_last: bool = False  # keep conv weights (and so activations) in channels-last memory order (NHWC)

    def check(self) -> None:
        """One sentence for the first setting out of range (before any work is done or anything is written)."""
        limits = [("--epochs", self.epochs, self.epochs >= 0, "0 or more"),
                  ("--steps", self.steps, self.steps is None or self.steps >= 0, "0 or more"),
                  ("--batch-size", self.batch_size, self.batch_size >= 1, "at least 1"),
                  ("--lr", self.lr, self.lr > 0 and math.isfinite(self.lr), "a positive number"),
                  ("--weight-decay", self.weight_decay, self.weight_decay >= 0, "0 or more"),
                  ("--checkpoint-every", self.checkpoint_every, self.checkpoint_every is None or self.checkpoint_every >= 1,
                   "at least 1"),
                  ("--workers", self.workers, self.workers is None or self.workers >= 0, "0 or more")]
        for option, value, ok, wanted in limits:
            if not ok:
                raise FewgenError(f"{option} must be {wanted}, got {value}")
        if self.schedule not in ("constant", "cosine"):
            raise FewgenError(f"--schedule must be constant or cosine, got '{self.schedule}'")


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


def cpu_has_native_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


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


def make_accelerator(precision: str = "auto", cpu: bool = False, find_unused_parameters: bool = False) -> Accelerator:
    """An Accelerator for this precision; accelerate keeps one global state per process, so a
    different precision than the last one resets it (as accelerate's own test utilities do).
    ``find_unused_parameters``: for DistributedDataParallel, when a forward leaves some parameters out
    (each phase of a multi-phase model trains only its own)."""
    mixed = choose_mixed_precision(precision, cpu)
    cpu = cpu or not torch.cuda.is_available()  # accelerate forms a multi-process CPU (gloo) group only when told cpu=True
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != mixed:
        AcceleratorState._reset_state(reset_partial_state=False)
    if cpu and state and state.get("device") is not None and state["device"].type != "cpu":
        AcceleratorState._reset_state(reset_partial_state=True)
    ddp = DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)
    return Accelerator(mixed_precision=mixed, cpu=cpu, kwargs_handlers=[ddp])


def is_main_process() -> bool:
    """True in the process that writes files: the only one, or rank 0 of an ``accelerate launch``/``torchrun`` group."""
    return PartialState(cpu=not torch.cuda.is_available()).is_main_process


def inference_device(cpu: bool = False) -> torch.device:
    """Where feature extraction and sampling run: the GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def inference_autocast(precision: str, device: torch.device):
    """An autocast context: bf16 where :func:`resolved_precision` says so, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolved_precision(precision, device) == "bf16")


def resolved_precision(precision: str, device: torch.device) -> str:
    """``bf16`` or ``fp32``: what ``precision`` means for inference (features, sampling) on ``device``; recorded
    with cached features and in every model folder.

    Unlike training, ``auto`` is fp32 on every CPU, bf16 only on a GPU that has it: an image's features must be
    the same on every CPU kind, and bf16 features differ by about 0.3% (relative) between CPUs with native bf16
    and CPUs that emulate it, where bf16 is also about 20x slower than fp32
    (docs/notes/2026-12-03-same-image-same-answer.md). fp32 features differ by about 1e-6 between those CPUs. ``bf16`` asks for bf16 anywhere."""
    if precision == "auto" and device.type == "cpu":
        return "fp32"  # any other value is checked by choose_mixed_precision
    return "bf16" if choose_mixed_precision(precision, cpu=device.type == "cpu") == "bf16" else "fp32"


class _LossOf(nn.Module):
    """``forward(*batch, phase=...)`` returns ``phase_loss(model, phase, batch)``. DistributedDataParallel
    synchronises gradients only for work done inside its ``forward``, so the loss must be computed through it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *batch, phase: Phase):
        return phase_loss(self.model, phase, batch)


class Trainer:
    """Trains ``model`` on tensors or a map-style dataset; checkpoints into ``checkpoint_dir`` when given.

    Data parallel when launched with several processes (``accelerate launch`` or ``torchrun``): every
    process holds the model, reads its share of each global batch of ``batch_size`` images (see
    :class:`ShardedBatches`), and DistributedDataParallel averages the gradients, so a step is the step
    one process would take on the whole global batch. Only the main process writes checkpoints.
    Randomness inside a step (noise, timesteps, dropout) comes from generators seeded by
    ``(seed, step, rank)`` at the start of the step, which makes a resumed run, mid-epoch too,
    repeat an uninterrupted one exactly when the number of processes is the same.
    """

    def __init__(self, model: torch.nn.Module, config: TrainConfig, checkpoint_dir: Path | None = None, tag: str = "model"):
        self.model = model
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.tag = tag

    def fit(self, *tensors: torch.Tensor, resume: bool = False) -> dict:
        """Train on minibatches of ``tensors`` (first dim = examples); returns a summary."""
        return self.fit_dataset(TensorDataset(*tensors), resume=resume)

    def fit_dataset(self, dataset: Dataset, resume: bool = False) -> dict:
        """Train on minibatches of a map-style ``dataset`` whose items are tuples of tensors; returns a summary
        (seconds, steps, epochs, final_loss, mixed_precision, history, processes, resumed_from_step)."""
        cfg = self.config
        cfg.check()
        phases = training_phases(self.model)
        accelerator = make_accelerator(cfg.precision, cfg.cpu, find_unused_parameters=len(phases) > 1)
        world, rank = accelerator.num_processes, accelerator.process_index
        batch_size = min(cfg.batch_size, len(dataset))  # no tiny last batch: the incomplete one is dropped
        if batch_size % world:
            raise FewgenError(f"--batch-size {batch_size} must be a multiple of the number of processes ({world}); "
                              "every process reads an equal share of each batch")
        steps_per_epoch = len(dataset) // batch_size
        total_steps = cfg.steps or cfg.epochs * steps_per_epoch
        epochs = math.ceil(total_steps / steps_per_epoch)
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)  # before the optimizers see the parameters
        optimizers = [self._optimizer(phase, accelerator) for phase in phases]
        schedulers = [self._scheduler(opt, total_steps) for opt in optimizers]
        plan = {"batch_size": batch_size, "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "schedule": cfg.schedule}
        step, history, totals = self._restore(phases, optimizers, schedulers, plan) if resume else (0, [], {})
        resumed_from = step
        loss_of, *opts = accelerator.prepare(_LossOf(self.model), *optimizers)
        if cfg.compile:
            loss_of = torch.compile(loss_of)  # wraps the step; self.model (what is saved) stays the plain module
        after_step = getattr(self.model, "after_optimizer_step", None)  # e.g. an EMA update
        started, last_loss = time.perf_counter(), float("nan")
        bar = tqdm(total=total_steps, initial=step, desc=self.tag, disable=True if not accelerator.is_main_process else bar_disabled(cfg.progress),
                   leave=False)
        for epoch in range(step // steps_per_epoch, epochs):
            if step >= total_steps:
                break
            batches = ShardedBatches(len(dataset), batch_size, epoch, cfg.seed, rank, world, start=step % steps_per_epoch)
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers or 0,
                                persistent_workers=False, pin_memory=accelerator.device.type == "cuda")
            loss_of.train()
            bar.set_description(f"{self.tag} epoch {epoch + 1}/{epochs}")
            for batch in loader:
                if step >= total_steps:
                    break
                set_seed(derived_seed(cfg.seed, "step", step, rank))
                batch = tuple(t.to(accelerator.device, non_blocking=True) for t in batch)
                last_loss, logs = self._step(accelerator, loss_of, phases, opts, schedulers, batch, epoch, step)
                if after_step is not None:
                    after_step()
                step += 1
                for key, value in {"loss": last_loss, **logs}.items():
                    total, count = totals.get(key, (0.0, 0))
                    totals[key] = (total + value, count + 1)
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4g}", **{k: f"{v:.3g}" for k, v in logs.items()})
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step % steps_per_epoch and step < total_steps:
                    self._checkpoint(accelerator, phases, optimizers, schedulers, step, plan, history, totals)
            history.append({"epoch": epoch + 1, **{k: total / count for k, (total, count) in totals.items()}})
            totals = {}
            self._checkpoint(accelerator, phases, optimizers, schedulers, step, plan, history, totals)
        bar.close()
        self.model = self.model.cpu().eval()
        return {"seconds": time.perf_counter() - started, "steps": step, "epochs": epochs, "final_loss": last_loss,
                "mixed_precision": accelerator.mixed_precision, "history": history, "processes": world,
                "resumed_from_step": resumed_from}

    def _optimizer(self, phase: Phase, accelerator: Accelerator) -> torch.optim.Optimizer:
        fused = accelerator.device.type in ("cpu", "cuda")  # one kernel per step: 10x faster on CPU for ResNet-18
        cfg = self.config
        return torch.optim.AdamW(list(phase.parameters), lr=cfg.lr, betas=phase.betas, weight_decay=cfg.weight_decay, fused=fused)

    def _scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int):
        if self.config.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    def _step(self, accelerator, loss_of, phases, optimizers, schedulers, batch, epoch: int, step: int) -> tuple[float, dict]:
        """One minibatch: each phase's loss, backward and optimizer step in turn; returns (summed loss, logs).
        With several processes the loss is averaged over them first, so all of them see a non-finite one."""
        total, logs = 0.0, {}
        for phase, opt, scheduler in zip(phases, optimizers, schedulers):
            with accelerator.autocast():
                loss, phase_logs = loss_of(*batch, phase=phase)
            value = loss.detach().float()
            if accelerator.num_processes > 1:
                value = accelerator.reduce(value, reduction="mean")
            value = value.item()
            if not math.isfinite(value):
                where = f"; the last good checkpoint is in {self.checkpoint_dir}" if self.checkpoint_dir else ""
                which = "" if phase.name == SINGLE_PHASE else f" ({phase.name} phase)"
                raise FewgenError(
                    f"training loss{which} became {value} at epoch {epoch + 1}, step {step + 1}; "
                    f"lower --lr or use --precision fp32{where}"
                )
            opt.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            opt.step()
            scheduler.step()
            total += value
            logs.update(phase_logs)
            if len(phases) > 1:
                logs[f"{phase.name}_loss"] = value
        return total, logs

    # -- checkpoints -------------------------------------------------------------
    @staticmethod
    def _optimizer_file(phases: list[Phase], phase: Phase) -> str:
        return "optimizer.safetensors" if len(phases) == 1 else f"optimizer_{phase.name}.safetensors"

    def _checkpoint(self, accelerator: Accelerator, phases, optimizers, schedulers, step: int, plan: dict,
                    history: list[dict], totals: dict) -> None:
        """Main process only: write ``step_NNNNNNNN/`` (each file atomic), then point ``latest.json`` at it, then prune.
        A run killed at any moment keeps its last complete checkpoint."""
        if self.checkpoint_dir is None or not accelerator.is_main_process:
            return
        folder = self.checkpoint_dir / f"step_{step:08d}"
        if folder.exists():  # left by a run killed after writing it and before pointing latest.json at it
            shutil.rmtree(folder)
        previous = self._latest_name()
        advice = (f"run again with --resume, which continues from the last complete checkpoint ({previous})"
                  if previous else "run the command again")
        needed = sum(v.numel() * v.element_size() for v in self.model.state_dict().values()) * 3  # weights + Adam's two moments
        with atomic_folder(folder, needed, advice) as tmp:  # appears whole or not at all, never an empty step folder
            save_tensors(tmp / "model.safetensors", self.model.state_dict(), {"tag": self.tag})
            for phase, optimizer in zip(phases, optimizers):
                opt_tensors, opt_meta = optimizer_to_tensors(optimizer.state_dict())
                save_tensors(tmp / self._optimizer_file(phases, phase), opt_tensors, {"meta": json.dumps(opt_meta)})
            write_json(tmp / "state.json", {"step": step, "epoch": step // plan["steps_per_epoch"], **plan,
                                            "schedulers": [s.state_dict() for s in schedulers], "history": history,
                                            "epoch_totals": totals, "config": asdict(self.config), "tag": self.tag,
                                            "processes": accelerator.num_processes})
        write_json(self.checkpoint_dir / "latest.json", {"folder": folder.name})
        for old in [*self.checkpoint_dir.glob("step_*"), *self.checkpoint_dir.glob("epoch_*")]:
            if old.name != folder.name:
                shutil.rmtree(old, ignore_errors=True)

    def _latest_name(self) -> str | None:
        """The folder name of the last complete checkpoint, or None."""
        latest = self.checkpoint_dir / "latest.json"
        try:
            return str(json.loads(latest.read_text())["folder"]) if latest.is_file() else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _restore(self, phases, optimizers, schedulers, plan: dict) -> tuple[int, list[dict], dict]:
        """Load the latest checkpoint into the model, optimizers and schedulers; returns (step, history, epoch totals)."""
        latest = self.checkpoint_dir / "latest.json" if self.checkpoint_dir else None
        if latest is None or not latest.is_file():
            raise FewgenError(f"--resume found no checkpoint in {self.checkpoint_dir}; run without --resume")
        folder = self.checkpoint_dir / json.loads(latest.read_text())["folder"]
        state = json.loads((folder / "state.json").read_text())
        if state["tag"] != self.tag:
            raise FewgenError(f"checkpoint {folder} is for '{state['tag']}', not '{self.tag}'; use a fresh --run folder")
        self._check_plan(state, plan)
        try:
            self.model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        except RuntimeError:
            raise FewgenError(f"checkpoint {folder} does not fit this model; resume with the settings the run started with") from None
        for phase, optimizer in zip(phases, optimizers):
            path = folder / self._optimizer_file(phases, phase)
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["meta"])
            optimizer.load_state_dict(optimizer_from_tensors(load_file(str(path)), meta))
        saved_schedulers = state["schedulers"] if "schedulers" in state else [state["scheduler"]]  # before phases
        for scheduler, saved in zip(schedulers, saved_schedulers):
            scheduler.load_state_dict(saved)
        totals = {key: tuple(value) for key, value in state.get("epoch_totals", {}).items()}
        return state["step"], state.get("history", []), totals

    def _check_plan(self, state: dict, plan: dict) -> None:
        """Refuse a resume that could not repeat the interrupted run: another batch size or dataset size (the
        data order), or another length of a schedule that depends on it. Checkpoints before step-level
        resume did not record the plan, so only what they hold is checked."""
        if state.get("batch_size", plan["batch_size"]) != plan["batch_size"]:
            raise FewgenError(f"--resume: the run was trained with --batch-size {state['batch_size']}, not {plan['batch_size']}; "
                              "pass the same --batch-size")
        if state.get("steps_per_epoch", plan["steps_per_epoch"]) != plan["steps_per_epoch"]:
            raise FewgenError(f"--resume: the run had {state['steps_per_epoch']} steps per epoch and now has "
                              f"{plan['steps_per_epoch']}; the dataset changed, so pass the data it started with")
        if plan["schedule"] == "cosine" and state.get("total_steps", plan["total_steps"]) != plan["total_steps"]:
            epochs = state["total_steps"] / plan["steps_per_epoch"]
            budget = f"--epochs {epochs:g}" if epochs == int(epochs) else f"a budget of {state['total_steps']} steps"
            raise FewgenError(f"--resume: the cosine schedule was laid out for {state['total_steps']} steps ({budget}) and "
                              f"would now be {plan['total_steps']}; resume with {budget}, or train a new --run "
                              "(the constant schedule can be extended)")
        if state["step"] > plan["total_steps"]:
            raise FewgenError(f"--resume: the checkpoint is at step {state['step']}, past the {plan['total_steps']} steps asked for; "
                              "ask for more --epochs")
