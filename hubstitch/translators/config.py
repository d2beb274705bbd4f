"""`TranslatorConfig`: what a translator artifact's ``config.json`` holds, validated on the way in.

Example:
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> from hubstitch.translators.config import TranslatorConfig
    >>> config = TranslatorConfig(method="orthogonal", source=LatentSpaceRef(dim=384), target=LatentSpaceRef(dim=768),
    ...                           source_active_dim=384, target_active_dim=768, n_anchors=1000)
    >>> TranslatorConfig.from_dict(config.to_dict()) == config
    True
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .._version import __version__
from ..errors import ArtifactError
from ..math.maps import METHODS
from ..spaces import LatentSpaceRef

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: output calibration (tensors output_center, output_radius) and span_only
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
    format_version: int = FORMAT_VERSION
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
        missing = sorted({"method", "source", "target", "source_active_dim", "target_active_dim", "n_anchors"}
                         - set(data))
        if missing:
            raise ArtifactError(f"{origin} lacks {missing}; expected a complete translator config; fix: re-save it")
        values = {k: v for k, v in data.items() if k in known}
        if version == 1:  # written before output calibration and span_only existed: they were off
            values["options"] = {"output_calibration": "none", **values.get("options", {})}
            if data.get("method") == "orthogonal":
                values["options"].setdefault("span_only", False)
        try:
            values["source"] = LatentSpaceRef(**values["source"])
            values["target"] = LatentSpaceRef(**values["target"])
            values["anchors"] = AnchorProvenance(**values.get("anchors") or {})
            return cls(**values)
        except TypeError as err:
            raise ArtifactError(f"{origin} has an unexpected field: {err}; fix: re-save it with this version") from err
