"""Reading the blocks of a diffusers ``UNet2DModel`` in one forward pass that ends after the last block read.

The DDPM's features (:mod:`fewgen.backbones.ddpm`) and the encoder student that fine-tunes them read a few blocks
(``mid``, ``up0`` ... ``upN``). Nothing after the last block read feeds them, so a forward hook on that block ends
the pass: a spec that reads ``up0`` alone skips the higher-resolution up blocks and the output layer, the costliest
part of the pass at 28x28 (2.9x faster extraction on Fashion-MNIST, with the same outputs:
docs/notes/2026-12-06-the-small-student-on-select-s-spec-at-every-k.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import UNet2DModel
from torch import nn


class BlocksRead(Exception):
    """Raised by the forward hook of the last block read, to end the forward pass there."""


def forward_order(name: str) -> int:
    """The order in which the UNet runs the readable blocks: ``mid`` (-1), then ``up0`` (0), ``up1`` (1), ..."""
    return -1 if name == "mid" else int(name[2:])


def _first(output):
    """A block's output tensor (diffusers blocks may return a tuple whose first item it is)."""
    return output[0] if isinstance(output, tuple) else output


END_PASS_EARLY = True  # False runs the whole UNet, as before the pass ended early (bench/ddpm_throughput.py compares)


def _stop_after(_module: nn.Module, _inputs, _output) -> None:
    """A forward hook that ends the UNet's forward pass after its block."""
    raise BlocksRead


def read_blocks(net: UNet2DModel, layers: Sequence[str], x: torch.Tensor, steps: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{name: output [B, C, h, w]}`` of each block in ``layers`` of ``net`` run on (noised) network inputs ``x``
    ``[B, C, H, W]`` at timesteps ``steps`` ``[B]``; the pass ends after the last of them."""
    blocks = {f"up{i}": b for i, b in enumerate(net.up_blocks)} | {"mid": net.mid_block}
    captured: dict[str, torch.Tensor] = {}
    hooks = [blocks[name].register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, _first(out)))
             for name in layers]
    if END_PASS_EARLY:
        hooks.append(blocks[max(layers, key=forward_order)].register_forward_hook(_stop_after))  # after its capture
    try:
        net(x, steps)
    except BlocksRead:
        pass  # the last block read has run; the rest of the UNet would be computed for nothing
    finally:
        for hook in hooks:
            hook.remove()
    return captured
