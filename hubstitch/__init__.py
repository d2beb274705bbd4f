"""hubstitch: stitch pretrained models from the Hugging Face Hub through their latent spaces.

The package is laid out in wings (see README.md, Development): ``math`` (torch and numpy only), ``translators``,
``encoders``, ``heads``, ``data``, ``pipelines``, ``hub`` and ``index`` make the library; ``shelf``, ``demo`` and
``cli`` are its faces and import it, never the other way round. Every public name imports from here, lazily: ``import
hubstitch`` loads neither torch nor transformers until a name that needs them is used.

Example:
    >>> import torch, hubstitch
    >>> x = torch.randn(500, 32)
    >>> y = x @ torch.linalg.qr(torch.randn(32, 32))[0]
    >>> translator = hubstitch.fit_translator(x, y, method="orthogonal")
    >>> translator(x).shape
    torch.Size([500, 32])
"""

from ._version import __version__
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

_LAZY = {  # name -> the module that defines it, imported on first use
    "metrics": "metrics", "AnchorStatistics": "data.statistics", "RelativeProjection": "math.relative",
    "relative_projection": "math.relative", "relative_representation": "math.relative",
    "LatentSpaceRef": "spaces", "compose": "translators.composition", "AnchorProvenance": "translators.config",
    "TranslatorConfig": "translators.config", "fit_translator": "translators.fit",
    "fit_translator_from_statistics": "translators.fit", "Translator": "translators.translator",
    "fit_unsupervised": "translators.unsupervised",
    "Encoder": "encoders.encoder", "AnchorSet": "data.anchors", "ClassifierHead": "heads.head",
    "LatentCache": "data.latent_cache", "head_from_classifier": "heads.splice", "fit_from_encoders": "workflows.fit",
    "StitchedPipeline": "pipelines.pipeline", "fit_relative_head": "heads.relative",
    "StitchedEncoder": "pipelines.embedding", "RaySettings": "engines.ray_cluster", "Decoder": "decoders.decoder",
    "fit_sequence_translator": "translators.sequence",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = module if name == _LAZY[name] else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hubstitch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [*_LAZY, "AnchorCountError", "ArtifactError", "DimensionError", "HubstitchError", "HubstitchValueError",
           "LatentsError", "StreamingNotSupportedError", "UnknownMethodError", "__version__"]
