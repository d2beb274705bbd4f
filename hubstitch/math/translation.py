"""`LatentTranslation`: source preprocessing -> map -> inverse target preprocessing, as one torch module.

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

from typing import Any

import torch
from torch import nn

from ..errors import UnknownMethodError
from .maps import DIM_MATCHING, METHODS, build_map
from .preprocessing import DEFAULT_DEAD_TOL, Preprocessor, parse_spec
from .validation import as_latents, check_width

COMMON_DEFAULTS: dict[str, Any] = {
    "source_preprocessing": "standard",
    "target_preprocessing": "standard",
    "dead_tol": DEFAULT_DEAD_TOL,
}
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "orthogonal": {"isotropic_scale": False, "dim_matching": "pad"},
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
    if "alpha" in resolved and not float(resolved["alpha"]) >= 0:
        raise UnknownMethodError(f"alpha {resolved['alpha']!r} is negative; expected alpha >= 0; fix: pass 0 or more")
    return resolved


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

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_latents(x, "source")
        check_width(x, self.source_dim, "source")
        z = self.source_prep(x)
        z = self.map(z.to(self._map_dtype()))
        return self.target_prep.inverse(z).to(x.dtype)

    def _map_dtype(self) -> torch.dtype:
        tensor = next(self.map.buffers(), None)
        return (tensor if tensor is not None else next(self.map.parameters())).dtype
