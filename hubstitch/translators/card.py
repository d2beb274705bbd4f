"""The model card of a translator: YAML metadata (with model-index) and a human-readable body.

``base_model`` and ``datasets`` only ever list Hub ids: local paths are left out (the Hub rejects them).

Example:
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> from hubstitch.translators.config import TranslatorConfig
    >>> from hubstitch.translators.card import render_translator_card
    >>> config = TranslatorConfig(method="linear", source=LatentSpaceRef("org/a", dim=4),
    ...                           target=LatentSpaceRef("/tmp/local", dim=4), source_active_dim=4,
    ...                           target_active_dim=4, n_anchors=10)
    >>> render_translator_card(config).data.base_model
    ['org/a']
"""

from __future__ import annotations

import json

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..hub.cards import template
from ..spaces import is_hub_id
from .config import TranslatorConfig

METRIC_NAMES = {"cosine": "Cosine similarity", "mse": "MSE", "top1": "Retrieval top-1", "top5": "Retrieval top-5",
                "mrr": "MRR", "cka": "Linear CKA (debiased)", "mutual_knn": "Mutual k-NN (k=10)"}



def _display(model_id: str | None) -> str:
    return model_id if model_id else "an unnamed encoder"


def render_translator_card(config: TranslatorConfig, repo_id: str | None = None) -> ModelCard:
    """A `ModelCard` for a translator: YAML metadata (with model-index) plus the human-readable body."""
    heldout = config.metrics.get("heldout") or {}
    hub_models = [m for m in (config.source.model_id, config.target.model_id) if is_hub_id(m)]
    dataset = config.anchors.dataset_id if is_hub_id(config.anchors.dataset_id) else None
    title = f"{_display(config.source.model_id)} -> {_display(config.target.model_id)} ({config.method})"
    eval_results = [
        EvalResult(task_type="feature-extraction", task_name="Latent space translation",
                   dataset_type=dataset or "held-out-anchors", dataset_name=dataset or "held-out anchor pairs",
                   dataset_split=config.anchors.split, metric_type=name, metric_name=METRIC_NAMES.get(name, name),
                   metric_value=round(float(value), 6))
        for name, value in heldout.items()
    ]
    data = ModelCardData(
        library_name="hubstitch", base_model=hub_models or None, datasets=[dataset] if dataset else None,
        tags=["hubstitch", "latent-translation", "model-stitching", f"translator-{config.method}"],
        model_name=title, eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        data, template_str=template("translator.md"), title=title, repo_id=repo_id or "path/to/this/translator",
        source=config.source, target=config.target, source_name=_display(config.source.model_id),
        target_name=_display(config.target.model_id), source_active_dim=config.source_active_dim,
        target_active_dim=config.target_active_dim, method=config.method, options=config.options,
        options_json=json.dumps(config.options, sort_keys=True), selection=config.selection,
        anchors=config.anchors, n_anchors=config.n_anchors, n_heldout=config.metrics.get("n_heldout"),
        metrics_rows=[(METRIC_NAMES.get(k, k), v) for k, v in heldout.items()],
    )
