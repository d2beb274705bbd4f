"""`fit_unsupervised`: a translator between two latent spaces from unpaired pools alone, with no anchor pairs.

The pseudo-anchors come from `hubstitch.math.bootstrap.unsupervised_pairs` (clusters matched by their
similarity structure, then grown by CSLS nearest neighbours, the most self-consistent of several attempts); the
final map is fitted on them. The config says so: ``config.pairing["mode"] == "unsupervised"``, with every
attempt's score, and ``n_anchors`` counts pseudo-anchors only.

Example:
    >>> import torch, hubstitch
    >>> gen = torch.Generator().manual_seed(0)
    >>> centers = 5 * torch.randn(10, 12, generator=gen)
    >>> x = centers.repeat(60, 1) + torch.randn(600, 12, generator=gen)
    >>> q = torch.linalg.qr(torch.randn(12, 12, generator=gen))[0]
    >>> pool_y = (x @ q)[torch.randperm(600, generator=gen)]       # the same items, order unknown
    >>> translator = hubstitch.fit_unsupervised(x, pool_y, seed=0)
    >>> translator.config.pairing["mode"], translator.config.pairing["seed_pairs"]
    ('unsupervised', 0)
    >>> bool((translator(x) - x @ q).norm() / (x @ q).norm() < 0.05)
    True
"""

from __future__ import annotations

import logging
from typing import Any

from ..math.bootstrap import unsupervised_pairs
from ..math.validation import as_latents
from ..spaces import LatentSpaceRef
from .config import AnchorProvenance
from .fit import _fit_pairs, _heldout, _record_metrics
from .translator import Translator

logger = logging.getLogger(__name__)


def fit_unsupervised(unpaired_source, unpaired_target, method: str = "orthogonal", *, clusters: int = 8,
                     max_attempts: int = 48, seed: int = 0, eval_source=None, eval_target=None,
                     source_ref: LatentSpaceRef | dict | str | None = None,
                     target_ref: LatentSpaceRef | dict | str | None = None,
                     anchors: AnchorProvenance | dict | None = None, **options: Any) -> Translator:
    """Fit `method` (default ``orthogonal``) between `unpaired_source` (n_s, d_s) and `unpaired_target`
    (n_t, d_t), latents of items seen by one encoder each, with no known pair.

    A few thousand items per side with some cluster structure are needed; whether it worked shows in
    ``config.pairing["attempts"]`` (a found alignment's consistency is about twice a failed one's) and, where a
    few true pairs exist, in `eval_source` / `eval_target` metrics.
    """
    pool_x, pool_y = as_latents(unpaired_source, "unpaired source"), as_latents(unpaired_target, "unpaired target")
    eval_x, eval_y = _heldout(eval_source, eval_target)
    result, attempts = unsupervised_pairs(pool_x, pool_y, clusters=clusters, max_runs=max_attempts, seed=seed)
    best = max(attempts, key=lambda a: a["consistency"])
    pairing = {"mode": "unsupervised", "seed_pairs": 0, "unpaired_source": int(pool_x.shape[0]),
               "unpaired_target": int(pool_y.shape[0]), "pseudo_anchors": len(result.source_index),
               "matching": f"k-means ({clusters} clusters per side) matched by similarity structure, then CSLS "
                           f"nearest neighbours (k=10); the most self-consistent of {len(attempts)} attempts",
               "chosen_attempt": best["attempt"], "attempts": attempts}
    logger.info("unsupervised: attempt %d of %d kept (consistency %.3f), %d pseudo-anchors", best["attempt"],
                len(attempts), best["consistency"], len(result.source_index))
    x = pool_x[result.source_index]
    y = pool_y[result.target_index].to(x.dtype)
    translator = _fit_pairs(x, y, method, seed, 5, None, options, source_ref, target_ref, anchors, pairing)
    translator.pseudo_anchor_index = (result.source_index, result.target_index)
    _record_metrics(translator, eval_x, eval_y)
    return translator
