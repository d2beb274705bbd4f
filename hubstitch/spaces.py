"""Checks that stitched stages agree, made on configs before any weights load.

Example:
    >>> from hubstitch.compatibility import check_same_space
    >>> from hubstitch.translator_config import LatentSpaceRef
    >>> a = LatentSpaceRef("org/enc", "a" * 40, "text", "mean", -1, 384)
    >>> check_same_space(a, a, "encoder", "translator source")  # no error: same space
"""

from __future__ import annotations

import logging

from .errors import HubstitchValueError
from .translator_config import LatentSpaceRef

logger = logging.getLogger(__name__)
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
