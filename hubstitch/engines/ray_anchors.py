"""Anchor pairs encoded on a Ray cluster: a Ray Dataset of items, actor pools that each hold the two encoders, and
either `SufficientStatistics` reduced per block and summed on the driver (memory independent of the number of
anchors) or the latent rows themselves, gathered in the caller's order (for fits that need rows).

The documented Ray way to embed a corpus with Hugging Face models: ``map_batches`` with a callable class that loads
the model once per actor (`_PairEncoder`). A worker that dies is restarted and its batch retried by Ray Data, so the
sums are the same. An item an encoder refuses stops the run with an `EngineError` naming its dataset row.

Example:
    >>> from hubstitch.engines.ray_anchors import encode_pairs  # doctest: +SKIP
    >>> stats = encode_pairs(rows, sources, targets, EncoderRecipe.of(minilm), EncoderRecipe.of(mpnet),
    ...                      RaySettings(num_workers=4))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub.utils import tqdm

from ..errors import HubstitchError
from ..math.statistics import FIELDS, SufficientStatistics
from .ray_cluster import EncoderRecipe, EngineError, RaySettings, ray_cluster, reraise

logger = logging.getLogger(__name__)
ROWS_PER_STATISTICS = 4096  # rows reduced to one set of statistics (a few MB) before they travel to the driver


class _PairEncoder:
    """A Ray Data actor: loads both encoders once, then turns batches of items into batches of latents."""

    def __init__(self, source: EncoderRecipe, target: EncoderRecipe, batch_size: int) -> None:
        self.source, self.target, self.batch_size = source.load(), target.load(), batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch["row"]
        return {"row": rows, "position": batch["position"],
                "source": self._encode(self.source, batch["source"], rows, "source"),
                "target": self._encode(self.target, batch["target"], rows, "target")}

    def _encode(self, encoder, items: np.ndarray, rows: np.ndarray, side: str) -> np.ndarray:
        items = list(items)
        try:
            return encoder.encode(items, batch_size=self.batch_size, progress=False).numpy()
        except HubstitchError:
            for row, item in zip(rows.tolist(), items, strict=True):  # find the item, to name its row
                try:
                    encoder.encode([item], progress=False)
                except HubstitchError as err:
                    raise EngineError(f"anchor row {row} ({side} side, {encoder.ref.model_id}): {err}") from None
            raise


def _batch_statistics(batch: dict[str, np.ndarray], with_gram: bool) -> dict[str, np.ndarray]:
    x, y = torch.from_numpy(np.asarray(batch["source"])), torch.from_numpy(np.asarray(batch["target"]))
    stats = SufficientStatistics(x.shape[1], y.shape[1], with_gram=with_gram).update(x, y)
    return {"n": np.array([stats.n]), **{name: getattr(stats, name).numpy()[None] for name in FIELDS}}


def _statistics_from_row(batch: dict[str, np.ndarray], i: int, with_gram: bool) -> SufficientStatistics:
    source_dim, target_dim = batch["source_sum"].shape[1], batch["target_sum"].shape[1]
    stats = SufficientStatistics(source_dim, target_dim, with_gram=with_gram)
    stats.n = int(batch["n"][i])
    for name in FIELDS:
        setattr(stats, name, torch.from_numpy(np.array(batch[name][i], dtype=np.float64)))
    return stats


def _items_dataset(ray, rows: Sequence[int], sources: Sequence[Any], targets: Sequence[Any], settings: RaySettings):
    if not (len(rows) == len(sources) == len(targets)):
        raise EngineError(f"{len(rows)} rows, {len(sources)} source items and {len(targets)} target items; expected "
                          f"one of each per anchor; fix: pass parallel lists")
    if not rows:
        raise EngineError("no anchor items to encode; expected at least one; fix: check the anchor set")
    items = [{"row": int(r), "position": i, "source": s, "target": t}
             for i, (r, s, t) in enumerate(zip(rows, sources, targets, strict=True))]
    blocks = min(len(items), max(4 * settings.num_workers, math.ceil(len(items) / 2048)))
    return ray.data.from_items(items, override_num_blocks=blocks)


def _encoded(ray, dataset, source: EncoderRecipe, target: EncoderRecipe, settings: RaySettings):
    return dataset.map_batches(
        _PairEncoder, fn_constructor_kwargs={"source": source, "target": target, "batch_size": settings.batch_size},
        batch_size=settings.batch_size * 4, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=settings.num_workers), num_cpus=settings.cpus_per_worker,
        num_gpus=settings.gpus_per_worker or None)


def encode_pairs(rows: Sequence[int], sources: Sequence[Any], targets: Sequence[Any], source: EncoderRecipe,
                 target: EncoderRecipe, settings: RaySettings, *, with_gram: bool = True,
                 latents_out: str | Path | None = None, progress: bool = True) -> SufficientStatistics:
    """The summed `SufficientStatistics` of the anchor pairs (``sources[i]`` through `source`, ``targets[i]``
    through `target`), encoded on the cluster; `rows` (dataset row numbers) name a bad item. With `latents_out`,
    the latents are also written there as Parquet (columns ``row``, ``position``, ``source``, ``target``)."""
    if latents_out is not None and Path(latents_out).exists() and any(Path(latents_out).iterdir()):
        raise EngineError(f"--latents-out {latents_out} already holds files; Parquet written there would be read "
                          f"together with them; fix: choose a new or empty folder")
    with ray_cluster(settings) as ray:
        try:
            encoded = _encoded(ray, _items_dataset(ray, rows, sources, targets, settings), source, target, settings)
            if latents_out is not None:
                encoded.write_parquet(str(latents_out))
                encoded = ray.data.read_parquet(str(latents_out))
            reduced = encoded.map_batches(_batch_statistics, fn_kwargs={"with_gram": with_gram},
                                          batch_size=ROWS_PER_STATISTICS, batch_format="numpy")
            total: SufficientStatistics | None = None
            with tqdm(total=len(rows), desc="encoding anchors on Ray", unit="pair", disable=not progress) as bar:
                for batch in reduced.iter_batches(batch_size=None, batch_format="numpy"):
                    for i in range(len(batch["n"])):
                        part = _statistics_from_row(batch, i, with_gram)
                        total = part if total is None else total + part
                        bar.update(part.n)
        except Exception as err:  # noqa: BLE001 - Ray wraps the workers' errors; surface hubstitch's own
            reraise(err)
    if total is None or total.n != len(rows):
        raise EngineError(f"the cluster returned statistics of {0 if total is None else total.n} pairs; expected "
                          f"{len(rows)}; nothing was fitted; fix: run it again")
    return total


def encode_rows(rows: Sequence[int], sources: Sequence[Any], targets: Sequence[Any], source: EncoderRecipe,
                target: EncoderRecipe, settings: RaySettings, *,
                progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(source latents, target latents) of the pairs, encoded on the cluster and gathered in the given order (for
    fits that need the rows in memory: ``auto``, ``relative``, ``mlp``, and held-out evaluation)."""
    with ray_cluster(settings) as ray:
        try:
            encoded = _encoded(ray, _items_dataset(ray, rows, sources, targets, settings), source, target, settings)
            positions, xs, ys = [], [], []
            with tqdm(total=len(rows), desc="encoding rows on Ray", unit="pair", disable=not progress) as bar:
                for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                    positions.append(batch["position"])
                    xs.append(batch["source"])
                    ys.append(batch["target"])
                    bar.update(len(batch["position"]))
        except Exception as err:  # noqa: BLE001 - Ray wraps the workers' errors; surface hubstitch's own
            reraise(err)
    order = np.argsort(np.concatenate(positions), kind="stable")
    if len(order) != len(rows):
        raise EngineError(f"the cluster returned {len(order)} latent rows; expected {len(rows)}; fix: run it again")
    return torch.from_numpy(np.concatenate(xs)[order]), torch.from_numpy(np.concatenate(ys)[order])
