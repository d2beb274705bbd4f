"""A translator as a chain of affine maps and L2 normalisations: what a stock ``Dense`` / ``Normalize`` stack runs.

`orthogonal`, `affine` and `linear` translators are affine end to end (source preprocessing, dead-dimension
selection, the map, the inverse target preprocessing and the restored dead dimensions fold into one weight and
bias); ``l2`` preprocessing adds a normalisation in the chain, ``spread`` output calibration adds
(shift, normalise, scale and shift back). `relative` and `mlp` translators are not affine and are refused.

Example:
    >>> import torch, hubstitch
    >>> from hubstitch.translators.affine import affine_stages, apply_stages
    >>> x = torch.randn(300, 8)
    >>> translator = hubstitch.fit_translator(x, x @ torch.randn(8, 5) + 1, method="linear")
    >>> stages = affine_stages(translator)
    >>> [stage[0] for stage in stages], bool(torch.allclose(apply_stages(stages, x), translator(x), atol=1e-5))
    (['affine'], True)
"""

from __future__ import annotations

import copy

import torch

from ..errors import HubstitchValueError
from .translator import Translator

AFFINE_METHODS = ("orthogonal", "affine", "linear")


class NotAffineError(HubstitchValueError):
    """A translator that no chain of affine maps and normalisations reproduces."""


def _probe(function, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (dim, out), b (out,)) of an affine `function` on float64 rows, by evaluating it at 0 and at the basis."""
    bias = function(torch.zeros(1, dim, dtype=torch.float64))[0]
    weight = function(torch.eye(dim, dtype=torch.float64)) - bias
    return weight, bias


def affine_stages(translator: Translator, *, normalize_output: bool | None = None) -> list[tuple]:
    """``[("affine", W, b) | ("normalize",), ...]`` reproducing `translator` on rows x: x @ W + b, F.normalize.

    `normalize_output` appends a final normalisation (default: where the target space is normalised, as a
    `StitchedEncoder` does).
    """
    config = translator.config
    if config.method not in AFFINE_METHODS:
        raise NotAffineError(
            f"a {config.method!r} translator is not an affine map (it is not a weight and a bias, even folded with "
            f"normalisations); expected one of {list(AFFINE_METHODS)}; fix: fit with method='orthogonal', 'affine' "
            f"or 'linear' (e.g. auto with candidates restricted to those)"
        )
    translation = copy.deepcopy(translator.translation).double()
    source, target = translation.source_prep, translation.target_prep
    stages: list[tuple] = [("affine", *_probe(source._affine, source.dim))]
    if source.l2:
        stages += [("normalize",), ("affine", torch.eye(source.active_dim, dtype=torch.float64) * source.norm,
                                    torch.zeros(source.active_dim, dtype=torch.float64))]
    stages.append(("affine", *_probe(lambda z: target.inverse(translation.map(z)), source.active_dim)))
    if translation.options["output_calibration"] == "spread":
        center, radius = translation.output_center.double(), translation.output_radius.double()
        eye = torch.eye(target.dim, dtype=torch.float64)
        stages += [("affine", eye, -center), ("normalize",), ("affine", eye * radius, center)]
    if normalize_output if normalize_output is not None else config.target.normalization == "l2":
        stages.append(("normalize",))
    return _merge(stages)


def _merge(stages: list[tuple]) -> list[tuple]:
    """Compose consecutive affine stages into one."""
    merged: list[tuple] = []
    for stage in stages:
        if stage[0] == "affine" and merged and merged[-1][0] == "affine":
            _, w1, b1 = merged.pop()
            stage = ("affine", w1 @ stage[1], b1 @ stage[1] + stage[2])
        merged.append(stage)
    return merged


def apply_stages(stages: list[tuple], x: torch.Tensor) -> torch.Tensor:
    """Run `stages` on rows `x` (in float64; the result in x's dtype)."""
    y = x.double()
    for stage in stages:
        y = torch.nn.functional.normalize(y, dim=1) if stage[0] == "normalize" else y @ stage[1] + stage[2]
    return y.to(x.dtype)
