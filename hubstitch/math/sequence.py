"""Sequences of latents on a shared time grid: temporal context, and the frame pairs a sequence translator fits on.

An encoder that emits one vector per frame (Whisper: one per 20 ms, 1,500 for its 30 s window) gives, for the same
clip, two sequences on the same grid. Every frame is a pair: `frame_pairs` takes the frames that carry the clip and a
seeded sample of the padding frames (a decoder attends over those too). `with_context` puts each frame beside its `w`
neighbours on each side (edges repeat the first and last frame), so a per-frame map can read temporal context.

Example:
    >>> import torch
    >>> from hubstitch.math.sequence import with_context
    >>> x = torch.arange(6.).reshape(1, 3, 2)   # one sequence of 3 frames, width 2
    >>> with_context(x, 1)[0, 0].tolist()       # frame 0 beside itself (the repeated edge) and frame 1
    [0.0, 1.0, 0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import torch

from ..errors import LatentsError

MAX_CONTEXT = 16


def check_context(context: int) -> int:
    if isinstance(context, bool) or not isinstance(context, int) or not 0 <= context <= MAX_CONTEXT:
        raise LatentsError(f"context={context!r}; expected a whole number of neighbouring frames on each side, 0 to "
                           f"{MAX_CONTEXT}; fix: pass 0 (each frame alone) or a small window such as 1 or 3")
    return context


def check_sequences(states: torch.Tensor, name: str = "states") -> torch.Tensor:
    """`states` as a float tensor (n, frames, dim) of finite values, or a `LatentsError` naming the fix."""
    if not isinstance(states, torch.Tensor):
        states = torch.as_tensor(states)
    if states.ndim != 3 or 0 in states.shape:
        raise LatentsError(f"{name} has shape {tuple(states.shape)}; expected sequences (n, frames, dim); fix: add a "
                           f"batch axis for one sequence (x[None])")
    if not states.is_floating_point():
        states = states.float()
    if not torch.isfinite(states).all():
        raise LatentsError(f"{name} holds NaN or infinite values; expected finite numbers; fix: check the encoder")
    return states


def with_context(states: torch.Tensor, context: int) -> torch.Tensor:
    """(n, frames, dim) -> (n, frames, (2 * context + 1) * dim): each frame with its neighbours, earliest first."""
    context = check_context(context)
    if context == 0:
        return states
    frames = states.shape[1]
    index = (torch.arange(frames)[:, None] + torch.arange(-context, context + 1)[None, :]).clamp(0, frames - 1)
    return states[:, index].flatten(2)


def frame_pairs(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, padding_frames: int = 100,
                context: int = 0, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Paired frames of sequences on one grid: (rows, (2 * context + 1) * source dim), (rows, target dim).

    Per sequence: every frame where `mask` is set, and `padding_frames` frames drawn (seeded by `generator`) from
    the rest, since a decoder reads those too.
    """
    source, target = check_sequences(source, "source"), check_sequences(target, "target")
    if source.shape[:2] != target.shape[:2] or mask.shape != source.shape[:2]:
        raise LatentsError(f"source {tuple(source.shape[:2])}, target {tuple(target.shape[:2])} and mask "
                           f"{tuple(mask.shape)} sequences differ; expected the same clips on the same time grid; "
                           f"fix: resample one side to the other's frame rate first")
    xs, ys = [], []
    for i in range(len(source)):
        speech = torch.nonzero(mask[i]).flatten()
        rest = torch.nonzero(mask[i] == 0).flatten()
        drawn = rest[torch.randperm(len(rest), generator=generator)[:padding_frames]]
        rows = torch.cat([speech, drawn.sort().values])
        xs.append(with_context(source[i:i + 1], context)[0, rows])  # clip by clip: the context multiplies the width
        ys.append(target[i, rows])
    return torch.cat(xs), torch.cat(ys)
