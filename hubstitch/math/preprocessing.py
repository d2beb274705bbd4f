"""Per-side preprocessing fitted on the anchors: dead-dimension removal, centering, scaling, L2 normalisation.

A spec is a string of steps joined by "+": ``"none"``, ``"center"``, ``"standard"``, ``"l2"``,
``"center+l2"`` or ``"standard+l2"``. Steps always run in the order centre/scale, then L2. ``"l2"`` rescales
each row to unit norm and then multiplies by the anchors' mean norm, so the overall scale is kept.

Dimensions whose anchor standard deviation is below ``dead_tol`` times the median standard deviation are *dead*:
they are dropped going in, and restored with the anchors' mean coming out, so that a decoder reading the target
space sees the values it was trained on there instead of junk.

Example:
    >>> import torch
    >>> from hubstitch.math.preprocessing import Preprocessor
    >>> x = torch.randn(100, 5, dtype=torch.float64); x[:, 2] = 0.5
    >>> prep = Preprocessor(5, "standard").fit(x)
    >>> prep.active_dim, prep(x).shape
    (4, torch.Size([100, 4]))
    >>> torch.allclose(prep.inverse(prep(x)), x)
    True
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import LatentsError, StreamingNotSupportedError, UnknownMethodError

SPECS = ("none", "center", "standard", "l2", "center+l2", "standard+l2")
DEFAULT_DEAD_TOL = 1e-4


def parse_spec(spec: str) -> tuple[bool, bool, bool]:
    """Return (center, standardize, l2) for a preprocessing spec, or raise `UnknownMethodError`."""
    if spec not in SPECS:
        raise UnknownMethodError(
            f"preprocessing {spec!r} is not known; expected one of {list(SPECS)}; fix: pick one of those"
        )
    steps = set(spec.split("+"))
    standard = "standard" in steps
    return standard or "center" in steps, standard, "l2" in steps


def dead_dimensions(std: torch.Tensor, dead_tol: float = DEFAULT_DEAD_TOL) -> torch.Tensor:
    """Boolean mask of the dimensions whose spread is negligible next to the median dimension's."""
    reference = std.median()
    return std <= dead_tol * reference if reference > 0 else std <= 0


class Preprocessor(nn.Module):
    """Fitted preprocessing of one side. Buffers: ``keep`` (bool), ``mean``, ``scale`` (dim,), ``norm`` ()."""

    def __init__(self, dim: int, spec: str = "standard", dead_tol: float = DEFAULT_DEAD_TOL) -> None:
        super().__init__()
        self.dim, self.spec, self.dead_tol = dim, spec, dead_tol
        self.center, self.standardize, self.l2 = parse_spec(spec)
        self.register_buffer("keep", torch.ones(dim, dtype=torch.bool))
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("norm", torch.ones(()))

    @property
    def active_dim(self) -> int:
        return int(self.keep.sum())

    @property
    def dead(self) -> list[int]:
        """Indices of the dimensions dropped as dead."""
        return torch.nonzero(~self.keep).flatten().tolist()

    def fit(self, x: torch.Tensor) -> Preprocessor:
        """Fit on anchor latents `x` (n, dim)."""
        self.fit_transform(x)
        return self

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        """Fit on anchor latents `x` (n, dim) and return them preprocessed, in one pass over the data."""
        n = x.shape[0]
        mean = x.mean(dim=0)
        centred = x - mean
        # (z * z).sum(0) is several times faster than x.std(0) on row-major data, and as exact.
        std = ((centred * centred).sum(dim=0) / max(n - 1, 1)).sqrt()
        self._set_moments(mean, std)
        if not self.center:
            z = self._affine(x)
        else:
            z = centred if bool(self.keep.all()) else centred[:, self.keep]
            if self.standardize:
                z = z.div_(self.scale[self.keep])
        if self.l2:
            self.norm = z.norm(dim=1).mean()
            z = nn.functional.normalize(z, dim=1) * self.norm
        return z

    def fit_moments(self, n: int, total: torch.Tensor, total_sq: torch.Tensor) -> Preprocessor:
        """Fit from streamed per-dimension sums (count, sum, sum of squares), without the rows themselves."""
        if self.l2:
            raise StreamingNotSupportedError(
                f"preprocessing {self.spec!r} needs each row's norm after centring, which streamed sums cannot "
                f"give; expected 'none', 'center' or 'standard' for a streamed fit; fix: use one of those or fit "
                f"in memory"
            )
        mean = total / n
        var = (total_sq - n * mean * mean).clamp_min(0) / max(n - 1, 1)
        self._set_moments(mean, var.sqrt())
        return self

    def _set_moments(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        keep = ~dead_dimensions(std, self.dead_tol)
        if not bool(keep.any()):
            raise LatentsError(
                f"all {self.dim} dimensions are constant on the anchors (max std {float(std.max()):.3g}); "
                f"expected anchors that vary; fix: use distinct anchor items"
            )
        self.keep, self.mean = keep, mean
        self.scale = torch.where(keep, std, torch.ones_like(std)) if self.standardize else torch.ones_like(std)
        self.norm = torch.ones((), dtype=mean.dtype)

    def _affine(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.keep
        z = x[:, keep] if not bool(keep.all()) else x
        if self.center:
            z = z - self.mean[keep]
        if self.standardize:
            z = z / self.scale[keep]
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw latents (n, dim) to preprocessed active coordinates (n, active_dim)."""
        z = self._affine(x.to(self.mean.dtype))
        if self.l2:
            z = nn.functional.normalize(z, dim=1) * self.norm
        return z

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Map preprocessed coordinates back to raw latents; dead dimensions get the anchors' mean."""
        keep = self.keep
        z = z.to(self.mean.dtype)
        if self.standardize:
            z = z * self.scale[keep]
        if self.center:
            z = z + self.mean[keep]
        if bool(keep.all()):
            return z
        out = self.mean.expand(z.shape[0], self.dim).clone()
        out[:, keep] = z
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, spec={self.spec!r}, dead={self.dead}"
