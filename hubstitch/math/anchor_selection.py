"""Choosing which items become anchors. Every strategy returns indices of real items, so both sides stay parallel.

- ``random``: a seeded uniform draw.
- ``stratified``: by a label, each class in proportion to its share (every class at least once when n allows).
- ``kmeans``: k-means (k-means++ start, Lloyd steps) on features, then the real item nearest each centroid.
- ``farthest``: farthest-point sampling on features, from the item nearest the mean.

Example:
    >>> import torch
    >>> from hubstitch.math.anchor_selection import select_indices
    >>> labels = torch.tensor([0] * 90 + [1] * 10)
    >>> idx = select_indices(100, 10, "stratified", labels=labels, seed=0)
    >>> int((labels[idx] == 1).sum())
    1
"""

from __future__ import annotations

import torch

from ..errors import AnchorCountError, HubstitchValueError, UnknownMethodError
from .clustering import kmeans

SELECTIONS = ("random", "stratified", "kmeans", "farthest")


def select_indices(total: int, n: int, selection: str = "random", *, labels: torch.Tensor | None = None,
                   features: torch.Tensor | None = None, seed: int = 0, kmeans_steps: int = 25) -> torch.Tensor:
    """`n` distinct indices out of `total` items chosen by `selection`."""
    if selection not in SELECTIONS:
        raise UnknownMethodError(f"selection {selection!r} is not known; expected one of {list(SELECTIONS)}")
    if not 0 < n <= total:
        raise AnchorCountError(f"asked for {n} anchors out of {total} items; expected 1 <= n <= {total}; "
                               f"fix: lower n or use a larger dataset split")
    gen = torch.Generator().manual_seed(seed)
    if selection == "random":
        return torch.randperm(total, generator=gen)[:n]
    if selection == "stratified":
        if labels is None or len(labels) != total:
            raise HubstitchValueError("selection 'stratified' needs one label per item; fix: pass a label column")
        return _stratified(labels, n, gen)
    if features is None or len(features) != total:
        raise HubstitchValueError(f"selection {selection!r} needs one feature row per item (e.g. the source "
                                  f"encoder's latents); fix: pass features=")
    features = features.double()
    if selection == "kmeans":
        return _kmeans_medoids(features, n, gen, kmeans_steps)
    return _farthest(features, n)


def _stratified(labels: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    classes, counts = torch.unique(labels, return_counts=True)
    quota = torch.floor(counts.double() * n / counts.sum()).long()
    if n >= len(classes):
        quota = torch.maximum(quota, torch.ones_like(quota))
    while int(quota.sum()) > n:  # rounding up to one per class can overshoot: trim the largest
        quota[int(torch.argmax(quota))] -= 1
    remainder = counts.double() * n / counts.sum() - quota
    while int(quota.sum()) < n:  # hand out what floor() left by largest remainder
        candidates = torch.where(quota < counts, remainder, torch.full_like(remainder, -1.0))
        best = int(torch.argmax(candidates))
        quota[best] += 1
        remainder[best] = -1.0
    chosen = []
    for cls, k in zip(classes, quota.tolist(), strict=True):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.cat(chosen)[torch.randperm(n, generator=gen)]


def _kmeans_medoids(x: torch.Tensor, k: int, gen: torch.Generator, steps: int) -> torch.Tensor:
    centroids, _ = kmeans(x, k, gen, steps)
    distances = torch.cdist(centroids, x)
    chosen: list[int] = []
    taken = torch.zeros(len(x), dtype=torch.bool)
    for row in distances:  # the nearest real item not already taken
        row = row.masked_fill(taken, float("inf"))
        index = int(row.argmin())
        taken[index] = True
        chosen.append(index)
    return torch.tensor(chosen)


def _farthest(x: torch.Tensor, n: int) -> torch.Tensor:
    first = int(torch.cdist(x.mean(dim=0, keepdim=True), x).argmin())
    chosen = [first]
    nearest = torch.cdist(x[first:first + 1], x).squeeze(0)
    for _ in range(1, n):
        index = int(nearest.argmax())
        chosen.append(index)
        nearest = torch.minimum(nearest, torch.cdist(x[index:index + 1], x).squeeze(0))
    return torch.tensor(chosen)
