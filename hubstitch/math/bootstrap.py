"""Anchors that bootstrap themselves: seed pairs plus pools of items seen by one encoder only.

Round by round: fit an orthogonal map (centred, isotropic scale, span only) on the seeds and the pseudo-anchors
found so far, translate the source pool, score every (translated source item, target item) by CSLS, and take as
pseudo-anchors each source item's best target item and each target item's best source item (`nearest_pairs`).
Repeat until the pseudo-anchors change by less than `tol` of their number (or `max_rounds`). The pools may hold the
same items (an old and a new index of one corpus) or different ones (then a pseudo-anchor pairs two similar
items, which still pins the map); nothing assumes either.

`unsupervised_pairs` starts with no pairs at all, in the spirit of mini-vec2vec (Dar, 2025): k-means on each
pool, the clusters matched by their similarity structure (`match_structures`), each item described by its
similarities to the matched centroids (a relative representation), the items matched in that shared description,
then the same loop; several clusterings are tried and the one whose result is most self-consistent is kept.

Example:
    >>> import torch
    >>> from hubstitch.math.bootstrap import bootstrap_pairs
    >>> gen = torch.Generator().manual_seed(0)
    >>> centers = 4 * torch.randn(12, 16, generator=gen, dtype=torch.float64)
    >>> x = centers.repeat(40, 1) + torch.randn(480, 16, generator=gen, dtype=torch.float64)
    >>> q = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))[0]
    >>> order = torch.randperm(472, generator=gen)  # the target pool holds the same items, shuffled
    >>> result = bootstrap_pairs(x[:8], x[:8] @ q, x[8:], (x[8:] @ q)[order])
    >>> bool((order[result.target_index] == result.source_index).double().mean() > 0.9)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional

from .clustering import kmeans
from .estimators import fit_translation
from .matching import csls, match_structures, nearest_pairs, structure_mismatch
from .validation import as_latents

LOOP_METHOD = ("orthogonal", {"source_preprocessing": "center", "target_preprocessing": "center",
                              "isotropic_scale": True, "span_only": True, "output_calibration": "none"})


@dataclass
class BootstrapResult:
    """Pseudo-anchors as indices into the pools, and what each round found."""

    source_index: torch.Tensor
    target_index: torch.Tensor
    rounds: list[dict[str, Any]] = field(default_factory=list)
    converged: bool = False


def _match(seed_x, seed_y, pool_x, pool_y, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    method, options = LOOP_METHOD
    translation = fit_translation(seed_x, seed_y, method, **options)
    center = seed_y.mean(dim=0)
    return nearest_pairs(csls(translation(pool_x) - center, pool_y - center, k))


def bootstrap_pairs(seed_source, seed_target, pool_source, pool_target, *, k: int = 10, max_rounds: int = 10,
                    tol: float = 0.01, start: tuple[torch.Tensor, torch.Tensor] | None = None) -> BootstrapResult:
    """Grow pseudo-anchors between `pool_source` and `pool_target` from the seed pairs (which may be empty when a
    `start` of pseudo-anchor indices is given)."""
    pool_x, pool_y = as_latents(pool_source, "unpaired source"), as_latents(pool_target, "unpaired target")
    dtype = torch.promote_types(pool_x.dtype, pool_y.dtype)
    pool_x, pool_y = pool_x.to(dtype), pool_y.to(dtype)
    seed_x = torch.as_tensor(seed_source).to(dtype).reshape(-1, pool_x.shape[1])
    seed_y = torch.as_tensor(seed_target).to(dtype).reshape(-1, pool_y.shape[1])
    result = BootstrapResult(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    if start is not None:
        result.source_index, result.target_index = start
    previous = set(zip(result.source_index.tolist(), result.target_index.tolist()))
    for round_number in range(1, max_rounds + 1):
        x = torch.cat([seed_x, pool_x[result.source_index]])
        y = torch.cat([seed_y, pool_y[result.target_index]])
        rows, cols = _match(x, y, pool_x, pool_y, k)
        result.source_index, result.target_index = rows, cols
        current = set(zip(rows.tolist(), cols.tolist()))
        changed = len(current ^ previous)
        result.rounds.append({"round": round_number, "pseudo_anchors": len(current), "changed": changed})
        if previous and changed <= tol * len(current):
            result.converged = True
            break
        previous = current
    return result


def consistency(pool_source, pool_target, source_index, target_index, k: int = 10) -> float:
    """How well pseudo-anchors explain the pools, with no ground truth: fit the loop's map on them, and return the
    fraction of source items that have a mutual CSLS nearest neighbour times those pairs' mean centred cosine.
    A wrong alignment scores about half of a right one (BBC News, MiniLM <-> MPNet: 0.25-0.29 against 0.61-0.70)."""
    method, options = LOOP_METHOD
    translation = fit_translation(pool_source[source_index], pool_target[target_index], method, **options)
    center = pool_target.mean(dim=0)
    moved = translation(pool_source) - center
    rows, cols = nearest_pairs(csls(moved, pool_target - center, k), mutual_only=True)
    cosine = functional.cosine_similarity(moved[rows], pool_target[cols] - center).mean()
    return float(cosine) * len(rows) / len(pool_source)


def unsupervised_pairs(pool_source, pool_target, *, clusters: int = 8, max_runs: int = 48, k: int = 10,
                       seed: int = 0, stop_at: float = 0.98) -> tuple[BootstrapResult, list[dict[str, Any]]]:
    """Pseudo-anchors between two pools from their structure alone, and a report per attempt.

    Each attempt clusters both pools (k-means, `clusters` each), matches the clusters by their similarity
    structure (`match_structures`), describes every item by its cosines to the matched centroids, pairs the items
    that are mutual CSLS neighbours in that description, grows those by `bootstrap_pairs`, and is scored by
    `consistency`. Most attempts land on a wrong or partly wrong cluster matching (small cluster structures are
    ambiguous); the best-scoring one is kept. The search stops early only at a consistency of `stop_at` (every
    item has a mutual neighbour at cosine 1: an exact alignment); on real encoders it runs all `max_runs`.
    """
    pool_x = as_latents(pool_source, "unpaired source").double()
    pool_y = as_latents(pool_target, "unpaired target").double()
    x, y = _spherical(pool_x), _spherical(pool_y)
    clusters = max(2, min(clusters, len(x) // 4, len(y) // 4))
    gen = torch.Generator().manual_seed(seed)
    best, report = None, []
    for attempt in range(1, max_runs + 1):
        centroids_x = _spherical(kmeans(x, clusters, gen)[0], center=False)
        centroids_y = _spherical(kmeans(y, clusters, gen)[0], center=False)
        sims_x, sims_y = centroids_x @ centroids_x.T, centroids_y @ centroids_y.T
        assignment = match_structures(sims_x, sims_y, seed=seed + attempt)
        rows, cols = nearest_pairs(csls(x @ centroids_x.T, y @ centroids_y[assignment].T, k), mutual_only=True)
        result = bootstrap_pairs(pool_x[:0], pool_y[:0], pool_x, pool_y, k=k, start=(rows, cols))
        score = consistency(pool_x, pool_y, result.source_index, result.target_index, k)
        report.append({"attempt": attempt, "structure_mismatch": round(structure_mismatch(sims_x, sims_y,
                                                                                           assignment), 4),
                       "start_pairs": len(rows), "pseudo_anchors": len(result.source_index),
                       "consistency": round(score, 4)})
        if best is None or score > best[0]:
            best = (score, result)
        if score >= stop_at:
            break
    return best[1], report


def _spherical(v: torch.Tensor, center: bool = True) -> torch.Tensor:
    return functional.normalize(v - v.mean(dim=0) if center else v, dim=1)
