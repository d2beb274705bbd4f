"""Two synthetic latent spaces related by a known transformation (``hubstitch quickstart --synthetic``).

A 384-d source space and a 768-d target space that is a random rotation of it, scaled, shifted and noised, each
with a few dead dimensions (as real encoders have).

Example:
    >>> from hubstitch.math.synthetic import synthetic_pair
    >>> x, y = synthetic_pair(100, seed=0)
    >>> x.shape, y.shape
    (torch.Size([100, 384]), torch.Size([100, 768]))
"""

from __future__ import annotations

import torch

SOURCE_DIM, TARGET_DIM = 384, 768


def synthetic_pair(n: int, seed: int = 0, noise: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` parallel latents: y = 2.5 * pad(x) @ Q + shift + noise, with dead dimensions on both sides."""
    gen = torch.Generator().manual_seed(seed)
    spectrum = torch.linspace(3.0, 0.2, SOURCE_DIM)  # anisotropic, like real encoders
    mixing = torch.linalg.qr(torch.randn(SOURCE_DIM, SOURCE_DIM, generator=torch.Generator().manual_seed(1)))[0]
    x = (torch.randn(n, SOURCE_DIM, generator=gen) * spectrum) @ mixing
    rotation = torch.linalg.qr(torch.randn(TARGET_DIM, TARGET_DIM, generator=torch.Generator().manual_seed(2)))[0]
    shift = torch.randn(TARGET_DIM, generator=torch.Generator().manual_seed(3))
    y = 2.5 * torch.nn.functional.pad(x, (0, TARGET_DIM - SOURCE_DIM)) @ rotation + shift
    y = y + noise * torch.randn(n, TARGET_DIM, generator=gen)
    x[:, [127, 223, 319]] = 0.01  # dead source dimensions, as in all-MiniLM-L6-v2
    y[:, [34, 555, 688, 756]] = shift[[34, 555, 688, 756]]  # dead target dimensions, as in all-mpnet-base-v2
    return x, y
