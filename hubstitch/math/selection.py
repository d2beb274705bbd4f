"""``method="auto"``: choose the method (and its ``alpha``) by k-fold cross-validation on the anchors.

Each candidate is fitted on k-1 folds and predicts the held-out fold; the out-of-fold predictions of all anchors
are then pooled and scored together: retrieval top-1 among all N anchors and cosine similarity, both after centring
on the anchors' target mean, averaged. (Scoring each small fold on its own was noisy: with 16 anchors, retrieval
among 3 items picked methods that stitched worse.) Candidates that need more anchors than a fold has (``affine``
with N close to the width) are skipped, and say so in the report. No fixed rule: least squares collapses when N is
close to the source width, and which of Procrustes, ridge (and its alpha) or the relative method wins depends on
the pair and on N; the scores decide.

Example:
    >>> import torch
    >>> from hubstitch.math.selection import select_method
    >>> x = torch.randn(60, 8); y = x @ torch.linalg.qr(torch.randn(8, 8))[0]
    >>> method, options, report = select_method(x, y, folds=3)
    >>> method in {"orthogonal", "linear", "affine", "relative"}
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import AnchorCountError
from .estimators import fit_translation
from .validation import as_pair, require_anchors

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
RELATIVE_ALPHAS = (0.001, 0.01, 0.1, 1.0)


def default_candidates() -> list[tuple[str, dict[str, Any]]]:
    """The (method, options) pairs that ``auto`` compares unless told otherwise."""
    return ([("orthogonal", {})] + [("linear", {"alpha": a}) for a in RIDGE_ALPHAS] + [("affine", {})]
            + [("relative", {"alpha": a}) for a in RELATIVE_ALPHAS])


def _pooled_scores(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    center = truth.mean(dim=0)
    sims = nn.functional.normalize(pred - center, dim=1) @ nn.functional.normalize(truth - center, dim=1).T
    top1 = float((sims.argmax(dim=1) == torch.arange(len(pred))).double().mean())
    return top1, float(sims.diagonal().mean())


def select_method(source, target, candidates: list[tuple[str, dict[str, Any]]] | None = None, folds: int = 5,
                  seed: int = 0, **common: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Return (method, options, report) for the best-scoring candidate; `common` options go to every candidate."""
    x, y = as_pair(source, target)
    n = x.shape[0]
    require_anchors(n, 4, "auto", "two folds of two for cross-validation")
    k = max(2, min(folds, n // 2))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    splits = list(torch.tensor_split(order, k))
    rows = []
    for method, options in candidates or default_candidates():
        out_of_fold, skipped = torch.empty_like(y), None
        for i, held in enumerate(splits):
            train = torch.cat([s for j, s in enumerate(splits) if j != i])
            try:
                translation = fit_translation(x[train], y[train], method, **{**common, **options})
            except AnchorCountError as err:
                skipped = str(err)
                break
            out_of_fold[held] = translation(x[held]).to(y.dtype)
        row: dict[str, Any] = {"method": method, "options": dict(options)}
        if skipped:
            row["skipped"] = skipped
        else:
            top1, cos = _pooled_scores(out_of_fold, y)
            row.update(top1=top1, cosine=cos, score=(top1 + cos) / 2)
        rows.append(row)
    scored = [r for r in rows if "score" in r]
    best = max(scored, key=lambda r: r["score"])  # max keeps the first (simplest) of equal scores
    report = {"folds": k, "seed": seed,
              "selection_score": "mean of top-1 retrieval and centred cosine over the pooled out-of-fold predictions",
              "candidates": rows, "chosen": {"method": best["method"], "options": best["options"]}}
    return best["method"], {**common, **best["options"]}, report
