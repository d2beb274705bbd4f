"""Fit a `LatentTranslation` on parallel anchors, in memory or from streamed `SufficientStatistics`.

Methods: ``orthogonal`` (Procrustes, optional isotropic scale), ``affine`` (least squares with bias),
``linear`` (ridge, ``alpha``), ``relative`` (cosine relative representation decoded by kernel ridge),
``mlp`` (a linear skip started from ridge plus a small MLP, trained with Adam and early-stopped).

Example:
    >>> import torch
    >>> from hubstitch.math.estimators import fit_translation
    >>> x = torch.randn(300, 6, dtype=torch.float64)
    >>> t = fit_translation(x, 2 * x + 1, "affine")
    >>> bool(torch.allclose(t(x), 2 * x + 1))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import LatentsError, StreamingNotSupportedError
from . import solvers
from .mlp import train_residual_mlp
from .preprocessing import Preprocessor
from .relative import relative_projection
from .statistics import SufficientStatistics
from .translation import LatentTranslation, resolve_options
from .validation import as_pair, require_anchors

STREAMABLE = ("orthogonal", "affine", "linear")


def minimum_anchors(method: str, source_active_dim: int) -> tuple[int, str]:
    """How many anchors `method` needs, and why."""
    if method == "affine":
        return source_active_dim + 1, f"one per active source dimension ({source_active_dim}) plus the bias"
    if method == "mlp":
        return 10, "some are held out for early stopping"
    return 2, "a spread to estimate"


def _assemble(method: str, opts: dict[str, Any], source_prep: Preprocessor, target_prep: Preprocessor,
              n_anchors: int) -> LatentTranslation:
    translation = LatentTranslation(method, source_prep.dim, target_prep.dim, source_prep.active_dim,
                                    target_prep.active_dim, n_anchors, opts)
    translation.source_prep, translation.target_prep = source_prep, target_prep
    return translation


def fit_translation(source, target, method: str, progress: Callable[[int, float], None] | None = None,
                    **options: Any) -> LatentTranslation:
    """Fit `method` on parallel anchors in memory; computation runs in the inputs' dtype (float32 or float64).

    `progress(epoch, val_loss)` is called during `mlp` training.
    """
    opts = resolve_options(method, options)
    x, y = as_pair(source, target)
    tol = opts["dead_tol"]
    source_prep = Preprocessor(x.shape[1], opts["source_preprocessing"], tol)
    target_prep = Preprocessor(y.shape[1], opts["target_preprocessing"], tol)
    xp, yp = source_prep.fit_transform(x), target_prep.fit_transform(y)
    needed, why = minimum_anchors(method, source_prep.active_dim)
    require_anchors(x.shape[0], needed, method, why)
    translation = _assemble(method, opts, source_prep, target_prep, x.shape[0])
    mapping = translation.map
    if method == "orthogonal":
        m = mapping.matched_dim
        xm, ym = xp[:, :m], yp[:, :m]  # truncation; zero padding adds nothing to X^T Y
        sq_norm = (xm * xm).sum() if opts["isotropic_scale"] else None
        mapping.rotation, mapping.scale = _rotation(xm.T @ ym, m, sq_norm, opts["span_only"])
    elif method == "affine":
        # centred normal equations in float64, solved as the streamed fit solves them (`solvers.least_squares`)
        x64, y64 = xp.double(), yp.double()
        mean_x, mean_y = x64.mean(dim=0), y64.mean(dim=0)
        xc = x64 - mean_x
        weight = solvers.least_squares(xc.T @ xc, xc.T @ (y64 - mean_y))
        mapping.weight, mapping.bias = weight.to(xp.dtype), (mean_y - mean_x @ weight).to(xp.dtype)
    elif method == "linear":
        mapping.weight = solvers.ridge_no_intercept(xp, yp, opts["alpha"])
        mapping.bias = torch.zeros(yp.shape[1], dtype=yp.dtype)
    elif method == "relative":
        mapping.anchors = xp.clone()
        mapping.weight = solvers.ridge(relative_projection(xp, xp, "cosine"), yp, opts["alpha"])
    else:
        train_residual_mlp(mapping, xp, yp, opts, progress)
    translation.calibrate(y)
    return _finish(translation)


def _rotation(block: torch.Tensor, m: int, sq_norm, span_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Procrustes on the (kx, ky) block of X^T Y that is not zero padding, embedded in the (m, m) rotation.

    Padded coordinates are always zero, so only this block of the rotation is ever used: an economy SVD of
    (kx, ky) instead of a full one of (m, m) (384 -> 4096 on 20 anchors: a 384 x 4096 SVD, not 4096 x 4096).
    """
    rotation_block, scale = solvers.procrustes(block, sq_norm, span_only)
    rotation = torch.zeros(m, m, dtype=block.dtype)
    rotation[: block.shape[0], : block.shape[1]] = rotation_block
    return rotation, scale


def _finish(translation: LatentTranslation) -> LatentTranslation:
    """Store every buffer contiguously, as a reload from safetensors will: the same layout gives the same bits; and
    refuse a fit whose parameters are not all finite (an overflow, a singular system) rather than save it."""
    for module in translation.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            setattr(module, name, buffer.contiguous())
    for name, tensor in translation.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise LatentsError(f"the {translation.method!r} fit produced non-finite values in {name!r} (options "
                               f"{ {k: v for k, v in translation.options.items() if k != 'dead_tol'} }); expected a "
                               f"finite translator; fix: check the latents' scale, or choose another alpha or method")
    return translation.eval()


def fit_translation_from_statistics(stats: SufficientStatistics, method: str, **options: Any) -> LatentTranslation:
    """Fit `method` from streamed `SufficientStatistics` (float64); equals the in-memory fit on the same rows."""
    opts = resolve_options(method, options)
    if method not in STREAMABLE:
        raise StreamingNotSupportedError(
            f"method {method!r} cannot be fitted from streamed statistics; expected one of {list(STREAMABLE)}; "
            f"fix: choose one of those, or fit {method!r} in memory on a subsample"
        )
    if method != "orthogonal" and not stats.with_gram:
        raise StreamingNotSupportedError(
            f"method {method!r} needs X^T X but the statistics were accumulated with with_gram=False; "
            f"fix: accumulate with with_gram=True"
        )
    n, tol = stats.n, opts["dead_tol"]
    require_anchors(n, 2, method, "a spread to estimate")
    source_prep = Preprocessor(stats.source_dim, opts["source_preprocessing"], tol)
    target_prep = Preprocessor(stats.target_dim, opts["target_preprocessing"], tol)
    source_prep.fit_moments(n, stats.source_sum, stats.source_sq)
    target_prep.fit_moments(n, stats.target_sum, stats.target_sq)
    needed, why = minimum_anchors(method, source_prep.active_dim)
    require_anchors(n, needed, method, why)
    # Moments of the preprocessed coordinates z = (v[keep] - shift) / scale, from the raw sums.
    sx, ax, dx = _affine_parts(source_prep)
    sy, ay, dy = _affine_parts(target_prep)
    mean_x = (stats.source_sum[sx] - n * ax) / dx
    mean_y = (stats.target_sum[sy] - n * ay) / dy
    raw_cross = stats.cross[sx][:, sy]
    cross = (raw_cross - torch.outer(stats.source_sum[sx], ay) - torch.outer(ax, stats.target_sum[sy])
             + n * torch.outer(ax, ay)) / torch.outer(dx, dy)
    translation = _assemble(method, opts, source_prep, target_prep, n)
    mapping = translation.map
    if method == "orthogonal":
        m = mapping.matched_dim
        kx, ky = min(cross.shape[0], m), min(cross.shape[1], m)
        sq_x = (stats.source_sq[sx] - 2 * ax * stats.source_sum[sx] + n * ax * ax) / (dx * dx)
        mapping.rotation, mapping.scale = _rotation(cross[:kx, :ky], m, sq_x[:kx].sum() if opts["isotropic_scale"]
                                                    else None, opts["span_only"])
        translation.calibrate_from_moments(n, stats.target_sum, stats.target_norm_sum, stats.target_norm_sq)
        return _finish(translation)
    raw_gram = stats.source_gram[sx][:, sx]
    gram = (raw_gram - torch.outer(stats.source_sum[sx], ax) - torch.outer(ax, stats.source_sum[sx])
            + n * torch.outer(ax, ax)) / torch.outer(dx, dx)
    if method == "affine":
        gram_c = gram - n * torch.outer(mean_x, mean_x)
        cross_c = cross - n * torch.outer(mean_x, mean_y)
        weight = solvers.least_squares(gram_c, cross_c)
        mapping.weight, mapping.bias = weight, mean_y - mean_x @ weight
    else:
        mapping.weight = solvers.ridge(gram, cross, opts["alpha"])
        mapping.bias = torch.zeros(cross.shape[1], dtype=torch.float64)
    translation.calibrate_from_moments(n, stats.target_sum, stats.target_norm_sum, stats.target_norm_sq)
    return _finish(translation)


def _affine_parts(prep: Preprocessor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(kept indices, shift, divisor) such that the affine part of `prep` is (v[keep] - shift) / divisor."""
    keep = torch.nonzero(prep.keep).flatten()
    shift = prep.mean[keep] if prep.center else torch.zeros(len(keep), dtype=prep.mean.dtype)
    return keep, shift, prep.scale[keep]
