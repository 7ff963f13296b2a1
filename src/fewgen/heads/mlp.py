"""``mlp``: the paper's head, Linear(D, 128) -> ReLU -> Linear(128, C), Adam at lr 1e-3.

"Few Shot Generative Classification", Sec. 2: a two-layer network on the
extracted features.
"""

from __future__ import annotations

from torch import nn

from fewgen.heads.base import TorchHead


class MLPHead(TorchHead):
    """Standardise -> Linear(D, hidden) -> ReLU -> Linear(hidden, C); Adam, full batch."""

    def __init__(self, hidden: int = 128, max_iter: int = 300, lr: float = 1e-3, weight_decay: float = 1e-4,
                 scaling: str = "feature", random_state=0):
        self.hidden = hidden
        self.max_iter = max_iter
        self.lr = lr
        self.weight_decay = weight_decay
        self.scaling = scaling
        self.random_state = random_state

    def _build(self, n_features: int, n_classes: int) -> nn.Module:
        return nn.Sequential(nn.Linear(n_features, self.hidden), nn.ReLU(), nn.Linear(self.hidden, n_classes))
