"""k-means (k-means++ seeding, Lloyd steps) on latents, seeded, in torch.

Example:
    >>> import torch
    >>> from hubstitch.math.clustering import kmeans
    >>> x = torch.cat([torch.randn(50, 2) - 5, torch.randn(50, 2) + 5])
    >>> centroids, assign = kmeans(x, 2, torch.Generator().manual_seed(0))
    >>> sorted(torch.bincount(assign).tolist())
    [50, 50]
"""

from __future__ import annotations

import torch


def kmeans(x: torch.Tensor, k: int, gen: torch.Generator, steps: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """(centroids (k, d), assignment (n,)) of `x` (n, d); an empty cluster keeps its previous centroid."""
    centroids = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, k):  # k-means++ seeding
        d2 = torch.cdist(x, centroids).min(dim=1).values ** 2
        probs = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1 / len(d2))
        centroids = torch.cat([centroids, x[torch.multinomial(probs, 1, generator=gen)]])
    assign = torch.cdist(x, centroids).argmin(dim=1)
    for _ in range(steps):
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        new = torch.cdist(x, centroids).argmin(dim=1)
        if torch.equal(new, assign):
            break
        assign = new
    return centroids, assign
