"""Relative representations: each latent described by its similarities to a set of anchor latents.

Projections and what they are invariant to (``center=True`` subtracts the anchors' mean from both sides first):

- ``cosine``: cosine similarity; invariant to rotations/reflections and isotropic rescaling (and translations
  when centred).
- ``euclidean``: negative Euclidean distance; invariant to rotations/reflections and translations.
- ``l1`` / ``linf``: negative L1 / L-infinity distance; invariant to translations, permutations and sign flips
  of the coordinates.

Several projections make a *product* representation: each projection's output is normalised per row (so that
an isotropic rescaling cancels in the distance-based ones too) and the results are concatenated or summed.

Example:
    >>> import torch
    >>> from hubstitch.math.relative import relative_projection
    >>> x, anchors = torch.randn(8, 16), torch.randn(4, 16)
    >>> q, _ = torch.linalg.qr(torch.randn(16, 16))
    >>> r1 = relative_projection(x, anchors, "cosine")
    >>> r2 = relative_projection(3 * x @ q, 3 * anchors @ q, "cosine")
    >>> bool((r1 - r2).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import UnknownMethodError
from .validation import as_latents, check_width

PROJECTIONS = ("cosine", "euclidean", "l1", "linf")
AGGREGATIONS = ("concat", "sum")
_NORMS = {"euclidean": 2.0, "l1": 1.0, "linf": float("inf")}


def _check_name(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise UnknownMethodError(f"{what} {value!r} is not known; expected one of {list(allowed)}; fix: pick one")


def relative_projection(x: torch.Tensor, anchors: torch.Tensor, projection: str = "cosine",
                        center: bool = False) -> torch.Tensor:
    """Similarities (n, n_anchors) of each row of `x` to each anchor under one projection."""
    _check_name(projection, PROJECTIONS, "projection")
    if center:
        shift = anchors.mean(dim=0)
        x, anchors = x - shift, anchors - shift
    if projection == "cosine":
        return nn.functional.normalize(x, dim=1) @ nn.functional.normalize(anchors, dim=1).T
    return -torch.cdist(x, anchors, p=_NORMS[projection])


def relative_representation(x: torch.Tensor, anchors: torch.Tensor, projections: Sequence[str] = ("cosine",),
                            center: bool = False, aggregation: str = "concat") -> torch.Tensor:
    """The product of several relative projections: each L2-normalised per row, then concatenated or summed.

    With a single projection and no normalisation needed, use `relative_projection` instead.
    """
    if not projections:
        raise UnknownMethodError("no projection given; expected at least one of "
                                 f"{list(PROJECTIONS)}; fix: pass projections=('cosine',)")
    _check_name(aggregation, AGGREGATIONS, "aggregation")
    parts = [nn.functional.normalize(relative_projection(x, anchors, p, center), dim=1) for p in projections]
    if aggregation == "sum":
        return nn.functional.normalize(torch.stack(parts).sum(dim=0), dim=1)
    return torch.cat(parts, dim=1) / len(parts) ** 0.5


class RelativeProjection(nn.Module):
    """A fixed anchor set and projections, as a module: ``forward(x)`` gives the relative representation.

    The anchors are a buffer, so they travel with the module's state dict (and with a saved artifact).

    Example:
        >>> import torch
        >>> module = RelativeProjection(torch.randn(10, 32), projections=("cosine", "euclidean"))
        >>> module(torch.randn(3, 32)).shape
        torch.Size([3, 20])
    """

    def __init__(self, anchors: torch.Tensor, projections: Sequence[str] = ("cosine",), center: bool = False,
                 aggregation: str = "concat") -> None:
        super().__init__()
        for projection in projections:
            _check_name(projection, PROJECTIONS, "projection")
        _check_name(aggregation, AGGREGATIONS, "aggregation")
        self.projections, self.center, self.aggregation = tuple(projections), center, aggregation
        self.register_buffer("anchors", as_latents(anchors, "anchor").clone())

    @property
    def output_dim(self) -> int:
        n = self.anchors.shape[0]
        return n * len(self.projections) if self.aggregation == "concat" else n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_latents(x, "input")
        check_width(x, self.anchors.shape[1], "input")
        x = x.to(self.anchors.dtype)
        if len(self.projections) == 1:
            return relative_projection(x, self.anchors, self.projections[0], self.center)
        return relative_representation(x, self.anchors, self.projections, self.center, self.aggregation)
