"""Sequence translators: a translator fitted on paired frames of sequences on one time grid, applied frame by frame.

Two encoders that emit one vector per frame on the same grid (Whisper tiny.en and base: one per 20 ms) give, for each
clip, as many pairs as it has frames. `fit_sequence_translator` fits any of the estimators on those frame pairs
(`hubstitch.math.sequence.frame_pairs`: the frames of the clip and a sample of padding frames, each optionally with
`context` neighbours on each side), and returns a `Translator` of kind ``"sequence"``: it takes (n, frames, dim)
and gives (n, frames, target dim). The artifact is the translator format with the kind and context recorded.

Example:
    >>> import torch
    >>> from hubstitch.translators.sequence import fit_sequence_translator
    >>> x = torch.randn(6, 50, 8); q = torch.linalg.qr(torch.randn(8, 8))[0]
    >>> translator = fit_sequence_translator(x, x @ q, method="orthogonal", padding_frames=0)
    >>> translator.kind, translator(x).shape, bool(torch.allclose(translator(x), x @ q, atol=1e-4))
    ('sequence', torch.Size([6, 50, 8]), True)
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch

from ..errors import LatentsError
from ..math.sequence import check_context, check_sequences, frame_pairs
from ..metrics import evaluate
from ..spaces import LatentSpaceRef
from .fit import _ref, fit_translator
from .translator import Translator

logger = logging.getLogger(__name__)

DEFAULT_PADDING_FRAMES = 100  # padding frames drawn per clip: the decoder attends over them as well


def _mask(mask: Any, states: torch.Tensor, name: str) -> torch.Tensor:
    if mask is None:
        return torch.ones(states.shape[:2], dtype=torch.long)
    mask = torch.as_tensor(mask)
    if tuple(mask.shape) != tuple(states.shape[:2]):
        raise LatentsError(f"{name} has shape {tuple(mask.shape)}; expected one flag per frame, "
                           f"{tuple(states.shape[:2])}; fix: pass the mask encode_frames returned")
    return mask.long()


def as_sequence_translator(translator: Translator, source_ref: LatentSpaceRef, context: int) -> Translator:
    """`translator` (fitted on frames, with `context` neighbours stacked) as a ``sequence`` translator whose
    source is `source_ref`, the width of one frame."""
    config = replace(translator.config, source=source_ref, kind="sequence", context=context)  # format 3
    wrapped = Translator(config)
    wrapped.translation = translator.translation
    return wrapped.eval()


def sequence_metrics(translator: Translator, source: torch.Tensor, target: torch.Tensor,
                     mask: torch.Tensor) -> dict[str, float]:
    """Held-out metrics over the frames that carry the clips (`hubstitch.metrics.evaluate`, frame against frame)."""
    out = translator(source)
    keep = mask.bool()
    return evaluate(out[keep], target[keep])


def fit_sequence_translator(source, target, mask=None, method: str = "linear", *, context: int = 0,
                            padding_frames: int = DEFAULT_PADDING_FRAMES, eval_source=None, eval_target=None,
                            eval_mask=None, seed: int = 0, source_ref: LatentSpaceRef | dict | str | None = None,
                            target_ref: LatentSpaceRef | dict | str | None = None, anchors=None,
                            **options: Any) -> Translator:
    """Fit a ``sequence`` translator from `source` sequences (n, frames, d_s) to `target` sequences
    (n, frames, d_t) of the same clips on the same time grid.

    Args:
        mask: (n, frames), 1 where a frame carries the clip (``Encoder.encode_frames`` gives it); every frame
            where it is None.
        method: an estimator of `hubstitch.fit_translator`, fitted on the frame pairs (default ``"linear"``,
            ridge: the map a decoder-loss refinement starts from).
        context: neighbouring frames on each side that each frame is read with (0: the frame alone).
        padding_frames: padding frames (where `mask` is 0) drawn per clip into the pairs.
        eval_source, eval_target, eval_mask: held-out clips; their frames' metrics go into ``config.metrics``.
        options: estimator options, as for `fit_translator`.
    """
    source, target = check_sequences(source, "source"), check_sequences(target, "target")
    context = check_context(context)
    if isinstance(padding_frames, bool) or not isinstance(padding_frames, int) or padding_frames < 0:
        raise LatentsError(f"padding_frames={padding_frames!r}; expected a whole number of at least 0; fix: pass "
                           f"{DEFAULT_PADDING_FRAMES}")
    generator = torch.Generator().manual_seed(seed)
    x, y = frame_pairs(source, target, _mask(mask, source, "mask"), padding_frames=padding_frames,
                       context=context, generator=generator)
    logger.info("fitting a sequence translator (%s, context %d) on %d frame pairs from %d clips", method, context,
                len(x), len(source))
    # frames of a layer-normed encoder all have about one norm: "auto" would take that for a normalised vector space
    # and rescale every output frame; a decoder reads the frames as they are
    options.setdefault("output_calibration", "none")
    fitted = fit_translator(x, y, method=method, seed=seed, target_ref=target_ref, anchors=anchors, **options)
    translator = as_sequence_translator(fitted, _ref(source_ref, source.shape[2]), context)
    translator.config.preprocessing["padding_frames"] = padding_frames
    if eval_source is not None:
        eval_source, eval_target = check_sequences(eval_source, "eval_source"), check_sequences(eval_target,
                                                                                                "eval_target")
        metrics = sequence_metrics(translator, eval_source, eval_target, _mask(eval_mask, eval_source, "eval_mask"))
        translator.config.metrics = {"heldout": metrics, "n_heldout": int(eval_source.shape[0]),
                                     "heldout_unit": "frames of held-out clips"}
    return translator


