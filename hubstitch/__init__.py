"""hubstitch: stitch pretrained models from the Hugging Face Hub through their latent spaces.

Example:
    >>> import torch, hubstitch
    >>> x = torch.randn(500, 32)
    >>> y = x @ torch.linalg.qr(torch.randn(32, 32))[0]
    >>> translator = hubstitch.fit_translator(x, y, method="orthogonal")
    >>> translator(x).shape
    torch.Size([500, 32])
"""

__version__ = "0.1.0"

from . import metrics  # noqa: E402
from .composition import compose  # noqa: E402
from .errors import (  # noqa: E402
    AnchorCountError,
    ArtifactError,
    DimensionError,
    HubstitchError,
    HubstitchValueError,
    LatentsError,
    StreamingNotSupportedError,
    UnknownMethodError,
)
from .fit import fit_translator, fit_translator_from_statistics  # noqa: E402
from .math.relative import RelativeProjection, relative_projection, relative_representation  # noqa: E402
from .math.statistics import AnchorStatistics  # noqa: E402
from .translator import Translator  # noqa: E402
from .translator_config import AnchorProvenance, LatentSpaceRef, TranslatorConfig  # noqa: E402

_LAZY = {  # these import transformers / datasets, which take seconds: loaded on first use
    "Encoder": "encoder", "AnchorSet": "anchors", "ClassifierHead": "head", "LatentCache": "latent_cache",
    "head_from_classifier": "head_splice", "fit_from_encoders": "workflow", "StitchedPipeline": "pipeline",
    "fit_relative_head": "relative_head",
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
    "fit_translator_from_statistics", "metrics", "relative_projection", "relative_representation", "__version__",
]
