"""Shared plumbing for backbones that are one ``nn.Module``: training through
the shared Trainer, safetensors weights, and no-grad eval-mode features.

Features are read in batches of exactly :data:`~fewgen.backbones.base.FEATURE_BATCH` images,
the last one padded with black images that are then dropped (:mod:`fewgen.batching`): CPU
kernels choose their blocking by the batch's shape, and with one shape an image's features are
bit-identical whatever its batch, position or neighbours (tests/backbones/test_backbones.py).
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from pathlib import Path

import torch
from safetensors.torch import load_file

from fewgen.atomic import save_tensors
from fewgen.backbones.base import FEATURE_BATCH, Backbone, FeatureSpec
from fewgen.batching import in_fixed_batches
from fewgen.data.files import ImageFiles, as_dataset, default_workers
from fewgen.errors import FewgenError
from fewgen.train import TrainConfig, Trainer, inference_autocast, inference_device, resolved_precision

WEIGHTS_FILE = "model.safetensors"


class TorchBackbone(Backbone):
    """A backbone whose model is one module with ``training_loss(x_uint8) -> (loss, logs)``."""

    def __init__(self, config=None, image_shape=(1, 28, 28)):
        super().__init__(config, image_shape)
        self.model = self.build_model().eval()

    @abstractmethod
    def build_model(self) -> torch.nn.Module:
        """A fresh, untrained module for ``self.config`` and ``self.image_shape``."""

    @abstractmethod
    def _features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        """uint8 ``[B, C, H, W]`` -> ``[B, D]``; called in eval mode without gradients."""

    def fit(self, unlabeled: torch.Tensor | ImageFiles, train_config: TrainConfig, run_dir: Path | None = None,
            resume: bool = False) -> dict:
        """Pretrain on uint8 ``[N, C, H, W]`` in memory or in files (decoded per batch by DataLoader workers)."""
        checkpoints = Path(run_dir) / "checkpoints" if run_dir else None
        if train_config.workers is None:
            train_config = dataclasses.replace(train_config, workers=default_workers(unlabeled))
        trainer = Trainer(self.model, train_config, checkpoints, tag=self.name)
        summary = trainer.fit_dataset(as_dataset(unlabeled), resume=resume)
        self.model = trainer.model.eval()
        return summary

    def feature_precision(self) -> str:
        return resolved_precision(self.precision, inference_device())

    def placed_model(self) -> torch.nn.Module:
        """The model in eval mode on the inference device (moved there once)."""
        device = inference_device()
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        return self.model.eval()

    def placed_model_and_device(self) -> tuple[torch.nn.Module, torch.device]:
        """:meth:`placed_model` and the device it sits on, for inputs that must follow it."""
        model = self.placed_model()
        return model, next(model.parameters()).device

    @torch.no_grad()
    def features(self, x: torch.Tensor, spec: FeatureSpec) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise FewgenError(
                f"images of shape {tuple(x.shape[1:])} do not match the backbone's {self.image_shape}; "
                "use the dataset it was pretrained on"
            )
        self.check_spec(spec)
        _, device = self.placed_model_and_device()

        def read(padded: torch.Tensor) -> torch.Tensor:  # [FEATURE_BATCH, C, H, W] -> [FEATURE_BATCH, D]
            with inference_autocast(self.precision, device):
                return self._features(padded.to(device), spec).float().cpu()

        return in_fixed_batches(read, x, FEATURE_BATCH)

    def _save_weights(self, directory: Path) -> None:
        weights = {k: v.cpu() for k, v in self.model.state_dict().items()}
        save_tensors(Path(directory) / WEIGHTS_FILE, weights, {"backbone": self.name})

    def _load_weights(self, directory: Path) -> None:
        path = Path(directory) / WEIGHTS_FILE
        if not path.is_file():
            raise FewgenError(f"checkpoint {path} is missing; pretrain again or point at a complete run")
        try:
            self.model.load_state_dict(load_file(str(path)), strict=True)
        except RuntimeError:
            raise FewgenError(f"checkpoint {path} does not match its backbone.json config; it was edited or is corrupt") from None
        self.model.eval()


def logits_to_uint8(logits: torch.Tensor) -> torch.Tensor:
    """Bernoulli logits of pixel intensities ``[B, C, H, W]`` -> their means as uint8 images on the CPU."""
    return (torch.sigmoid(logits.float()) * 255).round().to(torch.uint8).cpu()
