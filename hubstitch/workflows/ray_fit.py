"""`fit_from_encoders(..., engine="ray")`: the same split, selection and fit as the local path, with the encoding
on a Ray cluster (`hubstitch.engines`).

``orthogonal``, ``affine`` and ``linear`` stream: each block of anchors is reduced to sufficient statistics on the
cluster and only those reach the driver, so the bank can be as large as the cluster's disks; the translator equals the
local fit on the same anchors (sentence anchors included). Fits that need the rows (``auto``, ``relative``, ``mlp``;
``kmeans`` / ``farthest`` selection; unpaired pools) gather the latents on the driver, up to `ROWS_IN_MEMORY` pairs;
above that they are refused, with the fix. Held-out rows (for the metrics) are gathered too, up to the same bound.
A `target_reference` (a few of the decoder's own items) is encoded on the driver and needs a gathering method.

Example:
    >>> from hubstitch.engines.ray_cluster import RaySettings  # doctest: +SKIP
    >>> translator = fit_from_encoders(minilm, mpnet, anchors, method="orthogonal", holdout=2000, engine="ray",
    ...                                ray=RaySettings(address="auto", num_workers=8))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..data.anchors import AnchorSet
from ..data.sentences import expand_anchors
from ..engines.ray_cluster import EncoderRecipe, EngineError, RaySettings, ray_cluster
from ..math.estimators import STREAMABLE
from ..translators.fit import fit_translator, fit_translator_from_statistics
from ..translators.translator import Translator

logger = logging.getLogger(__name__)
ROWS_IN_MEMORY = 50_000  # pairs whose latents a Ray fit may gather on the driver (~0.5 GB at 768 + 1536 dims)


def _pairs(anchors: AnchorSet) -> tuple[list[int], list[Any], list[Any]]:
    return anchors.rows(), anchors.source_items(), anchors.target_items()


def _gatherable(count: int, why: str) -> None:
    if count > ROWS_IN_MEMORY:
        raise EngineError(f"{why} needs {count} latent rows in the driver's memory; engine 'ray' gathers at most "
                          f"{ROWS_IN_MEMORY}; fix: choose method 'orthogonal', 'affine' or 'linear' (streamed), "
                          f"lower --n / --holdout, or use engine 'local'")


def fit_on_ray(source, target, anchors: AnchorSet | None, *, n: int | None, selection: str, holdout: float | int,
               seed: int, method: str, settings: RaySettings, progress: bool = True, unpaired: Any = None,
               latents_out: str | Path | None = None, anchor_sentences: int | str | None = "auto",
               target_reference: AnchorSet | None = None, **options: Any) -> Translator:
    """`fit_from_encoders` with the encoding on Ray; see the module docstring."""
    from ..engines.ray_anchors import encode_pairs, encode_rows

    if anchors is None or unpaired is not None:
        raise EngineError("engine 'ray' fits from paired anchors; unpaired pools (pseudo-anchors, unsupervised fits) "
                          "compare every row with every other, in memory; fix: use engine 'local' for them")
    if selection in ("kmeans", "farthest"):
        raise EngineError(f"selection {selection!r} clusters the source latents of the whole pool in memory; engine "
                          f"'ray' selects before encoding; fix: selection 'random' or 'stratified', or engine 'local'")
    pool, heldout = anchors.split_holdout(holdout, seed=seed, n=n)
    chosen = expand_anchors(pool.select(n or len(pool), seed=seed, selection=selection), anchor_sentences, seed=seed)
    streamed = method in STREAMABLE
    if not streamed:
        _gatherable(len(chosen), f"method {method!r}")
    if heldout is not None:
        _gatherable(len(heldout), f"the held-out evaluation ({len(heldout)} rows)")
    if latents_out is not None and not streamed:
        raise EngineError(f"--latents-out writes the latents of a streamed fit; method {method!r} gathers them on "
                          f"the driver instead; fix: choose 'orthogonal', 'affine' or 'linear', or drop --latents-out")
    if target_reference is not None:
        if streamed:  # whether a normalised target space stays one after the move needs the moved rows
            raise EngineError(f"target_reference moves the target anchors before the fit, which needs their rows; "
                              f"method {method!r} is fitted from streamed sums; fix: method 'auto' (or 'relative', "
                              f"'mlp'), which gathers the rows, or engine 'local'")
        _gatherable(len(target_reference), "the target reference")
        logger.info("encoding %d target reference items on the driver", len(target_reference))
        options["target_reference"] = target.encode(target_reference.source_items(), batch_size=settings.batch_size,
                                                    progress=progress)
    recipes = EncoderRecipe.of(source), EncoderRecipe.of(target)
    with ray_cluster(settings):
        logger.info("encoding %d anchor pairs on Ray (%d workers)", len(chosen), settings.num_workers)
        if streamed:
            stats = encode_pairs(*_pairs(chosen), *recipes, settings, with_gram=method != "orthogonal",
                                 latents_out=latents_out, progress=progress)
        else:
            x, y = encode_rows(*_pairs(chosen), *recipes, settings, progress=progress)
        eval_x = eval_y = None
        if heldout is not None:
            eval_x, eval_y = encode_rows(*_pairs(heldout), *recipes, settings, progress=progress)
    if streamed:
        return fit_translator_from_statistics(stats, method, eval_source=eval_x, eval_target=eval_y,
                                              source_ref=source.ref, target_ref=target.ref,
                                              anchors=chosen.provenance, **options)
    return fit_translator(x, y, method=method, eval_source=eval_x, eval_target=eval_y, seed=seed,
                          source_ref=source.ref, target_ref=target.ref, anchors=chosen.provenance, **options)
