"""Relative heads: classifiers trained on relative representations, so any encoder that embeds the anchors plugs in.

A relative head reads each input's similarities to a published set of anchor items (kept beside the head as
``anchors.json``), not the raw latents of one encoder. At inference the pipeline embeds those anchor items with
whatever encoder it is given, projects the input onto them, and the head classifies, with no fitted translator.

Example:
    >>> import torch
    >>> from hubstitch.heads.relative import fit_relative_head, relative_inputs
    >>> anchors, x = torch.randn(20, 8), torch.randn(100, 8)
    >>> head = fit_relative_head(anchors, [f"anchor {i}" for i in range(20)], x, (x[:, 0] > 0).long().tolist(),
    ...                          epochs=50)
    >>> head(relative_inputs(head, x, anchors)).shape
    torch.Size([100, 2])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import HubstitchValueError
from ..math.relative import relative_representation
from ..math.validation import as_latents
from ..spaces import LatentSpaceRef
from .head import ClassifierHead

DEFAULT_PROJECTIONS = ("cosine",)


def fit_relative_head(anchor_latents, anchor_items: Sequence[Any], latents, labels, *,
                      projections: Sequence[str] = DEFAULT_PROJECTIONS, center: bool = True,
                      encoder: LatentSpaceRef | None = None, **fit_options: Any) -> ClassifierHead:
    """Train a head on the relative representation of `latents` with respect to `anchor_latents`.

    `anchor_items` are the raw anchors (strings) that produced `anchor_latents`; they are saved with the head.
    """
    items = list(anchor_items)
    anchors = as_latents(anchor_latents, "anchor")
    if len(items) != len(anchors) or not all(isinstance(item, str) for item in items):
        raise HubstitchValueError(f"{len(items)} anchor items for {len(anchors)} anchor latents; expected one string "
                                  f"per anchor row; fix: pass the anchor texts in the same order")
    relative = relative_representation(as_latents(latents, "training"), anchors, tuple(projections), center)
    head = ClassifierHead.fit(relative, labels, encoder=encoder, **fit_options)
    head.config.input_space = "relative"
    head.config.relative = {"projections": list(projections), "center": center, "aggregation": "concat",
                            "n_anchors": len(items),
                            "anchors_fingerprint": hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]}
    head.anchor_items = items
    return head


def relative_inputs(head: ClassifierHead, latents, anchor_latents) -> torch.Tensor:
    """What a relative head reads: `latents` projected onto `anchor_latents` (both from the same encoder)."""
    spec = head.config.relative
    return relative_representation(as_latents(latents, "input"), as_latents(anchor_latents, "anchor"),
                                   tuple(spec["projections"]), spec["center"], spec.get("aggregation", "concat"))
