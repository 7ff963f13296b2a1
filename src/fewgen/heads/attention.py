"""``attention``: attention pooling over a block's spatial tokens, seed 004's head.

"Diffusion Models Beat GANs on Image Classification" (Mukhopadhyay et al., 2023, the DBG paper, Sec. 3.3): pool
the block to a few cells, LayerNorm each cell's channels, a 1x1 convolution to tokens, a learned CLS token, two
pre-LN transformer blocks, and a linear layer on the CLS token. The paper found it several points above the linear
probe on ImageNet; with a few labeled images per class it may overfit, which the benchmarks report.

The features arrive flat, ``[N, D]``; ``layout`` says how to cut them back into tokens: one ``(channels, cells)``
pair per part (a block at a timestep, in the order the backbone concatenates them), each part ``[channels, cells]``
in channel-major order (``adaptive_avg_pool2d(...).flatten(1)``). Each part's cells become ``cells`` tokens of
``channels`` values, with that part's own LayerNorm and projection. ``evaluate`` and ``fit`` give it the layout
of the backbone's spec (:meth:`fewgen.backbones.base.Backbone.token_layout`); without one, the whole vector is a
single token.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fewgen.batching import in_fixed_batches
from fewgen.errors import FewgenError
from fewgen.heads.base import TorchHead

HEAD_BATCH = 256  # rows per forward pass when predicting: one shape, so an image's answer is not its batch's


class TokenAttention(nn.Module):
    """float ``[B, D]`` -> logits ``[B, C]`` through tokens ``[B, 1 + T, width]`` (T = the layout's cells)."""

    def __init__(self, layout: list[tuple[int, int]], width: int, heads: int, depth: int, n_classes: int):
        super().__init__()
        self.layout = [(int(c), int(cells)) for c, cells in layout]
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c, _ in self.layout)
        self.projections = nn.ModuleList(nn.Linear(c, width) for c, _ in self.layout)  # the 1x1 convolution
        tokens = sum(cells for _, cells in self.layout)
        self.position = nn.Parameter(0.02 * torch.randn(1, tokens, width))  # learned, ViT's initial scale
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        parts, offset = [], 0
        for (channels, cells), norm, projection in zip(self.layout, self.norms, self.projections):
            part = z[:, offset : offset + channels * cells].reshape(len(z), channels, cells).transpose(1, 2)
            parts.append(projection(norm(part)))  # [B, cells, width]
            offset += channels * cells
        tokens = torch.cat(parts, dim=1) + self.position
        x = self.blocks(torch.cat([self.cls.expand(len(z), -1, -1), tokens], dim=1))
        return self.out(self.norm(x[:, 0]))


class AttentionHead(TorchHead):
    """Standardise -> tokens (``layout``) -> CLS + ``depth`` pre-LN transformer blocks -> Linear; Adam, full batch."""

    needs_layout = True  # make_head gives it the backbone's token layout
    fixed_batches = True  # predict_proba runs in batches of HEAD_BATCH rows: a row's answer is not its batch's

    def __init__(self, layout=None, width: int = 64, heads: int = 4, depth: int = 2, max_iter: int = 200,
                 lr: float = 1e-3, weight_decay: float = 1e-2, scaling: str = "feature", random_state=0):
        self.layout = layout
        self.width = width
        self.heads = heads
        self.depth = depth
        self.max_iter = max_iter
        self.lr = lr
        self.weight_decay = weight_decay
        self.scaling = scaling
        self.random_state = random_state

    def _build(self, n_features: int, n_classes: int) -> nn.Module:
        layout = [tuple(part) for part in self.layout] if self.layout else [(n_features, 1)]
        if sum(c * cells for c, cells in layout) != n_features:
            raise FewgenError(f"the attention head's token layout covers {sum(c * cells for c, cells in layout)} "
                              f"features and the features have {n_features}; read them with the spec it was made for")
        if self.width % self.heads:
            raise FewgenError(f"the attention head's width ({self.width}) must be a multiple of its heads ({self.heads})")
        return TokenAttention(layout, self.width, self.heads, self.depth, n_classes)

    def _proba_scaled(self, Z: np.ndarray) -> np.ndarray:
        """``[N, C]``: the network on standardised ``Z`` in batches of exactly :data:`HEAD_BATCH` rows."""
        with torch.no_grad():
            logits = in_fixed_batches(self.module_, torch.as_tensor(Z, dtype=torch.float64), HEAD_BATCH)
        return torch.softmax(logits, dim=1).numpy()
