"""Helpers shared by the tests."""

from __future__ import annotations

import torch


def random_rotation(dim: int, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=dtype))
    return q * torch.sign(torch.diagonal(r))


def one_error_line(stderr: str) -> bool:
    """A CLI failure: progress messages may come first, then exactly one line ``hubstitch CMD: error: ...``."""
    lines = stderr.strip().splitlines()
    return bool(lines) and ": error: " in lines[-1] and sum(": error: " in line for line in lines) == 1 \
        and "Traceback" not in stderr
