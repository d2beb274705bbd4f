"""The maps between preprocessed spaces, one module per method, with state as buffers or parameters.

Each module is built empty from its shapes (so a saved state can be checked against a config before loading)
and filled by the estimators in `hubstitch.math.estimators`.

Example:
    >>> import torch
    >>> from hubstitch.math.maps import build_map
    >>> m = build_map("orthogonal", in_dim=3, out_dim=5, n_anchors=10)
    >>> m(torch.randn(2, 3)).shape
    torch.Size([2, 5])
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UnknownMethodError
from .relative import relative_projection

METHODS = ("orthogonal", "affine", "linear", "mlp", "relative")
DIM_MATCHING = ("pad", "truncate")


class OrthogonalMap(nn.Module):
    """x -> s * match(x) @ R, with R orthogonal (m, m); widths matched by zero padding or truncation."""

    def __init__(self, in_dim: int, out_dim: int, dim_matching: str = "pad") -> None:
        super().__init__()
        if dim_matching not in DIM_MATCHING:
            raise UnknownMethodError(
                f"dim_matching {dim_matching!r} is not known; expected one of {list(DIM_MATCHING)}; fix: pick one"
            )
        self.in_dim, self.out_dim, self.dim_matching = in_dim, out_dim, dim_matching
        self.matched_dim = max(in_dim, out_dim) if dim_matching == "pad" else min(in_dim, out_dim)
        self.register_buffer("rotation", torch.eye(self.matched_dim))
        self.register_buffer("scale", torch.ones(()))

    def match_source(self, x: torch.Tensor) -> torch.Tensor:
        m = self.matched_dim
        return nn.functional.pad(x, (0, m - x.shape[1])) if x.shape[1] < m else x[:, :m]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.match_source(x) @ self.rotation * self.scale
        if z.shape[1] < self.out_dim:
            return nn.functional.pad(z, (0, self.out_dim - z.shape[1]))
        return z[:, : self.out_dim]


class LinearMap(nn.Module):
    """x -> x @ W + b (b stays zero for method 'linear')."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(in_dim, out_dim))
        self.register_buffer("bias", torch.zeros(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)


class ResidualMLPMap(nn.Module):
    """x -> x @ W + b + GELU(x @ W1 + b1) @ W2 + b2: a linear skip (started from ridge) plus a small MLP."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 512) -> None:
        super().__init__()
        self.skip = nn.Linear(in_dim, out_dim)
        self.hidden = nn.Linear(in_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, out_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.out(nn.functional.gelu(self.hidden(x)))


class RelativeMap(nn.Module):
    """x -> cos(x, anchors) @ W: through the relative (cosine) representation, decoded by kernel ridge."""

    def __init__(self, n_anchors: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.register_buffer("anchors", torch.zeros(n_anchors, in_dim))
        self.register_buffer("weight", torch.zeros(n_anchors, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relative_projection(x, self.anchors, "cosine") @ self.weight


def build_map(method: str, in_dim: int, out_dim: int, n_anchors: int, dim_matching: str = "pad",
              hidden_dim: int = 512) -> nn.Module:
    """An empty map module for `method` with the given shapes."""
    if method == "orthogonal":
        return OrthogonalMap(in_dim, out_dim, dim_matching)
    if method in ("affine", "linear"):
        return LinearMap(in_dim, out_dim)
    if method == "mlp":
        return ResidualMLPMap(in_dim, out_dim, hidden_dim)
    if method == "relative":
        return RelativeMap(n_anchors, in_dim, out_dim)
    raise UnknownMethodError(
        f"method {method!r} is not known; expected one of {list(METHODS)} or 'auto'; fix: pick one of those"
    )
