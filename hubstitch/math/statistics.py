"""Sufficient statistics of parallel anchor latents, accumulated in chunks and added across shards.

Counts, sums, per-dimension sums of squares, X^T X and X^T Y (float64) are all that the orthogonal, affine and
linear fits need, so a million anchors fit with memory independent of their number, and statistics computed by
separate workers add up with ``+`` (or travel as safetensors with `save` / `load`).

Example:
    >>> import torch
    >>> from hubstitch.math.statistics import AnchorStatistics
    >>> x, y = torch.randn(100, 4), torch.randn(100, 3)
    >>> a = AnchorStatistics(4, 3).update(x[:60], y[:60])
    >>> b = AnchorStatistics(4, 3).update(x[60:], y[60:])
    >>> whole = AnchorStatistics(4, 3).update(x, y)
    >>> bool(torch.allclose((a + b).cross, whole.cross))
    True
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ArtifactError, DimensionError
from .validation import as_pair, check_width

_FIELDS = ("source_sum", "target_sum", "source_sq", "target_sq", "source_gram", "cross")


class AnchorStatistics:
    """Streamed statistics of (source, target) anchor pairs; see the module docstring."""

    def __init__(self, source_dim: int, target_dim: int, *, with_gram: bool = True) -> None:
        self.source_dim, self.target_dim, self.with_gram = source_dim, target_dim, with_gram
        f64 = torch.float64
        self.n = 0
        self.source_sum, self.target_sum = torch.zeros(source_dim, dtype=f64), torch.zeros(target_dim, dtype=f64)
        self.source_sq, self.target_sq = torch.zeros(source_dim, dtype=f64), torch.zeros(target_dim, dtype=f64)
        self.source_gram = torch.zeros(source_dim, source_dim, dtype=f64) if with_gram else torch.zeros(0, 0)
        self.cross = torch.zeros(source_dim, target_dim, dtype=f64)

    def update(self, source, target) -> AnchorStatistics:
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
        return self

    def __add__(self, other: AnchorStatistics) -> AnchorStatistics:
        if (other.source_dim, other.target_dim, other.with_gram) != (self.source_dim, self.target_dim, self.with_gram):
            raise DimensionError(
                f"cannot add statistics of widths ({other.source_dim}, {other.target_dim}, gram={other.with_gram}) "
                f"to ({self.source_dim}, {self.target_dim}, gram={self.with_gram}); expected the same encoders "
                f"and options on every shard; fix: recompute the odd shard"
            )
        total = AnchorStatistics(self.source_dim, self.target_dim, with_gram=self.with_gram)
        total.n = self.n + other.n
        for name in _FIELDS:
            setattr(total, name, getattr(self, name) + getattr(other, name))
        return total

    def save(self, path: str | Path) -> None:
        """Write the statistics as safetensors (atomically: a temporary file renamed into place)."""
        from safetensors.torch import save_file

        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tensors = {name: getattr(self, name).contiguous() for name in _FIELDS}
        save_file(tensors, str(tmp), metadata={"n": str(self.n), "format": "hubstitch-anchor-statistics-1"})
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> AnchorStatistics:
        """Read statistics written by `save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != "hubstitch-anchor-statistics-1" or set(handle.keys()) != set(_FIELDS):
                raise ArtifactError(
                    f"{path} is not a hubstitch statistics file (format {metadata.get('format')!r}, keys "
                    f"{sorted(handle.keys())}); expected keys {sorted(_FIELDS)}; fix: write it with "
                    f"AnchorStatistics.save"
                )
            tensors = {name: handle.get_tensor(name) for name in _FIELDS}
        stats = cls(tensors["source_sum"].numel(), tensors["target_sum"].numel(),
                    with_gram=tensors["source_gram"].numel() > 0)
        stats.n = int(metadata["n"])
        for name, value in tensors.items():
            setattr(stats, name, value.to(torch.float64))
        return stats
