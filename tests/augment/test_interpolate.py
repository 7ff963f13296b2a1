"""slerp and lerp against closed-form values."""

import math

import torch
import torch.nn.functional as F

from fewgen.augment.interpolate import lerp, slerp


def test_slerp_endpoints_and_unit_norm():
    a, b = F.normalize(torch.randn(5, 16), dim=1), F.normalize(torch.randn(5, 16), dim=1)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    for t in (0.1, 0.25, 0.5, 0.9):
        torch.testing.assert_close(slerp(a, b, t).norm(dim=1), torch.ones(5))


def test_slerp_walks_the_great_circle_at_constant_speed():
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])  # 90 degrees apart
    torch.testing.assert_close(slerp(a, b, 1 / 3), torch.tensor([[math.cos(math.pi / 6), math.sin(math.pi / 6), 0.0]]))
    u, v = F.normalize(torch.randn(1, 8), dim=1), F.normalize(torch.randn(1, 8), dim=1)
    theta = torch.arccos((u * v).sum())
    for t in (0.2, 0.7):
        angle_to_start = torch.arccos((slerp(u, v, t) * u).sum().clamp(-1, 1))
        torch.testing.assert_close(angle_to_start, t * theta, atol=1e-5, rtol=1e-5)


def test_slerp_of_a_code_with_itself_is_that_code_and_t_may_be_per_row():
    a = F.normalize(torch.randn(3, 4), dim=1)
    torch.testing.assert_close(slerp(a, a, torch.tensor([0.1, 0.2, 0.4])), a)
    b = F.normalize(torch.randn(3, 4), dim=1)
    t = torch.tensor([0.0, 0.5, 1.0])
    out = slerp(a, b, t)
    torch.testing.assert_close(out[0], a[0])
    torch.testing.assert_close(out[2], b[2])


def test_lerp_cuts_through_the_ball():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(lerp(a, b, 0.5), torch.tensor([[0.5, 0.5]]))
    assert lerp(a, b, 0.5).norm() < 1  # unlike slerp
