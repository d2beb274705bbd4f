"""The model card of a translator: YAML metadata (with model-index) and a human-readable body.

``base_model`` and ``datasets`` only ever list Hub ids: local paths are left out (the Hub rejects them).

Example:
    >>> from hubstitch.spaces import LatentSpaceRef
    >>> from hubstitch.translators.config import TranslatorConfig
    >>> from hubstitch.translators.card import render_translator_card
    >>> config = TranslatorConfig(method="linear", source=LatentSpaceRef("org/a", dim=4),
    ...                           target=LatentSpaceRef("/tmp/local", dim=4), source_active_dim=4,
    ...                           target_active_dim=4, n_anchors=10)
    >>> card = render_translator_card(config).data
    >>> card.base_model, card.base_model_relation, card.pipeline_tag
    ('org/a', 'adapter', 'feature-extraction')
"""

from __future__ import annotations

import json

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..hub.cards import hub_base_model, hub_dataset, shared_license, template
from .config import TranslatorConfig

METRIC_NAMES = {"cosine": "Cosine similarity", "mse": "MSE", "top1": "Retrieval top-1", "top5": "Retrieval top-5",
                "mrr": "MRR", "cka": "Linear CKA (debiased)", "mutual_knn": "Mutual k-NN (k=10)"}



def _display(model_id: str | None) -> str:
    return model_id if model_id else "an unnamed encoder"


def render_translator_card(config: TranslatorConfig, repo_id: str | None = None) -> ModelCard:
    """A `ModelCard` for a translator: YAML metadata (with model-index) plus the human-readable body."""
    heldout = config.metrics.get("heldout") or {}
    dataset = hub_dataset(config.anchors.dataset_id)
    title = f"{_display(config.source.model_id)} -> {_display(config.target.model_id)} ({config.method})"
    # model-index needs a Hub dataset: without one the metrics stay in the card's table only
    eval_results = [
        EvalResult(task_type="feature-extraction", task_name="Latent space translation", dataset_type=dataset,
                   dataset_name=dataset, dataset_split=config.anchors.split, metric_type=name,
                   metric_name=METRIC_NAMES.get(name, name), metric_value=round(float(value), 6))
        for name, value in heldout.items()
    ] if dataset else []
    base = hub_base_model(config.source.model_id)  # the source only: several base models would read as a merge
    data = ModelCardData(
        library_name="hubstitch", pipeline_tag="feature-extraction", base_model=base,
        base_model_relation="adapter" if base else None,
        license=shared_license(config.source.license, config.target.license),
        datasets=[dataset] if dataset else None,
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
        metrics_rows=[(METRIC_NAMES.get(k, k), v) for k, v in heldout.items()], pairing=config.pairing,
        kind=config.kind, context=config.context, refinement=config.refinement,
        heldout_wer=config.metrics.get("heldout_wer"),
    )
