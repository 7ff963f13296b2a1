"""``linear``: one linear layer with softmax (multinomial logistic regression in torch)."""

from __future__ import annotations

from torch import nn

from fewgen.heads.base import TorchHead


class LinearHead(TorchHead):
    """Standardise -> Linear(D, C); Adam on cross-entropy, full batch."""

    def __init__(self, max_iter: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4, scaling: str = "feature", random_state=0):
        self.max_iter = max_iter
        self.lr = lr
        self.weight_decay = weight_decay
        self.scaling = scaling
        self.random_state = random_state

    def _build(self, n_features: int, n_classes: int) -> nn.Module:
        return nn.Linear(n_features, n_classes)
