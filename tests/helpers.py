"""Helpers shared by the tests."""

from __future__ import annotations

import torch


def random_rotation(dim: int, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=dtype))
    return q * torch.sign(torch.diagonal(r))
