"""Latent spaces: `LatentSpaceRef` names the space an encoder writes (model, pinned revision, modality, pooling,
layer, width), and `check_same_space` compares two of them before any weights load, so stitched stages agree.

Example:
    >>> from hubstitch.spaces import LatentSpaceRef, check_same_space
    >>> a = LatentSpaceRef("org/enc", "a" * 40, "text", "mean", -1, 384)
    >>> check_same_space(a, a, "encoder", "translator source")  # no error: same space
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ArtifactError, HubstitchValueError

logger = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9_.-]{1,96})?$")
_REVISION = re.compile(r"^[0-9a-f]{40}$")


def is_hub_id(value: str | None) -> bool:
    """True when `value` reads as a Hub repo id ("org/name" or "name") rather than a local path."""
    if not value or value.startswith((".", "/", "~")) or "\\" in value or ".." in value:
        return False
    return bool(_HUB_ID.match(value)) and not Path(value).exists()


@dataclass
class LatentSpaceRef:
    """Which latent space one side of a translator lives in."""

    model_id: str | None = None
    revision: str | None = None
    modality: str | None = None
    pooling: str | None = None
    layer: int | None = None
    dim: int = 0
    normalization: str | None = None
    license: str | None = None  # the model's license, as its card states it (not compared between stages)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "config") -> LatentSpaceRef:
        """Build from a config's JSON object, each field checked (`hubstitch.config_fields`)."""
        from .config_fields import integer, mapping, optional_integer, text

        data = mapping(data, origin, "a latent space ({model_id, revision, modality, pooling, layer, dim, ...})")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ArtifactError(f"{origin} has unknown fields {unknown}; expected those of a latent space; fix: "
                                f"re-save the artifact with this hubstitch")
        return cls(model_id=text(data, "model_id", origin, optional=True),
                   revision=text(data, "revision", origin, optional=True),
                   modality=text(data, "modality", origin, ("text", "image", "audio", "synthetic"), optional=True),
                   pooling=text(data, "pooling", origin, optional=True),
                   layer=optional_integer(data, "layer", origin, -1000, 1000),
                   dim=integer(data, "dim", origin, 0, default=0),
                   normalization=text(data, "normalization", origin, ("l2",), optional=True),
                   license=text(data, "license", origin, optional=True))

    def __post_init__(self) -> None:
        if self.revision is not None and is_hub_id(self.model_id) and not _REVISION.match(self.revision):
            raise ArtifactError(
                f"revision {self.revision!r} of {self.model_id!r} is not a 40-hex commit id; expected a pinned "
                f"commit; fix: resolve it with huggingface_hub.HfApi().model_info(id, revision=...).sha"
            )


FIELDS = ("model_id", "revision", "modality", "pooling", "layer", "dim")


class IncompatibleStagesError(HubstitchValueError):
    """Stages of a stitched pipeline that do not read and write the same latent space."""


def check_same_space(produced: LatentSpaceRef, expected: LatentSpaceRef, producer: str, consumer: str, *,
                     revision_override: bool = False) -> None:
    """Raise `IncompatibleStagesError` unless `produced` (what `producer` outputs) is the space `consumer` reads.

    A field left empty on either side (an unknown dim, an unnamed model) is not compared. With
    `revision_override`, a revision mismatch only warns: the caller chose to override a pinned revision.
    """
    for name in FIELDS:
        have, want = getattr(produced, name), getattr(expected, name)
        if have in (None, "", 0) or want in (None, "", 0) or have == want:
            continue
        if name == "revision" and revision_override:
            logger.warning("%s revision %s differs from the %s's pinned %s (overridden by the caller)", producer,
                           have, consumer, want)
            continue
        raise IncompatibleStagesError(
            f"{producer} gives {name}={have!r} but the {consumer} expects {name}={want!r} ({producer}: "
            f"{produced.model_id}@{produced.revision}, {consumer}: {expected.model_id}@{expected.revision}); "
            f"fix: use the {producer} the {consumer} was fitted on, or fit a {consumer} for this {producer}"
        )
