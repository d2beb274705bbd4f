"""Encoding anchor sets (and unpaired pools) with an `Encoder`, through the latent cache.

Example:
    >>> from hubstitch.data.encoding import encode_set  # doctest: +SKIP
    >>> latents = encode_set(encoder, anchors, "source", cache=LatentCache())  # doctest: +SKIP
"""

from __future__ import annotations

import torch

from ..encoders.encoder import Encoder
from ..errors import HubstitchValueError
from .anchors import AnchorSet
from .latent_cache import LatentCache


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
