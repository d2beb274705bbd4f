"""hubstitch: stitch pretrained models from the Hugging Face Hub through their latent spaces.

The package is laid out in wings (see README.md, Development): ``math`` (torch and numpy only), ``translators``,
``encoders``, ``heads``, ``data``, ``pipelines`` and ``hub`` make the library; ``shelf``, ``demo`` and ``cli`` are
its faces and import it, never the other way round. Every public name imports from here.

Example:
    >>> import torch, hubstitch
    >>> x = torch.randn(500, 32)
    >>> y = x @ torch.linalg.qr(torch.randn(32, 32))[0]
    >>> translator = hubstitch.fit_translator(x, y, method="orthogonal")
    >>> translator(x).shape
    torch.Size([500, 32])
"""

from . import metrics
from ._version import __version__
from .data.statistics import AnchorStatistics
from .errors import (
    AnchorCountError,
    ArtifactError,
    DimensionError,
    HubstitchError,
    HubstitchValueError,
    LatentsError,
    StreamingNotSupportedError,
    UnknownMethodError,
)
from .math.relative import RelativeProjection, relative_projection, relative_representation
from .spaces import LatentSpaceRef
from .translators.composition import compose
from .translators.config import AnchorProvenance, TranslatorConfig
from .translators.fit import fit_translator, fit_translator_from_statistics
from .translators.translator import Translator
from .translators.unsupervised import fit_unsupervised

_LAZY = {  # these import transformers / datasets, which take seconds: loaded on first use
    "Encoder": "encoders.encoder", "AnchorSet": "data.anchors", "ClassifierHead": "heads.head",
    "LatentCache": "data.latent_cache", "head_from_classifier": "heads.splice", "fit_from_encoders": "data.workflow",
    "StitchedPipeline": "pipelines.pipeline", "fit_relative_head": "heads.relative",
    "StitchedEncoder": "pipelines.embedding",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'hubstitch' has no attribute {name!r}")


__all__ = [*_LAZY,
    "AnchorCountError", "AnchorProvenance", "AnchorStatistics", "ArtifactError", "DimensionError",
    "HubstitchError", "HubstitchValueError", "LatentSpaceRef", "LatentsError", "RelativeProjection",
    "StreamingNotSupportedError", "Translator", "TranslatorConfig", "UnknownMethodError", "compose", "fit_translator",
    "fit_translator_from_statistics", "fit_unsupervised", "metrics", "relative_projection", "relative_representation",
    "__version__",
]
