"""Fit a cGLO on one labeled draw, and replace half of each classifier minibatch with its samples.

The paper (Azuri & Weinshall, Sec. 4): "each example x_i in the mini-batch is used for training with
probability 0.5. Otherwise it is replaced by G(slerp(z_i, z_j, t)), z_j the code of another example of
the same class, t uniform in {0.1, 0.2, 0.3, 0.4}."
"""

from __future__ import annotations

import numpy as np
import torch

from fewgen.augment.glo import CGLO, GLOConfig, interpolation_factors, same_class_partners
from fewgen.train import TrainConfig, Trainer

REPLACE_PROBABILITY = 0.5


def fit_cglo(images: torch.Tensor, labels: np.ndarray, config: GLOConfig, seed: int, extra: torch.Tensor | None = None,
             precision: str = "auto") -> tuple[CGLO, dict]:
    """Fit a cGLO on labeled uint8 ``images [n, C, H, W]`` with class indices ``labels [n]`` (0..K-1), plus
    ``extra`` images that only add reconstruction (unlabeled, or the test images in transductive mode).
    Rows 0..n-1 of the codes belong to ``images``. Returns the model (eval mode) and the Trainer summary."""
    torch.manual_seed(seed)
    x = images if extra is None or not len(extra) else torch.cat([images, extra])
    y = torch.full((len(x),), -1, dtype=torch.long)
    y[: len(images)] = torch.as_tensor(labels, dtype=torch.long)
    model = CGLO(config, tuple(images.shape[1:]), len(x), int(labels.max()) + 1)
    train = TrainConfig(steps=config.steps, batch_size=config.batch_size, lr=config.lr, precision=precision,
                        seed=seed, progress=False)
    trainer = Trainer(model, train, tag="cglo")
    summary = trainer.fit(x, y, torch.arange(len(x)))
    return trainer.model.eval(), summary


class CGLOReplacement:
    """Callable for :class:`~fewgen.baselines.resnet.AugmentedClassifier`: each image of a minibatch is
    replaced, with probability 0.5, by a cGLO sample of its own class (same-class partner, t in the paper's set).

    ``labels [n]`` are the class indices of the draw the cGLO was fitted on (its code rows 0..n-1).
    Randomness comes from torch's global generator, which the Trainer seeds at every step.
    """

    def __init__(self, model: CGLO, labels: np.ndarray, interpolation: str = "slerp"):
        self.model = model
        self.labels = np.asarray(labels)
        self.interpolation = interpolation

    def __call__(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        replace = torch.rand(len(x)) < REPLACE_PROBABILITY
        if not replace.any():
            return x
        rows = index[replace.to(index.device)].cpu().numpy()
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        partners = same_class_partners(self.labels, rows, rng)
        t = interpolation_factors(len(rows), rng)
        model = self.model.to(x.device)
        samples = model.sample(torch.as_tensor(rows, device=x.device), torch.as_tensor(partners, device=x.device),
                               t.to(x.device), self.interpolation)
        out = x.clone()
        out[replace.to(x.device)] = samples.to(x.dtype)
        return out
