"""`HeadConfig`: a classifier head's ``config.json``, with the encoder space it reads.

Example:
    >>> from hubstitch.heads.config import HeadConfig
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> config = HeadConfig(input_dim=4, labels=["a", "b"], encoder=LatentSpaceRef("org/enc", dim=4))
    >>> HeadConfig.from_dict(config.to_dict()) == config
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .._version import __version__
from ..config_fields import integer, string_list, sub_mapping, text
from ..errors import ArtifactError
from ..spaces import LatentSpaceRef

HEAD_FORMAT_VERSION = 1
ACTIVATIONS = ("none", "tanh", "relu", "gelu")


@dataclass
class HeadConfig:
    """Shape, labels and provenance of a `ClassifierHead`."""

    input_dim: int
    labels: list[str]
    encoder: LatentSpaceRef = field(default_factory=LatentSpaceRef)
    hidden_dim: int = 0
    activation: str = "none"
    kind: str = "trained"  # "trained" on latents, or "spliced" out of a Hub classification checkpoint
    architecture: str | None = None
    # "absolute": reads the encoder's latents; "relative": reads their relative representation with respect to the
    # anchor items stored beside the head (anchors.json), so any encoder that embeds those anchors plugs in.
    input_space: str = "absolute"
    relative: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = HEAD_FORMAT_VERSION
    hubstitch_version: str = __version__

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {"library_name": "hubstitch", "artifact": "classifier-head", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> HeadConfig:
        from ..hub.artifact_io import check_header

        check_header(data, "classifier-head", HEAD_FORMAT_VERSION, origin, "hubstitch classifier head",
                     "ClassifierHead.save_pretrained")
        if data.get("input_space", "absolute") not in ("absolute", "relative"):
            raise ArtifactError(f"{origin} names input_space {data.get('input_space')!r}; expected 'absolute' or "
                                f"'relative'; fix: upgrade hubstitch")
        if data.get("activation", "none") not in ACTIVATIONS:
            raise ArtifactError(f"{origin} names activation {data.get('activation')!r}; expected one of "
                                f"{list(ACTIVATIONS)}")
        encoder = LatentSpaceRef.from_dict(data.get("encoder") or {}, f"{origin} (encoder)")
        input_dim = integer(data, "input_dim", origin, 1)
        if encoder.dim not in (0, input_dim) and data.get("input_space", "absolute") == "absolute":
            raise ArtifactError(f"{origin}: input_dim {input_dim} differs from the encoder's dim {encoder.dim}; "
                                f"fix: re-save the head")
        return cls(input_dim=input_dim, labels=string_list(data, "labels", origin, 1), encoder=encoder,
                   hidden_dim=integer(data, "hidden_dim", origin, 0, default=0),
                   activation=data.get("activation", "none"),
                   kind=text(data, "kind", origin, ("trained", "spliced"), default="trained"),
                   architecture=text(data, "architecture", origin, optional=True),
                   input_space=data.get("input_space", "absolute"),
                   relative=sub_mapping(data, "relative", origin, default={}),
                   training=sub_mapping(data, "training", origin, default={}),
                   format_version=data["format_version"],
                   hubstitch_version=text(data, "hubstitch_version", origin, default=__version__))
