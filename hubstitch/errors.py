"""Errors raised by hubstitch.

Every error subclasses a builtin (mostly `ValueError`) so callers can catch them broadly, and every message
states the offending value, what was expected and how to fix it.

Example:
    >>> from hubstitch.errors import LatentsError
    >>> try:
    ...     raise LatentsError("source latents contain 3 NaN values; expected finite floats; fix: drop or impute them")
    ... except ValueError as err:
    ...     print(type(err).__name__)
    LatentsError
"""

from __future__ import annotations


class HubstitchError(Exception):
    """Base class of every error hubstitch raises on purpose."""


class HubstitchValueError(HubstitchError, ValueError):
    """Bad input: a value that hubstitch cannot work with."""


class LatentsError(HubstitchValueError):
    """Latents that are not a finite, non-empty 2-D floating-point array."""


class AnchorCountError(HubstitchValueError):
    """Source and target anchors that do not pair up, or too few anchors for a method."""


class DimensionError(HubstitchValueError):
    """Latents whose width is not the one the translator was fitted on."""


class UnknownMethodError(HubstitchValueError):
    """A method, projection or preprocessing step name that hubstitch does not know."""


class ArtifactError(HubstitchValueError):
    """A saved artifact (config + safetensors) that is inconsistent, unsafe or from a newer format."""


class StreamingNotSupportedError(HubstitchValueError):
    """A fit option that cannot be computed from streamed sufficient statistics."""
