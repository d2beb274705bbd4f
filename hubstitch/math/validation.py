"""Input checks shared by every numeric entry point.

Example:
    >>> import torch
    >>> from hubstitch.math.validation import as_latents
    >>> as_latents(torch.ones(4, 3), "source").shape
    torch.Size([4, 3])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import AnchorCountError, DimensionError, LatentsError

_UPCAST = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def as_latents(value: Any, name: str) -> torch.Tensor:
    """Return `value` as a 2-D finite floating tensor (float32 or float64), or raise `LatentsError`.

    numpy arrays are accepted (shared memory, no copy); float16 and bfloat16 are upcast to float32; integer and
    boolean arrays are refused rather than silently cast.
    """
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise LatentsError(
                f"{name} latents have dtype {value.dtype}; expected a floating-point array (float32 or float64); "
                f"fix: convert them with `.astype('float32')` if the values really are features"
            )
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise LatentsError(
            f"{name} latents are a {type(value).__name__}; expected a torch.Tensor or numpy.ndarray of shape "
            f"(n, dim); fix: stack them with torch.stack or numpy.stack"
        )
    if not value.is_floating_point():
        raise LatentsError(
            f"{name} latents have dtype {value.dtype}; expected a floating-point tensor (float32 or float64); "
            f"fix: call `.float()` if the values really are features"
        )
    if value.dtype in _UPCAST:
        value = value.to(_UPCAST[value.dtype])
    if value.ndim != 2:
        raise LatentsError(
            f"{name} latents have shape {tuple(value.shape)}; expected 2 dimensions (n, dim); "
            f"fix: reshape to (n, dim), e.g. `x.reshape(len(x), -1)`"
        )
    if value.shape[0] == 0 or value.shape[1] == 0:
        raise LatentsError(
            f"{name} latents are empty (shape {tuple(value.shape)}); expected at least one row and one column; "
            f"fix: check that the encoder produced outputs for your items"
        )
    # One reduction detects NaN/Inf cheaply; only then (or on overflow of the sum) look element by element.
    if bool(torch.isfinite(value.sum())):
        return value
    finite = torch.isfinite(value)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        rows = torch.nonzero(~finite.all(dim=1)).flatten()[:5].tolist()
        raise LatentsError(
            f"{name} latents contain {bad} NaN or Inf values (first rows: {rows}); expected finite values; "
            f"fix: drop or re-encode those rows"
        )
    return value


def as_pair(source: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check parallel anchor latents: both valid, same row count; both cast to the wider dtype."""
    x = as_latents(source, "source")
    y = as_latents(target, "target")
    if x.shape[0] != y.shape[0]:
        raise AnchorCountError(
            f"source has {x.shape[0]} anchors but target has {y.shape[0]}; expected one target row per source row "
            f"(parallel anchors); fix: encode the same items, in the same order, with both encoders"
        )
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(dtype)


def check_width(x: torch.Tensor, expected: int, name: str) -> None:
    """Raise `DimensionError` when `x` does not have `expected` columns."""
    if x.shape[1] != expected:
        raise DimensionError(
            f"{name} latents have width {x.shape[1]}; expected {expected} (the width this translator was fitted "
            f"on); fix: encode with the same model, pooling and layer as the translator's {name}"
        )


def require_anchors(n: int, needed: int, method: str, why: str) -> None:
    """Raise `AnchorCountError` when `n` anchors are fewer than `needed` for `method`."""
    if n < needed:
        raise AnchorCountError(
            f"method {method!r} got {n} anchors; it needs at least {needed} ({why}); "
            f"fix: add {needed - n} or more anchors, or choose method='orthogonal' or 'auto'"
        )
