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
    kinds = {translator.kind for translator in translators}
    if len(kinds) > 1:
        raise HubstitchValueError("cannot compose vector and sequence translators: one maps a latent per item, the "
                                  "other frame sequences; fix: compose translators of one kind")
    if any(translator.config.context for translator in translators[1:]):
        raise HubstitchValueError("a sequence translator with temporal context can only come first in a "
                                  "composition (its context would mix the previous translator's frames); fix: fit "
                                  "the A->C translator directly on anchor clips")
    for first, second in zip(translators, translators[1:], strict=False):
        check_same_space(first.config.target, second.config.source, "first translator", "second translator")
    source, target = translators[0].config.source, translators[-1].config.target
    width = translators[0].config.source_input_dim  # a sequence translator's frames with their context
    probe = torch.cat([torch.zeros(1, width), torch.eye(width)]).double()
    out = translators[0].translation(probe).double()  # frame by frame: the maps themselves, without the sequences
    for translator in translators[1:]:
        out = translator.translation(out).double()
    bias, weight = out[0], out[1:] - out[0]
    options = {"source_preprocessing": "none", "target_preprocessing": "none"}
    translation = LatentTranslation("affine", width, target.dim, width, target.dim, 0, options)
    translation.map.weight, translation.map.bias = weight.contiguous(), bias.contiguous()
    config = TranslatorConfig(method="affine", source=source, target=target, source_active_dim=width,
                              target_active_dim=target.dim, n_anchors=0, options=translation.options,
                              lineage=[part for t in translators for part in _lineage(t)],
                              kind=translators[0].kind, context=translators[0].config.context)
    composed = Translator(config)
    composed.translation = translation
    return composed.eval()
