"""Sufficient statistics of parallel anchor latents, accumulated in chunks and added across shards.

Counts, sums, per-dimension sums of squares, X^T X and X^T Y (float64), and the sums of the target rows' norms
and squared norms (for the output calibration of normalised targets) are all that the orthogonal, affine and
linear fits need, so a million anchors fit with memory independent of their number, and statistics computed by
separate workers add up with ``+``. `hubstitch.AnchorStatistics` (``data/statistics.py``) adds the file format.

Example:
    >>> import torch
    >>> from hubstitch.math.statistics import SufficientStatistics
    >>> x, y = torch.randn(100, 4), torch.randn(100, 3)
    >>> a = SufficientStatistics(4, 3).update(x[:60], y[:60])
    >>> b = SufficientStatistics(4, 3).update(x[60:], y[60:])
    >>> whole = SufficientStatistics(4, 3).update(x, y)
    >>> bool(torch.allclose((a + b).cross, whole.cross))
    True
"""

from __future__ import annotations

import torch

from ..errors import DimensionError
from .validation import as_pair, check_width

FIELDS = ("source_sum", "target_sum", "source_sq", "target_sq", "source_gram", "cross", "target_norm_sum",
          "target_norm_sq")


class SufficientStatistics:
    """Streamed statistics of (source, target) anchor pairs; see the module docstring."""

    def __init__(self, source_dim: int, target_dim: int, *, with_gram: bool = True) -> None:
        self.source_dim, self.target_dim, self.with_gram = source_dim, target_dim, with_gram
        f64 = torch.float64
        self.n = 0
        self.source_sum, self.target_sum = torch.zeros(source_dim, dtype=f64), torch.zeros(target_dim, dtype=f64)
        self.source_sq, self.target_sq = torch.zeros(source_dim, dtype=f64), torch.zeros(target_dim, dtype=f64)
        self.source_gram = torch.zeros(source_dim, source_dim, dtype=f64) if with_gram else torch.zeros(0, 0)
        self.cross = torch.zeros(source_dim, target_dim, dtype=f64)
        self.target_norm_sum, self.target_norm_sq = torch.zeros((), dtype=f64), torch.zeros((), dtype=f64)

    def update(self, source, target) -> SufficientStatistics:
        """Add a chunk of parallel anchors (n, source_dim) and (n, target_dim); returns self."""
        x, y = as_pair(source, target)
        check_width(x, self.source_dim, "source")
        check_width(y, self.target_dim, "target")
        x, y = x.to(torch.float64), y.to(torch.float64)
        self.n += x.shape[0]
        self.source_sum += x.sum(dim=0)
        self.target_sum += y.sum(dim=0)
        self.source_sq += (x * x).sum(dim=0)
        self.target_sq += (y * y).sum(dim=0)
        if self.with_gram:
            self.source_gram.addmm_(x.T, x)
        self.cross.addmm_(x.T, y)
        norms = y.norm(dim=1)
        self.target_norm_sum += norms.sum()
        self.target_norm_sq += (norms * norms).sum()
        return self

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        if (other.source_dim, other.target_dim, other.with_gram) != (self.source_dim, self.target_dim, self.with_gram):
            raise DimensionError(
                f"cannot add statistics of widths ({other.source_dim}, {other.target_dim}, gram={other.with_gram}) "
                f"to ({self.source_dim}, {self.target_dim}, gram={self.with_gram}); expected the same encoders "
                f"and options on every shard; fix: recompute the odd shard"
            )
        total = type(self)(self.source_dim, self.target_dim, with_gram=self.with_gram)
        total.n = self.n + other.n
        for name in FIELDS:
            setattr(total, name, getattr(self, name) + getattr(other, name))
        return total
