"""Interpolation between latent codes: slerp (Shoemake, 1985), as cGLO samples its sphere, and lerp for the ablation.

cGLO's codes live on the unit sphere; slerp follows the great circle between two
codes, so every interpolant is a unit vector too, while lerp cuts through the ball
(Azuri & Weinshall, Sec. 3.2, Fig. 3).
"""

from __future__ import annotations

import torch

INTERPOLATIONS = ("slerp", "lerp")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation of unit vectors ``a``, ``b`` ``[..., d]`` at ``t`` (``[...]`` or a float).

    ``sin((1-t)θ)/sin θ · a + sin(tθ)/sin θ · b`` with θ the angle between them; where the
    two (nearly) coincide, ``sin θ`` vanishes and lerp is the limit, so it is used there.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t.unsqueeze(-1) if t.dim() > 0 else t
    cos = (a * b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    sin = torch.sin(theta)
    close = sin.abs() < 1e-6
    safe = torch.where(close, torch.ones_like(sin), sin)
    spherical = (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / safe
    return torch.where(close, lerp(a, b, t), spherical)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation ``(1-t)·a + t·b``; ``t`` broadcasts over the last dimension when it has a batch shape."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    if t.dim() > 0 and t.dim() == a.dim() - 1:
        t = t.unsqueeze(-1)
    return (1 - t) * a + t * b


def interpolate(kind: str, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return slerp(a, b, t) if kind == "slerp" else lerp(a, b, t)
