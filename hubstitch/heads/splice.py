"""Heads taken out of Hub classification checkpoints, through a registry of how each architecture classifies.

Each entry says which pooling of the base model's outputs the original classifier reads and which tensors form
it, so that ``head(encoder.encode(items))`` reproduces the full model's logits:

- ``bert``: classifier(dropout(pooler_output)): pooling ``pooler``, linear;
- ``roberta`` / ``xlm-roberta``: out_proj(tanh(dense(h[:, 0]))): pooling ``cls``;
- ``distilbert``: classifier(relu(pre_classifier(h[:, 0]))): pooling ``cls``;
- ``vit``: classifier(layernorm(h)[:, 0]): pooling ``cls``;
- ``mobilenet_v2``: classifier(pooler_output): pooling ``pooler``.

Only the classifier tensors are read (from safetensors); the encoder part loads through `hubstitch.Encoder`.

Example:
    >>> from hubstitch.heads.splice import SPLICES
    >>> sorted(SPLICES)
    ['bert', 'distilbert', 'mobilenet_v2', 'roberta', 'vit', 'xlm-roberta']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from ..errors import HubstitchValueError
from ..hub.files import resolve, split_revision
from ..spaces import LatentSpaceRef
from .config import HeadConfig
from .head import ClassifierHead


@dataclass(frozen=True)
class Splice:
    modality: str
    pooling: str
    out: str  # prefix of the final linear layer's tensors
    dense: str | None = None  # prefix of a dense layer before it
    activation: str = "none"


SPLICES = {
    "bert": Splice("text", "pooler", out="classifier"),
    "roberta": Splice("text", "cls", out="classifier.out_proj", dense="classifier.dense", activation="tanh"),
    "xlm-roberta": Splice("text", "cls", out="classifier.out_proj", dense="classifier.dense", activation="tanh"),
    "distilbert": Splice("text", "cls", out="classifier", dense="pre_classifier", activation="relu"),
    "vit": Splice("image", "cls", out="classifier"),
    "mobilenet_v2": Splice("image", "pooler", out="classifier"),
}


class UnsupportedArchitectureError(HubstitchValueError):
    """A classification checkpoint whose architecture is not in the splice registry."""


def _labels(config: dict, num_labels: int) -> list[str]:
    id2label = config.get("id2label") or {}
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(num_labels)]


def head_from_classifier(model_id: str | Path, *, revision: str | None = None,
                         local_files_only: bool | None = None, cache_dir: str | Path | None = None) -> ClassifierHead:
    """The classifier of a Hub (or local) classification checkpoint as a `ClassifierHead`.

    The head's ``config.encoder`` names the same checkpoint with the pooling the classifier reads; load that
    encoder with ``Encoder.from_pretrained(head.config.encoder.model_id, pooling=head.config.encoder.pooling)``.
    """
    name, at_revision = split_revision(str(model_id))
    resolved = resolve(name, revision=revision or at_revision, local_files_only=local_files_only, cache_dir=cache_dir)
    config = json.loads((resolved.folder / "config.json").read_text(encoding="utf-8"))
    family = config.get("model_type")
    splice = SPLICES.get(family)
    if splice is None:
        raise UnsupportedArchitectureError(
            f"{resolved.name} is a {family!r} checkpoint; hubstitch can take heads out of {sorted(SPLICES)}; "
            f"fix: use one of those, or train a head on this encoder's latents with `hubstitch train-head`"
        )
    weights = resolved.folder / "model.safetensors"
    if not weights.is_file():
        raise HubstitchValueError(f"{resolved.name} has no model.safetensors; hubstitch reads safetensors only "
                                  f"(never pickle); fix: convert the checkpoint to safetensors")
    with safe_open(str(weights), framework="pt") as handle:
        keys = set(handle.keys())
        wanted = [f"{p}.{s}" for p in filter(None, (splice.dense, splice.out)) for s in ("weight", "bias")]
        missing = [k for k in wanted if k not in keys]
        if missing:
            raise UnsupportedArchitectureError(f"{resolved.name} lacks classifier tensors {missing}; is it a "
                                               f"*ForSequenceClassification / *ForImageClassification checkpoint?")
        tensors = {k: handle.get_tensor(k).float() for k in wanted}
    out_weight = tensors[f"{splice.out}.weight"]
    hidden = out_weight.shape[1] if splice.dense else 0
    input_dim = tensors[f"{splice.dense}.weight"].shape[1] if splice.dense else out_weight.shape[1]
    head_config = HeadConfig(
        input_dim=input_dim, labels=_labels(config, out_weight.shape[0]), hidden_dim=hidden,
        activation=splice.activation, kind="spliced", architecture=family,
        encoder=LatentSpaceRef(model_id=resolved.name, revision=resolved.revision, modality=splice.modality,
                               pooling=splice.pooling, layer=-1, dim=input_dim),
    )
    head = ClassifierHead(head_config)
    with torch.no_grad():
        head.out.weight.copy_(out_weight)
        head.out.bias.copy_(tensors[f"{splice.out}.bias"])
        if splice.dense:
            head.dense.weight.copy_(tensors[f"{splice.dense}.weight"])
            head.dense.bias.copy_(tensors[f"{splice.dense}.bias"])
    for parameter in head.parameters():
        parameter.requires_grad_(False)
    return head.eval()
