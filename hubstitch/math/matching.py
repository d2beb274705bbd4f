"""Matching items across two latent spaces without known pairs.

- `csls`: cross-domain similarity local scaling (Conneau et al., 2018): ``2 cos(a, b) - r_b(a) - r_a(b)``, where
  ``r`` is an item's mean cosine to its k nearest neighbours in the other set. It corrects hubness: items that are
  near everything stop being everyone's nearest neighbour.
- `nearest_pairs`: each row's best column and each column's best row (or only the mutual ones).
- `match_structures`: a one-to-one assignment of two small sets (cluster centroids) from their *internal*
  similarity structures alone, minimising the squared mismatch of the two matrices (a quadratic assignment
  problem): exactly, over every permutation, for up to `EXACT_LIMIT` items; above that from
  `entropic_gromov_wasserstein` (Peyre, Cuturi and Solomon, 2016; square loss, uniform weights, log-domain
  Sinkhorn) started several times, rounded, and improved by swapping pairs while the mismatch falls.

Example:
    >>> import torch
    >>> from hubstitch.math.matching import match_structures
    >>> points = torch.randn(8, 5, dtype=torch.float64)
    >>> order = torch.randperm(8)
    >>> a, b = points @ points.T, (points @ points.T)[order][:, order]
    >>> assignment = match_structures(a, b, seed=0)
    >>> bool((order[assignment] == torch.arange(8)).all())
    True
"""

from __future__ import annotations

import itertools
import math

import torch
from torch.nn import functional


def csls(a: torch.Tensor, b: torch.Tensor, k: int = 10) -> torch.Tensor:
    """CSLS similarities (len(a), len(b)) between the rows of `a` and of `b` (cosine based)."""
    sims = functional.normalize(a, dim=1) @ functional.normalize(b, dim=1).T
    r_a = sims.topk(min(k, sims.shape[1]), dim=1).values.mean(dim=1)
    r_b = sims.topk(min(k, sims.shape[0]), dim=0).values.mean(dim=0)
    return 2 * sims - r_a[:, None] - r_b[None, :]


def nearest_pairs(sims: torch.Tensor, mutual_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols) of the pairs where the column is the row's best match or the row the column's, without
    repeats; with `mutual_only`, only the pairs where both hold."""
    best_col, best_row = sims.argmax(dim=1), sims.argmax(dim=0)
    rows = torch.arange(sims.shape[0])
    if mutual_only:
        keep = best_row[best_col] == rows
        return rows[keep], best_col[keep]
    pairs = torch.cat([torch.stack([rows, best_col], 1), torch.stack([best_row, torch.arange(sims.shape[1])], 1)])
    pairs = torch.unique(pairs, dim=0)
    return pairs[:, 0], pairs[:, 1]


def _sinkhorn_log(cost: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    """Entropic optimal transport plan between uniform marginals, in the log domain."""
    n, m = cost.shape
    log_p, log_q = -math.log(n) * torch.ones(n, dtype=cost.dtype), -math.log(m) * torch.ones(m, dtype=cost.dtype)
    f, g = torch.zeros(n, dtype=cost.dtype), torch.zeros(m, dtype=cost.dtype)
    kernel = -cost / epsilon
    for _ in range(iterations):
        f = log_p - torch.logsumexp(kernel + g[None, :], dim=1)
        g = log_q - torch.logsumexp(kernel + f[:, None], dim=0)
    return torch.exp(kernel + f[:, None] + g[None, :])


def entropic_gromov_wasserstein(c1: torch.Tensor, c2: torch.Tensor, epsilon: float = 5e-3, iterations: int = 100,
                                sinkhorn_iterations: int = 200, start: torch.Tensor | None = None) -> torch.Tensor:
    """A coupling (n, m) of two sets with internal similarity (or distance) matrices `c1` (n, n), `c2` (m, m).

    Minimises sum (c1[i, k] - c2[j, l])^2 T[i, j] T[k, l] - epsilon H(T) over couplings with uniform marginals, by
    projected mirror descent: each step solves an entropic transport problem with the linearised cost. POT's
    ``ot.gromov.entropic_gromov_wasserstein(..., "square_loss", epsilon)`` computes the same.
    """
    n, m = c1.shape[0], c2.shape[0]
    p = torch.full((n,), 1 / n, dtype=c1.dtype)
    q = torch.full((m,), 1 / m, dtype=c1.dtype)
    constant = ((c1 * c1) @ p)[:, None] + ((c2 * c2) @ q)[None, :]
    plan = torch.outer(p, q) if start is None else start
    for _ in range(iterations):
        gradient = 2 * (constant - 2 * c1 @ plan @ c2.T)  # of the GW loss in the plan
        new = _sinkhorn_log(gradient, epsilon, sinkhorn_iterations)
        if torch.allclose(new, plan, atol=1e-9):
            return new
        plan = new
    return plan


def structure_mismatch(c1: torch.Tensor, c2: torch.Tensor, assignment: torch.Tensor) -> float:
    """sum over i, k of (c1[i, k] - c2[a(i), a(k)])^2 for a one-to-one `assignment` of rows of c1 to rows of c2."""
    return float(((c1 - c2[assignment][:, assignment]) ** 2).sum())


def _round(plan: torch.Tensor) -> torch.Tensor:
    """A one-to-one assignment from a square coupling: repeatedly take its largest remaining entry."""
    plan = plan.clone()
    assignment = torch.full((plan.shape[0],), -1, dtype=torch.long)
    for _ in range(plan.shape[0]):
        flat = int(plan.argmax())
        i, j = divmod(flat, plan.shape[1])
        assignment[i] = j
        plan[i, :] = -1.0
        plan[:, j] = -1.0
    return assignment


EXACT_LIMIT = 8  # 8! = 40,320 permutations: scored in well under a second


def _exact(c1: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    best, best_cost = None, math.inf
    permutations = torch.tensor(list(itertools.permutations(range(c1.shape[0]))))
    for chunk in permutations.split(4096):
        costs = ((c1[None] - c2[chunk[:, :, None], chunk[:, None, :]]) ** 2).sum(dim=(1, 2))
        i = int(costs.argmin())
        if float(costs[i]) < best_cost:
            best, best_cost = chunk[i].clone(), float(costs[i])
    return best


def _swap_descent(c1: torch.Tensor, c2: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    """Swap two assignments while that lowers the mismatch (2-opt)."""
    cost, improved = structure_mismatch(c1, c2, assignment), True
    while improved:
        improved = False
        for i, j in itertools.combinations(range(len(assignment)), 2):
            trial = assignment.clone()
            trial[i], trial[j] = assignment[j], assignment[i]
            trial_cost = structure_mismatch(c1, c2, trial)
            if trial_cost < cost - 1e-12:
                assignment, cost, improved = trial, trial_cost, True
    return assignment


def match_structures(c1: torch.Tensor, c2: torch.Tensor, restarts: int = 8, seed: int = 0,
                     epsilon: float | None = None) -> torch.Tensor:
    """A one-to-one assignment (rows of `c1` -> rows of `c2`, both k x k) from their structures alone.

    Up to `EXACT_LIMIT` items every permutation is scored. Above, Gromov-Wasserstein (not convex) runs from the
    product coupling and from `restarts` - 1 random permutations; each result is rounded, improved by pair swaps,
    and the one with the least `structure_mismatch` is returned. `epsilon` defaults to 1% of the spread of the
    entries, so the scale of the matrices does not matter.
    """
    c1, c2 = c1.double(), c2.double()
    k = c1.shape[0]
    if k <= EXACT_LIMIT:
        return _exact(c1, c2)
    epsilon = epsilon if epsilon is not None else 0.01 * float(torch.cat([c1.flatten(), c2.flatten()]).std())
    gen = torch.Generator().manual_seed(seed)
    best, best_cost = None, math.inf
    for attempt in range(restarts):
        start = None
        if attempt:
            start = torch.eye(k, dtype=torch.float64)[torch.randperm(k, generator=gen)] / k
            start = 0.5 * start + 0.5 / (k * k)
        assignment = _swap_descent(c1, c2, _round(entropic_gromov_wasserstein(c1, c2, epsilon=max(epsilon, 1e-12),
                                                                             start=start)))
        cost = structure_mismatch(c1, c2, assignment)
        if cost < best_cost:
            best, best_cost = assignment, cost
    return best
