"""`compose`: translators A->B and B->C make A->C.

Orthogonal, affine and linear translators (with no L2 preprocessing) are affine maps end to end, dead-dimension
handling included, so their composition is exactly an affine map: hubstitch evaluates the chain on the origin and
the unit vectors and stores the result as one ``affine`` translator whose ``config.lineage`` names its parts.

Example:
    >>> import torch, hubstitch
    >>> a, b, c = torch.randn(300, 8), torch.randn(300, 6), torch.randn(300, 5)
    >>> ab = hubstitch.fit_translator(a, b, method="linear", source_ref="org/a", target_ref="org/b")
    >>> bc = hubstitch.fit_translator(b, c, method="linear", source_ref="org/b", target_ref="org/c")
    >>> ac = hubstitch.compose(ab, bc)
    >>> bool(torch.allclose(ac(a), bc(ab(a)), atol=1e-4)), ac.config.target.model_id
    (True, 'org/c')
"""

from __future__ import annotations

import torch

from ..errors import HubstitchValueError
from ..math.translation import LatentTranslation
from ..spaces import check_same_space
from .config import TranslatorConfig
from .translator import Translator

COMPOSABLE = ("orthogonal", "affine", "linear")


def _lineage(translator: Translator) -> list[dict]:
    if translator.config.lineage:
        return list(translator.config.lineage)
    origin = translator.hub_origin
    return [{"method": translator.config.method, "source": translator.config.source.model_id,
             "target": translator.config.target.model_id, "repo_id": origin[0] if origin else None,
             "revision": origin[1] if origin else None}]


def compose(*translators: Translator) -> Translator:
    """The translator equal to applying `translators` in order (each one's target is the next one's source)."""
    if len(translators) < 2:
        raise HubstitchValueError("compose needs at least two translators; fix: pass A->B and B->C")
    for translator in translators:
        options = translator.config.options
        if translator.config.method not in COMPOSABLE or "l2" in options.get("source_preprocessing", "") + \
                options.get("target_preprocessing", ""):
            raise HubstitchValueError(
                f"cannot compose a {translator.config.method!r} translator with options {options}: only "
                f"{list(COMPOSABLE)} without L2 preprocessing are affine end to end; fix: fit the A->C translator "
                f"directly on anchors"
            )
    for first, second in zip(translators, translators[1:], strict=False):
        check_same_space(first.config.target, second.config.source, "first translator", "second translator")
    source, target = translators[0].config.source, translators[-1].config.target
    probe = torch.cat([torch.zeros(1, source.dim), torch.eye(source.dim)]).double()
    out = probe
    for translator in translators:
        out = translator(out).double()
    bias, weight = out[0], out[1:] - out[0]
    options = {"source_preprocessing": "none", "target_preprocessing": "none"}
    translation = LatentTranslation("affine", source.dim, target.dim, source.dim, target.dim, 0, options)
    translation.map.weight, translation.map.bias = weight.contiguous(), bias.contiguous()
    config = TranslatorConfig(method="affine", source=source, target=target, source_active_dim=source.dim,
                              target_active_dim=target.dim, n_anchors=0, options=translation.options,
                              lineage=[part for t in translators for part in _lineage(t)])
    composed = Translator(config)
    composed.translation = translation
    return composed.eval()
