"""`AnchorStatistics`: streamed sufficient statistics of anchor pairs, with their safetensors file format.

Shards computed by separate workers are saved, moved and added up; the sum fits the same translator as all the
rows at once (`hubstitch.fit_translator_from_statistics`).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from hubstitch.data.statistics import AnchorStatistics
    >>> x, y = torch.randn(50, 4), torch.randn(50, 3)
    >>> path = Path(tempfile.mkdtemp()) / "shard-0.safetensors"
    >>> AnchorStatistics(4, 3).update(x, y).save(path)
    >>> AnchorStatistics.load(path).n
    50
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import ArtifactError
from ..math.statistics import FIELDS, SufficientStatistics


class AnchorStatistics(SufficientStatistics):
    """`SufficientStatistics` that travel as safetensors files (`save` / `load`)."""

    def save(self, path: str | Path) -> None:
        """Write the statistics as safetensors (atomically: a temporary file renamed into place)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tensors = {name: getattr(self, name).contiguous() for name in FIELDS}
        save_file(tensors, str(tmp), metadata={"n": str(self.n), "format": "hubstitch-anchor-statistics-2"})
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> AnchorStatistics:
        """Read statistics written by `save`."""
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != "hubstitch-anchor-statistics-2" or set(handle.keys()) != set(FIELDS):
                raise ArtifactError(
                    f"{path} is not a hubstitch statistics file (format {metadata.get('format')!r}, keys "
                    f"{sorted(handle.keys())}); expected keys {sorted(FIELDS)}; fix: write it with "
                    f"AnchorStatistics.save"
                )
            tensors = {name: handle.get_tensor(name) for name in FIELDS}
        stats = cls(tensors["source_sum"].numel(), tensors["target_sum"].numel(),
                    with_gram=tensors["source_gram"].numel() > 0)
        stats.n = int(metadata["n"])
        for name, value in tensors.items():
            setattr(stats, name, value.to(torch.float64))
        return stats
