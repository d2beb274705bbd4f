"""The latent cache: encoder outputs stored as safetensors, keyed by everything that determines them.

Key: (model id, pinned revision, modality, pooling, layer, normalisation, dataset fingerprint, column, indices, and
the encoder's ``max_length`` truncation where it has one: the same text cut at 128 or 512 tokens is another latent).
Entries are written to a temporary file and renamed into place, so a killed run leaves no corrupt entry. The
folder is ``$HUBSTITCH_CACHE`` if set, else ``~/.cache/hubstitch``; latents live under ``latents/``.

Example:
    >>> import tempfile, torch
    >>> from hubstitch.data.latent_cache import LatentCache
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> cache = LatentCache(tempfile.mkdtemp())
    >>> ref = LatentSpaceRef("org/model", "a" * 40, "text", "mean", -1, 4)
    >>> cache.put(ref, "fp", "text", [0, 1], torch.ones(2, 4))
    >>> cache.get(ref, "fp", "text", [0, 1]).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..hub.cache import hubstitch_cache_dir
from ..spaces import LatentSpaceRef

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return hubstitch_cache_dir()


class LatentCache:
    """A folder of cached latents; see the module docstring."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.folder = self.root / "latents"

    @staticmethod
    def describe(ref: LatentSpaceRef, fingerprint: str, column: str, indices: Sequence[int],
                 max_length: int | None = None) -> dict[str, Any]:
        index_hash = hashlib.sha256(json.dumps(list(map(int, indices))).encode()).hexdigest()[:16]
        description = {"model_id": ref.model_id or "", "revision": ref.revision or "", "modality": ref.modality or "",
                       "pooling": ref.pooling or "", "layer": str(ref.layer), "normalization": ref.normalization or "",
                       "dataset_fingerprint": fingerprint, "column": column, "indices": index_hash,
                       "n": str(len(indices))}
        if max_length is not None:  # only where there is one: keys of encoders without truncation stay as they were
            description["max_length"] = str(int(max_length))
        return description

    def path_for(self, description: dict[str, Any]) -> Path:
        fields = {k: v for k, v in description.items() if k != "n"}
        key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
        return self.folder / f"{key}.safetensors"

    def get(self, ref: LatentSpaceRef, fingerprint: str, column: str, indices: Sequence[int], *,
            max_length: int | None = None) -> torch.Tensor | None:
        if not ref.revision:
            return None  # an unpinned encoder cannot be cached safely
        path = self.path_for(self.describe(ref, fingerprint, column, indices, max_length))
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                latents = handle.get_tensor("latents")
        except (SafetensorError, OSError) as err:  # unreadable: treat as a miss and let put() replace it
            logger.warning("ignoring unreadable cache entry %s: %s", path, err)
            return None
        return latents if latents.shape[0] == len(indices) else None

    def put(self, ref: LatentSpaceRef, fingerprint: str, column: str, indices: Sequence[int],
            latents: torch.Tensor, *, max_length: int | None = None) -> None:
        if not ref.revision:
            return
        description = self.describe(ref, fingerprint, column, indices, max_length)
        path = self.path_for(description)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        os.close(handle)
        try:
            save_file({"latents": latents.contiguous()}, tmp, metadata=description)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_or_encode(self, ref: LatentSpaceRef, fingerprint: str, column: str, indices: Sequence[int],
                      encode: Callable[[], torch.Tensor], *, max_length: int | None = None) -> torch.Tensor:
        cached = self.get(ref, fingerprint, column, indices, max_length=max_length)
        if cached is not None:
            logger.debug("latent cache hit: %s, %d items of column %r", ref.model_id, len(indices), column)
            return cached
        latents = encode()
        self.put(ref, fingerprint, column, indices, latents, max_length=max_length)
        return latents

    def entries(self) -> list[dict[str, Any]]:
        """Metadata of every entry, with its path and size in bytes (counts and sizes as numbers: safetensors
        metadata holds strings only)."""
        out = []
        for path in sorted(self.folder.glob("*.safetensors")) if self.folder.is_dir() else []:
            try:
                with safe_open(str(path), framework="pt") as handle:
                    meta: dict[str, Any] = dict(handle.metadata() or {})
                    meta["dim"] = handle.get_slice("latents").get_shape()[1]
                for field in ("n", "layer", "max_length"):
                    if isinstance(meta.get(field), str) and meta[field].lstrip("-").isdigit():
                        meta[field] = int(meta[field])
            except (SafetensorError, OSError):
                meta = {"error": "unreadable"}
            out.append({**meta, "path": str(path), "bytes": path.stat().st_size})
        return out

    def clear(self, model_id: str | None = None) -> int:
        """Delete every entry (or those of `model_id`) and stray temporary files; returns how many entries went."""
        removed = 0
        for entry in self.entries():
            if model_id is None or entry.get("model_id") == model_id:
                Path(entry["path"]).unlink(missing_ok=True)
                removed += 1
        if model_id is None and self.folder.is_dir():
            for tmp in self.folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
        return removed
