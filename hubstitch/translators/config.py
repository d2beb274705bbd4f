"""`TranslatorConfig`: what a translator artifact's ``config.json`` holds, validated on the way in.

Example:
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> from hubstitch.translators.config import TranslatorConfig
    >>> config = TranslatorConfig(method="orthogonal", source=LatentSpaceRef(dim=384), target=LatentSpaceRef(dim=768),
    ...                           source_active_dim=384, target_active_dim=768, n_anchors=1000)
    >>> restored = TranslatorConfig.from_dict(config.to_dict())  # each field checked, options resolved
    >>> restored.options["source_preprocessing"], TranslatorConfig.from_dict(restored.to_dict()) == restored
    ('center', True)
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .._version import __version__
from ..config_fields import MISSING, integer, sub_mapping, text
from ..errors import ArtifactError, HubstitchValueError
from ..math.maps import METHODS
from ..math.translation import resolve_options
from ..spaces import LatentSpaceRef

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: output calibration (output_center, output_radius), span_only; 3: sequence translators
VECTOR_FORMAT_VERSION = 2  # what a vector translator is written as, so that hubstitch builds before 3 still read it
KINDS = ("vector", "sequence")  # one latent per item, or one per frame of a sequence on a shared time grid
@dataclass
class AnchorProvenance:
    """Where the anchors came from, so that a fit can be reproduced and audited."""

    dataset_id: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    columns: list[str] = field(default_factory=list)
    n: int | None = None
    seed: int | None = None
    selection: str | None = None
    fingerprint: str | None = None
    sentences: int | None = None  # each anchor row was followed by its sentences of at least this many words
    sentence_budget: int | None = None  # ... by a seeded subset of them, to this many rows in all
    target_reference: int | None = None  # target anchors moved to the mean of this many reference items


@dataclass
class TranslatorConfig:
    """Everything needed to rebuild a `Translator` before its tensors are read, plus provenance and metrics."""

    method: str
    source: LatentSpaceRef
    target: LatentSpaceRef
    source_active_dim: int
    target_active_dim: int
    n_anchors: int
    options: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    anchors: AnchorProvenance = field(default_factory=AnchorProvenance)
    metrics: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)  # the translators a composed one was built from
    pairing: dict[str, Any] | None = None  # how anchors were paired when not all were given: bootstrap, unsupervised
    kind: str = "vector"  # "sequence": applied frame by frame to (n, frames, dim), with `context` neighbours a side
    context: int = 0
    refinement: dict[str, Any] | None = None  # a map tuned after the fit, e.g. by a decoder's own loss
    format_version: int = VECTOR_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind == "sequence":
            self.format_version = max(self.format_version, FORMAT_VERSION)

    @property
    def source_input_dim(self) -> int:
        """The width the map reads: the source width, times the frames of context for a sequence translator."""
        return self.source.dim * (2 * self.context + 1)
    hubstitch_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {"library_name": "hubstitch", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> TranslatorConfig:
        """Validate and build; refuses newer format versions, unknown methods and missing fields."""
        if not isinstance(data, dict):
            raise ArtifactError(f"{origin} holds a {type(data).__name__}; expected a JSON object")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise ArtifactError(
                f"{origin} has format_version {version!r}; expected an integer; fix: is this a hubstitch translator?"
            )
        if version > FORMAT_VERSION:
            raise ArtifactError(
                f"{origin} has format_version {version}, newer than {FORMAT_VERSION} that hubstitch {__version__} "
                f"reads; fix: pip install --upgrade hubstitch"
            )
        if data.get("method") not in METHODS:
            raise ArtifactError(
                f"{origin} names method {data.get('method')!r}; expected one of {list(METHODS)}; fix: upgrade "
                f"hubstitch, or check that the file is a hubstitch translator config"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"library_name"})
        if unknown:
            logger.warning("%s: ignoring unknown keys %s", origin, unknown)
        options = sub_mapping(data, "options", origin, default={} if version == 1 else MISSING)
        if version == 1:  # written before output calibration and span_only existed: they were off
            options = {"output_calibration": "none", **options}
            if data["method"] == "orthogonal":
                options.setdefault("span_only", False)
        try:
            options = resolve_options(data["method"], options)
        except HubstitchValueError as err:
            raise ArtifactError(f"{origin}: field 'options' is not valid for {data['method']!r}: {err}") from None
        source = LatentSpaceRef.from_dict(data.get("source"), f"{origin} (source)")
        target = LatentSpaceRef.from_dict(data.get("target"), f"{origin} (target)")
        kind = text(data, "kind", origin, KINDS, default="vector")
        if kind != "vector" and version < FORMAT_VERSION:
            raise ArtifactError(f"{origin}: kind {kind!r} with format_version {version}; sequence translators are "
                                f"format {FORMAT_VERSION}; fix: re-save the translator")
        context = integer(data, "context", origin, 0, 16, default=0)
        if context and kind != "sequence":
            raise ArtifactError(f"{origin}: context={context} on a {kind} translator; temporal context applies to "
                                f"sequence translators only; fix: re-save the translator")
        for side, ref in (("source", source), ("target", target)):
            if ref.dim < 1:
                raise ArtifactError(f"{origin}: {side}.dim is {ref.dim}; expected the encoder's width (1 or more)")
            integer(data, f"{side}_active_dim", origin, 1, ref.dim * (2 * context + 1 if side == "source" else 1))
        anchors = sub_mapping(data, "anchors", origin, default={})
        recorded = {f.name for f in fields(AnchorProvenance)}
        if set(anchors) - recorded:  # provenance is for audit only: a newer hubstitch's extra fields change no output
            logger.warning("%s: ignoring unknown anchor provenance keys %s", origin, sorted(set(anchors) - recorded))
        provenance = AnchorProvenance(**{k: v for k, v in anchors.items() if k in recorded})
        return cls(method=data["method"], source=source, target=target,
                   source_active_dim=data["source_active_dim"], target_active_dim=data["target_active_dim"],
                   n_anchors=integer(data, "n_anchors", origin, 1, 1 << 40), options=options,
                   preprocessing=sub_mapping(data, "preprocessing", origin, default={}), anchors=provenance,
                   metrics=sub_mapping(data, "metrics", origin, default={}),
                   selection=sub_mapping(data, "selection", origin, optional=True),
                   lineage=_lineage(data, origin), pairing=sub_mapping(data, "pairing", origin, optional=True),
                   kind=kind, context=context, refinement=sub_mapping(data, "refinement", origin, optional=True),
                   format_version=version, hubstitch_version=text(data, "hubstitch_version", origin,
                                                                  default=__version__))


def _lineage(data: dict[str, Any], origin: str) -> list[dict[str, Any]]:
    value = data.get("lineage", [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ArtifactError(f"{origin}: field 'lineage' is {value!r}"[:200] + "; expected a list of objects")
    return value
