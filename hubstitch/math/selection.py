"""``method="auto"``: choose the method, its options and the preprocessing by cross-validation on the anchors.

The search space is every method (``orthogonal`` with and without isotropic scaling, ``linear`` with five ridge
strengths, ``affine``, ``relative`` with four) under every preprocessing (``none``, ``center``, ``standard``, each
with and without ``l2``, the same on both sides): 72 candidates. Options the caller fixes (``alpha=10``,
``source_preprocessing="center"``) fix that axis of the grid. Ridge strengths are relative to the data: ``linear``
tries ``c * trace(X^T X) / d`` for c in `RIDGE_SCALES`, so one grid serves latents of any scale (the chosen absolute
``alpha`` is what the translator records).

Each candidate is fitted on k-1 folds and predicts the held-out fold; the out-of-fold predictions are pooled and
scored together: retrieval top-1 among all predicted anchors and cosine similarity, both after centring on the
anchors' target mean, averaged. (Scoring each small fold on its own was noisy.)

The cost is bounded by successive halving over folds: every candidate first predicts as few folds as give at least
`MIN_PRUNE_ROWS` held-out rows, the best third goes on to about half the folds, the best third of those to all k.
The whole grid costs about 72 + 24 * (k/2) + 8 * (k/2) fits instead of 72 * k; with few anchors (where fits are
cheap and one fold is too small to judge) every candidate sees every fold. The report lists every candidate with
the score it had when it left the race, and the cost (``fits``, ``seconds``).

Example:
    >>> import torch
    >>> from hubstitch.math.selection import select_method
    >>> x = torch.randn(60, 8); y = x @ torch.linalg.qr(torch.randn(8, 8))[0]
    >>> method, options, report = select_method(x, y, folds=3)
    >>> method in {"orthogonal", "linear", "affine", "relative"}, len(report["candidates"])
    (True, 72)
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch
from torch import nn

from ..errors import AnchorCountError, UnknownMethodError
from .estimators import fit_translation
from .preprocessing import Preprocessor
from .translation import COMMON_DEFAULTS, METHOD_DEFAULTS
from .validation import as_pair, require_anchors

PREPROCESSINGS = ("none", "center", "standard", "l2", "center+l2", "standard+l2")
RIDGE_SCALES = (0.001, 0.01, 0.1, 1.0, 10.0)
RELATIVE_ALPHAS = (0.001, 0.01, 0.1, 1.0)
MIN_PRUNE_ROWS = 64  # a candidate is dropped only on scores over at least this many held-out anchors
KEEP_FRACTION = 1 / 3


logger = logging.getLogger(__name__)

def default_candidates(source=None, preprocessings=PREPROCESSINGS, **fixed: Any) -> list[tuple[str, dict[str, Any]]]:
    """The (method, options) pairs that ``auto`` compares; `fixed` options (e.g. ``alpha``) pin that axis.

    `source` (the anchors' source latents) sets the scale of the ridge strengths; without it they are absolute.
    """
    if "source_preprocessing" in fixed or "target_preprocessing" in fixed:
        preprocessings = (None,)
    candidates: list[tuple[str, dict[str, Any]]] = []
    for spec in preprocessings:
        prep = {} if spec is None else {"source_preprocessing": spec, "target_preprocessing": spec}
        scale = _ridge_scale(source, spec or fixed.get("source_preprocessing", "center"), fixed)
        ridge = [fixed["alpha"]] if "alpha" in fixed else [_round(c * scale) for c in RIDGE_SCALES]
        relative = [fixed["alpha"]] if "alpha" in fixed else list(RELATIVE_ALPHAS)
        isos = [fixed["isotropic_scale"]] if "isotropic_scale" in fixed else [True, False]
        candidates += [("orthogonal", {**prep, "isotropic_scale": iso}) for iso in isos]
        candidates += [("linear", {**prep, "alpha": a}) for a in ridge]
        candidates += [("affine", dict(prep))]
        candidates += [("relative", {**prep, "alpha": a}) for a in relative]
    return candidates


def _ridge_scale(source, spec: str, fixed: dict[str, Any]) -> float:
    """Mean diagonal of Z^T Z for the preprocessed source Z: what a ridge alpha is measured against."""
    if source is None:
        return 1.0
    z = Preprocessor(source.shape[1], spec, fixed.get("dead_tol", 1e-4)).fit_transform(source.double())
    return float((z * z).sum() / z.shape[1])


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def _pooled_scores(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    center = truth.mean(dim=0)
    sims = nn.functional.normalize(pred - center, dim=1) @ nn.functional.normalize(truth - center, dim=1).T
    top1 = float((sims.argmax(dim=1) == torch.arange(len(pred))).double().mean())
    return top1, float(sims.diagonal().mean())


def _schedule(n: int, k: int) -> list[int]:
    """How many folds every surviving candidate has predicted after each round."""
    first = min(k, math.ceil(MIN_PRUNE_ROWS * k / n))
    return sorted({first, max(first, math.ceil(k / 2)), k})


COST_WARNING_SECONDS = 60.0  # above this estimate, auto says what it will cost before it spends it


def _say_cost(seconds_per_fit: float, candidates: int, folds: int, x: torch.Tensor, y: torch.Tensor) -> None:
    """Log what the whole search may cost, at the pace of its first fit (a warning past `COST_WARNING_SECONDS`)."""
    estimate = seconds_per_fit * candidates * folds
    level = logging.WARNING if estimate > COST_WARNING_SECONDS else logging.DEBUG
    logger.log(level, "auto compares up to %d candidates x %d folds on %d x %d -> %d latents: up to about %.0f s at "
               "the pace of its first fit; fix: name a method (e.g. --method linear) or pin --alpha to skip most of "
               "the search", candidates, folds, x.shape[0], x.shape[1], y.shape[1], estimate)


def select_method(source, target, candidates: list[tuple[str, dict[str, Any]]] | None = None, folds: int = 5,
                  seed: int = 0, **common: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Return (method, options, report) for the best-scoring candidate; `common` options go to every candidate
    (those that do not apply to a method are left out for it)."""
    start = time.perf_counter()
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise UnknownMethodError(f"folds={folds!r}; expected a whole number of at least 2 for cross-validation; "
                                 f"fix: pass folds=5")
    x, y = as_pair(source, target)
    n = x.shape[0]
    require_anchors(n, 4, "auto", "two folds of two for cross-validation")
    k = max(2, min(folds, n // 2))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    splits = list(torch.tensor_split(order, k))
    candidates = candidates if candidates is not None else default_candidates(x, **common)
    rows = [{"method": m, "options": dict(o), "state": {"pred": torch.empty_like(y), "done": 0}}
            for m, o in candidates]
    alive, fits, schedule = list(range(len(rows))), 0, _schedule(n, k)
    for round_index, target_folds in enumerate(schedule):
        for i in alive:
            first = time.perf_counter()
            fits += _extend(rows[i], x, y, splits, target_folds, common)
            if round_index == 0 and i == alive[0]:
                _say_cost((time.perf_counter() - first) / max(1, target_folds), len(rows), k, x, y)
        alive = [i for i in alive if "skipped" not in rows[i]]
        if not alive:
            break
        for i in alive:
            rows[i]["round"] = round_index + 1
        if target_folds < k:
            alive.sort(key=lambda i: (-rows[i]["score"], i))
            alive = sorted(alive[:max(3, math.ceil(len(alive) * KEEP_FRACTION))])
    if not alive:
        raise AnchorCountError(f"no auto candidate could be fitted on folds of {n} anchors; expected at least one "
                               f"method that fits (first: {rows[0].get('skipped')}); fix: add anchors")
    best = max(alive, key=lambda i: (rows[i]["score"], -i))  # the first (simplest) of equal scores
    for row in rows:
        del row["state"]
    report = {"folds": k, "seed": seed,
              "selection_score": "mean of top-1 retrieval and centred cosine over the pooled out-of-fold predictions",
              "search": {"strategy": f"successive halving over folds: every candidate predicts {schedule[0]} of "
                                     f"{k} folds, the best third goes on to the next step of {schedule}",
                         "candidates": len(rows), "fits": fits, "full_cross_validation_fits": len(rows) * k,
                         "seconds": round(time.perf_counter() - start, 3)},
              "candidates": rows, "chosen": {"method": rows[best]["method"], "options": rows[best]["options"]}}
    return rows[best]["method"], {**_applicable(rows[best]["method"], common), **rows[best]["options"]}, report


def _applicable(method: str, common: dict[str, Any]) -> dict[str, Any]:
    allowed = set(COMMON_DEFAULTS) | set(METHOD_DEFAULTS[method])
    return {key: value for key, value in common.items() if key in allowed}


def _extend(row: dict[str, Any], x: torch.Tensor, y: torch.Tensor, splits: list[torch.Tensor], target_folds: int,
            common: dict[str, Any]) -> int:
    """Fit `row`'s candidate on more folds until it has predicted `target_folds` of them; score the pooled rows."""
    state, fits = row["state"], 0
    options = {**_applicable(row["method"], common), **row["options"]}
    while state["done"] < target_folds:
        i = state["done"]
        train = torch.cat([s for j, s in enumerate(splits) if j != i])
        try:
            translation = fit_translation(x[train], y[train], row["method"], **options)
        except AnchorCountError as err:
            row["skipped"] = str(err)
            for key in ("score", "top1", "cosine", "folds"):
                row.pop(key, None)
            return fits
        fits += 1
        state["pred"][splits[i]] = translation(x[splits[i]]).to(y.dtype)
        state["done"] += 1
    predicted = torch.cat(splits[:state["done"]])
    top1, cos = _pooled_scores(state["pred"][predicted], y[predicted])
    row.update(top1=top1, cosine=cos, score=(top1 + cos) / 2, folds=state["done"])
    return fits
