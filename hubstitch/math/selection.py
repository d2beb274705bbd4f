"""``method="auto"``: choose the method (and its ``alpha``) by k-fold cross-validation on the anchors.

Each candidate is fitted on k-1 folds and scored on the held-out fold by retrieval top-1 (among that fold) and by
cosine similarity after centring on the training fold's target mean; the score is their mean, averaged over
folds. Candidates that need more anchors than a fold has (``affine`` with N close to the width) are skipped, and
say so in the report. No fixed rule: with few anchors the relative method tends to win, with a few hundred
Procrustes and ridge do, and least squares collapses when N is close to the source width; the scores decide.

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


def _fold_scores(pred: torch.Tensor, truth: torch.Tensor, center: torch.Tensor) -> tuple[float, float]:
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
        tops, cosines, skipped = [], [], None
        for i, held in enumerate(splits):
            train = torch.cat([s for j, s in enumerate(splits) if j != i])
            try:
                translation = fit_translation(x[train], y[train], method, **{**common, **options})
            except AnchorCountError as err:
                skipped = str(err)
                break
            top1, cos = _fold_scores(translation(x[held]), y[held], y[train].mean(dim=0))
            tops.append(top1)
            cosines.append(cos)
        row: dict[str, Any] = {"method": method, "options": dict(options)}
        if skipped:
            row["skipped"] = skipped
        else:
            top1, cos = sum(tops) / k, sum(cosines) / k
            row.update(top1=top1, cosine=cos, score=(top1 + cos) / 2)
        rows.append(row)
    scored = [r for r in rows if "score" in r]
    best = max(scored, key=lambda r: r["score"])  # max keeps the first (simplest) of equal scores
    report = {"folds": k, "seed": seed, "selection_score": "mean of held-out top-1 and centred cosine",
              "candidates": rows, "chosen": {"method": best["method"], "options": best["options"]}}
    return best["method"], {**common, **best["options"]}, report
