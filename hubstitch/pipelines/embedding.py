"""`StitchedEncoder`: an encoder whose vectors land in another model's embedding space, through a translator.

Query an index built with model B using model A (or keep serving A's users after migrating the index to B): the
vectors come out in the translator's target space, normalised as the target encoder's are. It saves, loads and
pushes as a pipeline of shape ``embedding`` (stages encoder + translator, pinned and checked like any pipeline),
and exports to a plain sentence-transformers folder (`to_sentence_transformers`).

Example:
    >>> from hubstitch import Encoder, StitchedEncoder, Translator  # doctest: +SKIP
    >>> minilm = Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> stitched = StitchedEncoder(minilm, Translator.from_pretrained("me/minilm-to-mpnet"))  # doctest: +SKIP
    >>> stitched.encode(["Shares rose after the merger."]).shape  # doctest: +SKIP
    torch.Size([1, 768])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..encoders.encoder import Encoder
from ..hub.cards import hub_base_model, hub_dataset, shared_license, template
from ..spaces import LatentSpaceRef
from ..translators.card import METRIC_NAMES
from ..translators.translator import Translator
from .pipeline import StitchedPipeline, register_shape


class StitchedEncoder(StitchedPipeline):
    """Raw items -> vectors in the translator's target space (``encode`` / ``__call__``)."""

    def __init__(self, encoder: Encoder, translator: Translator, *, revision_override: bool = False) -> None:
        super().__init__(encoder, translator, None, revision_override=revision_override)

    @property
    def space(self) -> LatentSpaceRef:
        """The space the vectors live in: the translator's target."""
        return self.translator.config.target

    @property
    def normalize(self) -> bool:
        return self.space.normalization == "l2"

    def encode(self, items: Any, batch_size: int = 32, progress: bool = False, *, prompt_name: str | None = None,
               prompt: str | None = None) -> torch.Tensor:
        """Vectors (n, target dim) for `items` (a single item gives one row, as sentence-transformers does); the
        source encoder's prompts apply as in `Encoder.encode`."""
        vectors = self.translator(self.encoder.encode(items, batch_size=batch_size, progress=progress,
                                                      prompt_name=prompt_name, prompt=prompt))
        return torch.nn.functional.normalize(vectors, dim=1) if self.normalize else vectors

    def __call__(self, inputs: Any, batch_size: int = 32, prompt_name: str | None = None,
                 **unused: Any) -> torch.Tensor:
        return self.encode(inputs, batch_size=batch_size, prompt_name=prompt_name)

    latents = encode

    def model_card(self, manifest: dict[str, Any], repo_id: str | None = None) -> ModelCard:
        source, target = self.encoder.ref, self.space
        heldout = self.translator.config.metrics.get("heldout") or {}
        dataset = hub_dataset(self.translator.config.anchors.dataset_id)
        eval_results = [EvalResult(task_type="feature-extraction", dataset_type=dataset, dataset_name=dataset,
                                   metric_type=name, metric_name=METRIC_NAMES.get(name, name),
                                   metric_value=round(float(value), 6))
                        for name, value in heldout.items()] if dataset else None
        base = hub_base_model(source.model_id)
        data = ModelCardData(library_name="hubstitch", pipeline_tag="feature-extraction", base_model=base,
                             base_model_relation="adapter" if base else None,
                             license=shared_license(source.license, target.license),
                             eval_results=eval_results or None, model_name="stitched encoder (embedding)",
                             tags=["hubstitch", "stitched-pipeline", "stitch-embedding", "latent-translation"])
        return ModelCard.from_template(data, template_str=template("pipeline.md"), manifest=manifest,
                                       repo_id=repo_id or "path/to/this/pipeline", shape=self.shape,
                                       modality=self.encoder.modality, source=source, target=target,
                                       heldout=heldout)

    def to_sentence_transformers(self, folder: str | Path, repo_id: str | None = None) -> Path:
        """Write a standard sentence-transformers folder giving the same vectors (`export_sentence_transformers`)."""
        from .sentence_transformers_export import export_sentence_transformers

        return export_sentence_transformers(self, folder, repo_id=repo_id)


register_shape("embedding", StitchedEncoder)
