"""Shared fixtures: every test draws fresh random inputs, and prints the seed so that a failure can be replayed.

Replay a failure with ``HUBSTITCH_TEST_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import os
import secrets

import pytest
import torch


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("HUBSTITCH_TEST_SEED") or secrets.randbits(31))
    print(f"HUBSTITCH_TEST_SEED={value}")
    return value


@pytest.fixture
def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
