"""`ClassifierHead`: a decoder from one encoder's latents to labels, saved as config + safetensors + card.

Train one on latents (`ClassifierHead.fit`), or splice one out of a Hub classification checkpoint
(`hubstitch.heads.splice.head_from_classifier`). A head records the encoder space it reads, so that a stitched
pipeline can check that a translator's target is that space.

Example:
    >>> import torch
    >>> from hubstitch.heads.head import ClassifierHead
    >>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0)); y = (x[:, 0] > 0).long()
    >>> head = ClassifierHead.fit(x, y, label_names=["neg", "pos"], epochs=200)
    >>> head.config.training["train_accuracy"] > 0.9
    True
    >>> head.predict(x[:1], top_k=1)[0][0]["label"] in {"neg", "pos"}
    True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData, PyTorchModelHubMixin
from safetensors.torch import save_file
from torch import nn

from ..errors import ArtifactError, HubstitchValueError
from ..hub.artifact_io import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    artifact_files,
    finish_loading,
    hub_origin,
    load_state_checked,
    read_config,
)
from ..hub.cards import hub_base_model, hub_dataset, template
from ..hub.client import OneCommitPush
from ..math.validation import as_latents, check_width
from ..spaces import LatentSpaceRef
from .config import HeadConfig

logger = logging.getLogger(__name__)
ANCHORS_NAME = "anchors.json"
_ACTIVATIONS = {"none": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class ClassifierHead(nn.Module, OneCommitPush, PyTorchModelHubMixin, library_name="hubstitch",
                     tags=["hubstitch", "classifier-head"]):
    """latents (n, input_dim) -> logits (n, num_labels): an optional dense layer + activation, then a linear layer."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = HeadConfig.from_dict(config)
        self.config = config
        width = config.hidden_dim or config.input_dim
        self.dense = nn.Linear(config.input_dim, config.hidden_dim) if config.hidden_dim else None
        self.activation = _ACTIVATIONS[config.activation]()
        self.out = nn.Linear(width, config.num_labels)
        self.hub_origin: tuple[str, str] | None = None  # (repo id, commit) when loaded from the Hub
        self.anchor_items: list[Any] = []  # the anchor items of a relative head (saved as anchors.json)

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    def forward(self, latents) -> torch.Tensor:
        x = as_latents(latents, "head input")
        check_width(x, self.config.input_dim, "head input")
        x = x.to(self.out.weight.dtype)
        if self.dense is not None:
            x = self.dense(x)
        return self.out(self.activation(x))

    @torch.inference_mode()
    def predict(self, latents, top_k: int = 1) -> list[list[dict[str, Any]]]:
        """Top-k ``{"label", "score"}`` per row, scores being softmax probabilities."""
        probs = self(latents).softmax(dim=-1)
        k = min(max(1, top_k), self.config.num_labels)
        scores, indices = probs.topk(k, dim=-1)
        return [[{"label": self.config.labels[i], "score": float(s)} for s, i in zip(row_s, row_i, strict=True)]
                for row_s, row_i in zip(scores.tolist(), indices.tolist(), strict=True)]

    @classmethod
    def fit(cls, latents, labels: Sequence[Any] | torch.Tensor, *, label_names: Sequence[str] | None = None,
            hidden_dim: int = 0, epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4,
            val_fraction: float = 0.1, seed: int = 0, encoder: LatentSpaceRef | None = None) -> ClassifierHead:
        """Train a linear (or one-hidden-layer) head with full-batch AdamW, keeping the best validation epoch.

        `labels` are class indices, or label values (names) when `label_names` is None.
        """
        x = as_latents(latents, "training").float()
        codes, names = _encode_labels(labels, label_names, len(x))
        encoder = replace(encoder) if encoder is not None else LatentSpaceRef(dim=x.shape[1])  # a copy, not shared
        config = HeadConfig(input_dim=x.shape[1], labels=names, encoder=encoder,
                            hidden_dim=hidden_dim, activation="gelu" if hidden_dim else "none")
        torch.manual_seed(seed)
        head = cls(config)
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(x), generator=gen)
        n_val = int(round(val_fraction * len(x))) if len(x) >= 20 else 0
        val, train = order[:n_val], order[n_val:]
        optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        best = (-1.0, None)
        for _ in range(epochs):
            head.train()
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(head(x[train]), codes[train])
            loss.backward()
            optimizer.step()
            if n_val:
                head.eval()
                with torch.no_grad():
                    accuracy = float((head(x[val]).argmax(-1) == codes[val]).float().mean())
                if accuracy > best[0]:
                    best = (accuracy, {k: v.clone() for k, v in head.state_dict().items()})
        if best[1] is not None:
            head.load_state_dict(best[1])
        head.eval()
        with torch.no_grad():
            train_accuracy = float((head(x[train]).argmax(-1) == codes[train]).float().mean())
        head.config.training = {"n_train": int(len(train)), "n_val": int(n_val), "epochs": epochs, "lr": lr,
                                "train_accuracy": train_accuracy,
                                **({"val_accuracy": best[0]} if n_val else {})}
        for parameter in head.parameters():
            parameter.requires_grad_(False)
        return head

    # --- saving and loading ----------------------------------------------------------------------------------
    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n")
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(save_directory / WEIGHTS_NAME),
                  metadata={"format": "pt", "library": "hubstitch", "artifact": "classifier-head",
                            "encoder": self.config.encoder.model_id or ""})
        if self.config.input_space == "relative":
            (save_directory / ANCHORS_NAME).write_text(json.dumps(self.anchor_items, ensure_ascii=False) + "\n")

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        encoder = self.config.encoder.model_id
        eval_results = None
        task = "image-classification" if self.config.encoder.modality == "image" else "text-classification"
        dataset = hub_dataset((self.config.training.get("dataset") or {}).get("dataset_id"))
        if "val_accuracy" in self.config.training and dataset:  # model-index needs a Hub dataset
            eval_results = [EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset,
                                       metric_type="accuracy", metric_name="Validation accuracy",
                                       metric_value=round(float(self.config.training["val_accuracy"]), 6))]
        base = hub_base_model(encoder)
        data = ModelCardData(library_name="hubstitch", pipeline_tag=task, base_model=base,
                             base_model_relation="adapter" if base else None, license=self.config.encoder.license,
                             tags=["hubstitch", "classifier-head", f"head-{self.config.kind}"],
                             model_name=f"{encoder or 'encoder'} classifier head", eval_results=eval_results)
        return ModelCard.from_template(
            data, template_str=template("head.md"), config=self.config, encoder_name=encoder or "an unnamed encoder",
            repo_id=kwargs.get("repo_id") or "path/to/this/head", training=self.config.training,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, revision: str | None = None,
                        cache_dir: str | Path | None = None, force_download: bool = False,
                        token: str | bool | None = None, local_files_only: bool = False) -> ClassifierHead:
        """Load from a folder or Hub repo; safetensors only, checked key for key against the config."""
        config_path, weights_path = artifact_files(pretrained_model_name_or_path, revision=revision,
                                                   cache_dir=cache_dir, force_download=force_download, token=token,
                                                   local_files_only=local_files_only, what="classifier head")
        config = HeadConfig.from_dict(read_config(config_path), origin=str(config_path))
        with torch.device("meta"):  # shapes only: nothing is allocated until the file's tensors are checked
            head = cls(config)
        finish_loading(head, load_state_checked(head, weights_path, "classifier head"))
        head.hub_origin = hub_origin(pretrained_model_name_or_path, config_path)
        if head.config.input_space == "relative":
            anchors_path = config_path.parent / ANCHORS_NAME
            if not anchors_path.is_file():
                from huggingface_hub import hf_hub_download

                anchors_path = Path(hf_hub_download(str(pretrained_model_name_or_path), ANCHORS_NAME,
                                                    revision=revision, cache_dir=cache_dir, token=token,
                                                    local_files_only=local_files_only))
            head.anchor_items = json.loads(anchors_path.read_text(encoding="utf-8"))
            if len(head.anchor_items) != head.config.relative.get("n_anchors"):
                raise ArtifactError(f"{anchors_path} holds {len(head.anchor_items)} anchors but the config says "
                                    f"{head.config.relative.get('n_anchors')}; fix: re-save the head")
        return head


def _encode_labels(labels, label_names, n: int) -> tuple[torch.Tensor, list[str]]:
    values = labels.tolist() if isinstance(labels, torch.Tensor) else list(labels)
    if len(values) != n:
        raise HubstitchValueError(f"{len(values)} labels for {n} latents; expected one label per row")
    if label_names is not None:
        names = [str(name) for name in label_names]
        bad = [v for v in values if not isinstance(v, int) or not 0 <= v < len(names)]
        if bad:
            raise HubstitchValueError(f"labels {bad[:5]} are not indices into label_names ({len(names)} names); "
                                      f"fix: pass class indices 0..{len(names) - 1}, or no label_names")
        return torch.tensor(values), names
    names = sorted({str(v) for v in values}, key=lambda s: (len(s), s) if s.isdigit() else (0, s))
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[str(v)] for v in values]), names
