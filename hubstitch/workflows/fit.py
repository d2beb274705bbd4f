"""From checkpoints and an anchor dataset to a fitted, evaluated translator (what ``hubstitch fit`` runs).

Example:
    >>> from hubstitch import Encoder, AnchorSet  # doctest: +SKIP
    >>> from hubstitch import fit_from_encoders  # doctest: +SKIP
    >>> source = Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> target = Encoder.from_pretrained("sentence-transformers/all-mpnet-base-v2")  # doctest: +SKIP
    >>> anchors = AnchorSet.load("org/sentences", source_column="text")  # doctest: +SKIP
    >>> translator = fit_from_encoders(source, target, anchors, n=1000, holdout=0.2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..data.anchors import AnchorSet
from ..data.encoding import encode_set, encode_unpaired
from ..data.latent_cache import LatentCache
from ..data.sentences import check_anchor_sentences, expand_anchors
from ..encoders.encoder import Encoder
from ..engines.ray_cluster import RaySettings
from ..errors import HubstitchValueError
from ..translators.fit import fit_translator
from ..translators.translator import Translator
from ..translators.unsupervised import fit_unsupervised
from .ray_fit import fit_on_ray

logger = logging.getLogger(__name__)


def fit_from_encoders(source: Encoder, target: Encoder, anchors: AnchorSet | None, *, n: int | None = None,
                      selection: str = "random", holdout: float | int = 0.2, seed: int = 0, method: str = "auto",
                      cache: LatentCache | None = None, batch_size: int = 32, progress: bool = True,
                      unpaired: AnchorSet | tuple[AnchorSet, AnchorSet] | None = None, engine: str = "local",
                      ray: RaySettings | None = None, latents_out: str | Path | None = None,
                      anchor_sentences: int | str | None = "auto", target_reference: AnchorSet | None = None,
                      sequence: bool = False, transcript_column: str | None = None, **options: Any) -> Translator:
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

    With ``sequence=True`` (two audio encoders on one frame grid, anchors of clips), the translator maps frame
    sequences for a generating decoder (`hubstitch.workflows.sequence_fit`): ``auto`` means ridge tuned by the target
    decoder's loss, on the `transcript_column` of the anchors or, without one, on the target model's own
    transcription of the clips; `options` take ``context``, ``refine``, ``epochs``, ``lr``, ``padding_frames``.
    """
    if sequence:
        refused = {"unpaired pools": unpaired is not None, "a target_reference": target_reference is not None,
                   "engine='ray'": engine != "local", "no anchors": anchors is None}
        if any(refused.values()):
            raise HubstitchValueError(f"sequence=True with {[k for k, v in refused.items() if v]}: sequence "
                                      f"translators are fitted locally, on anchor clips; fix: drop those")
        from .sequence_fit import fit_sequence_from_encoders

        return fit_sequence_from_encoders(source, target, anchors, n=n, selection=selection, holdout=holdout,
                                          seed=seed, method="linear" if method == "auto" else method,
                                          transcript_column=transcript_column,
                                          batch_size=min(batch_size, 8), progress=progress, **options)
    if transcript_column is not None:
        raise HubstitchValueError("transcript_column applies to sequence translators; fix: pass sequence=True")
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
    pool, heldout = anchors.split_holdout(holdout, seed=seed, n=n)
    n = n or len(pool)
    logger.info("encoding %d anchors and %d held-out rows with each encoder (holdout %s of %d rows)",
                min(n, len(pool)), 0 if heldout is None else len(heldout), holdout, len(anchors))
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
