"""From checkpoints and an anchor dataset to a fitted, evaluated translator (what ``hubstitch fit`` runs).

Example:
    >>> from hubstitch import Encoder, AnchorSet  # doctest: +SKIP
    >>> from hubstitch.data.workflow import fit_from_encoders  # doctest: +SKIP
    >>> source = Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> target = Encoder.from_pretrained("sentence-transformers/all-mpnet-base-v2")  # doctest: +SKIP
    >>> anchors = AnchorSet.load("org/sentences", source_column="text")  # doctest: +SKIP
    >>> translator = fit_from_encoders(source, target, anchors, n=1000, holdout=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..encoders.encoder import Encoder
from ..engines.ray_cluster import RaySettings
from ..errors import HubstitchValueError
from ..translators.fit import fit_translator
from ..translators.translator import Translator
from ..translators.unsupervised import fit_unsupervised
from .anchors import AnchorSet
from .distributed import fit_on_ray
from .latent_cache import LatentCache
from .sentences import check_anchor_sentences, expand_anchors

logger = logging.getLogger(__name__)


def encode_set(encoder: Encoder, anchors: AnchorSet, side: str, cache: LatentCache | None = None,
               batch_size: int = 32, progress: bool = True) -> torch.Tensor:
    """Latents of `anchors`' `side` ("source" or "target") column, read from or written to `cache`."""
    column = anchors.source_column if side == "source" else (anchors.target_column or anchors.source_column)
    items = anchors.source_items if side == "source" else anchors.target_items

    def encode() -> torch.Tensor:
        return encoder.encode(items(), batch_size=batch_size, progress=progress)

    if cache is None:
        return encode()
    return cache.get_or_encode(encoder.ref, anchors.provenance.fingerprint, column, anchors.rows(), encode,
                               max_length=getattr(encoder, "max_length", None))


def encode_unpaired(source: Encoder, target: Encoder, unpaired: AnchorSet | tuple[AnchorSet, AnchorSet],
                    cache: LatentCache | None = None, batch_size: int = 32,
                    progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents of unpaired pools: one `AnchorSet` (its source column through `source`, its target column, or the
    same one, through `target`; rows are not taken as pairs) or a pair of them (each one's source column)."""
    if isinstance(unpaired, AnchorSet):
        return (encode_set(source, unpaired, "source", cache, batch_size, progress),
                encode_set(target, unpaired, "target", cache, batch_size, progress))
    if not (isinstance(unpaired, tuple) and len(unpaired) == 2 and all(isinstance(u, AnchorSet) for u in unpaired)):
        raise HubstitchValueError(f"unpaired is a {type(unpaired).__name__}; expected an AnchorSet or a tuple of two "
                                  f"(source pool, target pool); fix: load them with AnchorSet.load")
    return (encode_set(source, unpaired[0], "source", cache, batch_size, progress),
            encode_set(target, unpaired[1], "source", cache, batch_size, progress))


def fit_from_encoders(source: Encoder, target: Encoder, anchors: AnchorSet | None, *, n: int | None = None,
                      selection: str = "random", holdout: float | int = 0.2, seed: int = 0, method: str = "auto",
                      cache: LatentCache | None = None, batch_size: int = 32, progress: bool = True,
                      unpaired: AnchorSet | tuple[AnchorSet, AnchorSet] | None = None, engine: str = "local",
                      ray: RaySettings | None = None, latents_out: str | Path | None = None,
                      anchor_sentences: int | str | None = "auto", target_reference: AnchorSet | None = None,
                      **options: Any) -> Translator:
    """Split off `holdout`, select `n` anchors by `selection`, encode both sides (cached), fit and evaluate.

    With `anchor_sentences` (a minimum word count, e.g. 4), each chosen text anchor is followed by its sentences
    (`hubstitch.data.sentences.with_sentences`): many more pairs from the same `n` texts; the held-out rows stay
    whole. The default ``"auto"`` does so where it applies and helps (`auto_sentences`: one text column of
    documents, with or without unpaired pools); ``None`` fits on the whole texts only.

    With `target_reference` (items of the domain the decoder downstream was trained on, read by the target encoder
    from their source column), the target anchors are moved to that domain's mean (`fit_translator`).

    With `unpaired` pools (`encode_unpaired`), the anchors are seeds that pseudo-anchors grow from; with
    `anchors=None` as well, the fit is unsupervised (`hubstitch.fit_unsupervised`; ``auto`` then means
    ``orthogonal``). With ``engine="ray"`` the encoding runs on a Ray cluster (`fit_on_ray`).
    """
    check_anchor_sentences(anchor_sentences)  # before any work
    if target_reference is not None and not isinstance(target_reference, AnchorSet):
        raise HubstitchValueError(f"target_reference is a {type(target_reference).__name__}; expected an AnchorSet "
                                  f"(its source column read by the target encoder); fix: load it with AnchorSet.load")
    if engine == "ray":
        return fit_on_ray(source, target, anchors, n=n, selection=selection, holdout=holdout, seed=seed,
                          method=method, settings=ray or RaySettings(batch_size=batch_size), progress=progress,
                          unpaired=unpaired, latents_out=latents_out, anchor_sentences=anchor_sentences,
                          target_reference=target_reference, **options)
    if engine != "local":
        raise HubstitchValueError(f"engine={engine!r}; expected 'local' or 'ray'; fix: pass one of those")
    pools = None if unpaired is None else encode_unpaired(source, target, unpaired, cache, batch_size, progress)
    if anchors is None:
        if pools is None:
            raise HubstitchValueError("no anchors and no unpaired pools; fix: pass anchors, unpaired pools, or both")
        return fit_unsupervised(*pools, method="orthogonal" if method == "auto" else method, seed=seed,
                                source_ref=source.ref, target_ref=target.ref, **options)
    if pools is not None:
        options.update(unpaired_source=pools[0], unpaired_target=pools[1])
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise HubstitchValueError(f"n={n!r} anchors; expected a whole number of at least 1, or None for all; fix: "
                                  f"pass n=None to use every anchor")
    pool, heldout = anchors.split_holdout(holdout, seed=seed)
    n = n or len(pool)
    features = None
    if selection in ("kmeans", "farthest"):
        features = encode_set(source, pool, "source", cache, batch_size, progress)
    chosen = pool.select(n, seed=seed, selection=selection, features=features)
    expanded = expand_anchors(chosen, anchor_sentences, seed=seed)
    if expanded is not chosen:
        chosen, features = expanded, None
    if features is not None:
        position = {row: i for i, row in enumerate(pool.rows())}
        source_latents = features[[position[row] for row in chosen.rows()]]
    else:
        source_latents = encode_set(source, chosen, "source", cache, batch_size, progress)
    target_latents = encode_set(target, chosen, "target", cache, batch_size, progress)
    if target_reference is not None:
        options["target_reference"] = encode_set(target, target_reference, "source", cache, batch_size, progress)
    eval_source = eval_target = None
    if heldout is not None:
        eval_source = encode_set(source, heldout, "source", cache, batch_size, progress)
        eval_target = encode_set(target, heldout, "target", cache, batch_size, progress)
    return fit_translator(source_latents, target_latents, method=method, eval_source=eval_source,
                          eval_target=eval_target, seed=seed, source_ref=source.ref, target_ref=target.ref,
                          anchors=chosen.provenance, **options)
