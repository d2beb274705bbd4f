"""`LatentTranslation`: source preprocessing -> map -> inverse target preprocessing -> output calibration.

Output calibration ``spread`` undoes the shrinkage of a regression towards the anchors' mean: each output's
deviation from the target anchors' mean is rescaled to the anchors' root-mean-square deviation. ``auto`` (the
default) turns it on where the target space is a normalised one (every target anchor has the same norm, as
sentence-transformers models with a ``Normalize`` module give), where a decoder expects vectors of that spread,
and leaves it off elsewhere, so an exact isometry stays exact.

The module is built empty from its shapes and method options, so that a saved state can be checked against its
config before any tensor is loaded; `hubstitch.math.estimators` fills it.

Example:
    >>> import torch
    >>> from hubstitch.math.estimators import fit_translation
    >>> x = torch.randn(200, 8, dtype=torch.float64)
    >>> q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    >>> t = fit_translation(x, x @ q, "orthogonal", source_preprocessing="center", target_preprocessing="center")
    >>> bool(torch.allclose(t(x), x @ q))
    True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import UnknownMethodError
from .maps import DIM_MATCHING, METHODS, build_map
from .preprocessing import DEFAULT_DEAD_TOL, Preprocessor, parse_spec
from .validation import as_latents, check_width

CALIBRATIONS = ("auto", "none", "spread")
NORMALISED_TOL = 1e-3  # target anchors whose norms vary less than this (relative) form a normalised space
COMMON_DEFAULTS: dict[str, Any] = {
    "source_preprocessing": "standard",
    "target_preprocessing": "standard",
    "dead_tol": DEFAULT_DEAD_TOL,
    "output_calibration": "auto",
}
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    # Centring (not per-dimension scaling) keeps an isometry an isometry: a rotation, an isotropic scale and a
    # shift are recovered exactly; `span_only` leaves directions the anchors never vary along at the target mean.
    "orthogonal": {"source_preprocessing": "center", "target_preprocessing": "center", "isotropic_scale": True,
                   "dim_matching": "pad", "span_only": True},
    "affine": {},
    "linear": {"alpha": 1.0},
    "relative": {"alpha": 0.01},
    "mlp": {
        "alpha": 1.0, "hidden_dim": 512, "lr": 3e-3, "weight_decay": 1e-4, "max_epochs": 500, "patience": 50,
        "batch_size": 64, "val_fraction": 0.2, "seed": 0,
    },
}


def resolve_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults for `method` overridden by `options`; unknown names and values are refused."""
    if method not in METHOD_DEFAULTS:
        raise UnknownMethodError(
            f"method {method!r} is not known; expected one of {list(METHODS)} or 'auto'; fix: pick one of those"
        )
    allowed = {**COMMON_DEFAULTS, **METHOD_DEFAULTS[method]}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UnknownMethodError(
            f"option(s) {unknown} do not apply to method {method!r}; expected some of {sorted(allowed)}; "
            f"fix: remove them or choose the method they belong to"
        )
    resolved = {**allowed, **options}
    parse_spec(resolved["source_preprocessing"])
    parse_spec(resolved["target_preprocessing"])
    if resolved.get("dim_matching", "pad") not in DIM_MATCHING:
        raise UnknownMethodError(
            f"dim_matching {resolved['dim_matching']!r} is not known; expected one of {list(DIM_MATCHING)}; "
            f"fix: pick one"
        )
    if resolved["output_calibration"] not in CALIBRATIONS:
        raise UnknownMethodError(
            f"output_calibration {resolved['output_calibration']!r} is not known; expected one of "
            f"{list(CALIBRATIONS)}; fix: pick one"
        )
    for name, low, high in _RANGES:
        if name in resolved and not _within(resolved[name], low, high):
            raise UnknownMethodError(
                f"{name}={resolved[name]!r} is out of range; expected a number in [{low}, {high}]; fix: pass one")
    for name in ("isotropic_scale", "span_only"):
        if name in resolved and not isinstance(resolved[name], bool):
            raise UnknownMethodError(f"{name}={resolved[name]!r}; expected True or False")
    return resolved


_RANGES = (("alpha", 0.0, math.inf), ("dead_tol", 0.0, 1.0), ("hidden_dim", 1, 1 << 16), ("lr", 1e-12, 10.0),
           ("weight_decay", 0.0, 10.0), ("max_epochs", 1, 1 << 20), ("patience", 1, 1 << 20),
           ("batch_size", 1, 1 << 24), ("val_fraction", 1e-6, 0.9))


def _within(value: Any, low: float, high: float) -> bool:
    """A finite number (not a bool) in [low, high); integers where the bounds are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if isinstance(low, int) and not float(value).is_integer():
        return False
    return low <= value < high if math.isfinite(high) else low <= value


class LatentTranslation(nn.Module):
    """Maps source latents (n, source_dim) to target latents (n, target_dim)."""

    def __init__(self, method: str, source_dim: int, target_dim: int, source_active_dim: int,
                 target_active_dim: int, n_anchors: int, options: dict[str, Any]) -> None:
        super().__init__()
        self.method, self.options = method, resolve_options(method, options)
        self.source_dim, self.target_dim = source_dim, target_dim
        tol = self.options["dead_tol"]
        self.source_prep = Preprocessor(source_dim, self.options["source_preprocessing"], tol)
        self.target_prep = Preprocessor(target_dim, self.options["target_preprocessing"], tol)
        self.map = build_map(method, source_active_dim, target_active_dim, n_anchors,
                             self.options.get("dim_matching", "pad"), self.options.get("hidden_dim", 512))
        self.register_buffer("output_center", torch.zeros(target_dim))
        self.register_buffer("output_radius", torch.zeros(()))

    def calibrate(self, target: torch.Tensor) -> None:
        """Resolve ``output_calibration="auto"`` and store what ``spread`` needs, from the target anchors."""
        mode = self.options["output_calibration"]
        if mode == "auto":
            norms = target.norm(dim=1)
            normalised = bool(norms.std() <= NORMALISED_TOL * norms.mean()) if len(norms) > 1 else False
            mode = self.options["output_calibration"] = "spread" if normalised else "none"
        center = target.mean(dim=0)
        self.output_center = center.to(self.output_center.dtype)
        deviation = ((target - center) ** 2).sum(dim=1).mean().sqrt()
        self.output_radius = deviation.to(self.output_radius.dtype) if mode == "spread" else torch.zeros(())

    def calibrate_from_moments(self, n: int, target_sum: torch.Tensor, norm_sum: torch.Tensor,
                               norm_sq: torch.Tensor) -> None:
        """`calibrate` from streamed sums (float64): the target anchors' sum, and the sums of their norms and squared
        norms; the same decisions and buffers as `calibrate` on the rows themselves."""
        mode = self.options["output_calibration"]
        mean_norm = norm_sum / n
        if mode == "auto":
            spread = ((norm_sq - n * mean_norm * mean_norm) / (n - 1)).clamp_min(0).sqrt() if n > 1 else None
            normalised = bool(spread <= NORMALISED_TOL * mean_norm) if spread is not None else False
            mode = self.options["output_calibration"] = "spread" if normalised else "none"
        center = target_sum / n
        deviation = (norm_sq / n - center @ center).clamp_min(0).sqrt()
        self.output_center = center.to(self.output_center.dtype)
        self.output_radius = deviation.to(self.output_radius.dtype) if mode == "spread" else torch.zeros(())

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_latents(x, "source")
        check_width(x, self.source_dim, "source")
        return self.apply_map(x)

    def apply_map(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` on checked latents, differentiable in the map's tensors (`hubstitch.decoders.tuning` tunes
        them through a decoder's loss)."""
        z = self.source_prep(x)
        z = self.map(z.to(self._map_dtype()))
        y = self.target_prep.inverse(z)
        if self.options["output_calibration"] == "spread":
            deviation = y - self.output_center.to(y.dtype)
            length = deviation.norm(dim=1, keepdim=True).clamp_min(torch.finfo(y.dtype).tiny)
            y = self.output_center.to(y.dtype) + deviation * (self.output_radius.to(y.dtype) / length)
        return y.to(x.dtype)

    def _map_dtype(self) -> torch.dtype:
        tensor = next(self.map.buffers(), None)
        return (tensor if tensor is not None else next(self.map.parameters())).dtype
