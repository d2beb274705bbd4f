"""Poolings from a model's token (or patch) states to one vector per item, and the default per model family.

- ``cls``: the first position; ``mean``: the mask-weighted mean; ``max``: the mask-aware maximum;
- ``lasttoken``: the last non-padding position (left or right padding);
- ``pooler``: the model's own ``pooler_output`` (BERT's tanh pooler, MobileNetV2's global average pool).

Example:
    >>> import torch
    >>> from hubstitch.encoders.pooling import pool
    >>> states = torch.arange(12.0).reshape(1, 3, 4); mask = torch.tensor([[1, 1, 0]])
    >>> pool(states, mask, "mean").tolist()
    [[2.0, 3.0, 4.0, 5.0]]
"""

from __future__ import annotations

import torch

from ..errors import UnknownMethodError

POOLINGS = ("cls", "mean", "max", "pooler", "lasttoken")
SEQUENCE_POOLING = "none"  # no pooling: one vector per frame (`Encoder.encode_frames`), as a decoder reads them
DECODER_FAMILIES = {"gpt2", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi", "phi3",
                    "opt", "bloom", "falcon"}
CNN_FAMILIES = {"mobilenet_v2", "mobilenet_v1", "resnet", "convnext", "convnextv2", "efficientnet", "regnet",
                "mobilevit", "levit"}


def default_pooling(model_type: str, modality: str) -> str:
    """The pooling hubstitch records when none is asked for, by `config.model_type`."""
    if model_type in ("clip", "siglip", "siglip2"):
        return "pooler"  # the projected embedding of the chosen tower
    if model_type in CNN_FAMILIES:
        return "pooler"
    if model_type in DECODER_FAMILIES:
        return "lasttoken"
    return "cls" if modality == "image" else "mean"


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise UnknownMethodError(f"pooling {pooling!r} is not known; expected one of {list(POOLINGS)}; fix: pick one")


def pool(states: torch.Tensor, mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """Pool (batch, length, dim) states with an optional (batch, length) attention mask."""
    check_pooling(pooling)
    if pooling == "cls":
        return states[:, 0]
    if mask is None:
        mask = torch.ones(states.shape[:2], dtype=torch.long, device=states.device)
    weights = mask.to(states.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)
    if pooling == "max":
        return states.masked_fill(weights == 0, torch.finfo(states.dtype).min).max(dim=1).values
    if pooling == "lasttoken":
        left_padded = bool((mask[:, -1] == 1).all())
        if left_padded:
            return states[:, -1]
        last = mask.sum(dim=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    raise UnknownMethodError("pooling 'pooler' reads the model's pooler_output, not token states")
