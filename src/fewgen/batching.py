"""Batch-independent inference: run a network on rows in batches of one fixed size.

CPU kernels (oneDNN's convolutions and matmuls, the attention kernels) choose their blocking, and so the order of
their sums, by the batch's shape, so a row's output would change in the last bits with how many rows share the call.
With one shape every row meets the same kernels, and its output is bit-identical whatever its batch, position or
neighbours. Used by the backbones' features, the students' predictions and the attention head.
"""

from __future__ import annotations

from typing import Callable

import torch


def in_fixed_batches(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int) -> torch.Tensor:
    """``run`` over ``x`` ``[N, ...]`` in batches of exactly ``size`` rows, the last padded with zeros that are then
    dropped -> ``[N, ...]`` (the row outputs of ``run``, concatenated)."""
    chunks = []
    for start in range(0, max(len(x), 1), size):
        part = x[start : start + size]
        padded = torch.cat([part, part.new_zeros((size - len(part), *part.shape[1:]))])
        chunks.append(run(padded)[: len(part)])
    return torch.cat(chunks)
