"""Export a `StitchedEncoder` as a standard sentence-transformers folder that needs neither hubstitch nor custom code.

Modules: the source's ``Transformer`` (its files copied: config, safetensors weights, tokenizer) and ``Pooling``
(+ ``Normalize`` where the source normalises), then the translator as stock ``Dense`` modules (identity
activation: the whole affine map, preprocessing and restored dead dimensions folded into weight and bias) and
``Normalize`` modules where the chain needs them (`hubstitch.translators.affine`), ending with ``Normalize`` where
the target space is normalised. ``sentence_transformers.SentenceTransformer(folder)`` then gives the
`StitchedEncoder`'s vectors (tested to 1e-5), and so does everything built on it (LangChain, LlamaIndex,
vector-database integrations). Module types are written with their classic names, which every
sentence-transformers release loads. The folder is written beside its destination and renamed into place.

Example:
    >>> from hubstitch.pipelines.sentence_transformers_export import export_sentence_transformers  # doctest: +SKIP
    >>> export_sentence_transformers(stitched, "minilm-in-mpnet-space")  # doctest: +SKIP
    >>> SentenceTransformer("minilm-in-mpnet-space").encode(["a query"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from safetensors.torch import save_file

from .._version import __version__
from ..errors import HubstitchValueError
from ..hub.cards import hub_base_model, hub_dataset, shared_license, template
from ..translators.affine import affine_stages
from ..translators.card import METRIC_NAMES


class StitchedEncoder(Protocol):
    """What an export reads of `hubstitch.pipelines.embedding.StitchedEncoder` (named here, not imported: the
    embedding module imports this one when asked to export)."""

    encoder: Any
    translator: Any

POOLING_KEYS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
                "lasttoken": "pooling_mode_lasttoken"}
SKIPPED_FILES = {"modules.json", "config_sentence_transformers.json", "README.md", "data_config.json"}
COPIED_SUFFIXES = {".json", ".txt", ".model", ".safetensors"}
IDENTITY = "torch.nn.modules.linear.Identity"


class ExportError(HubstitchValueError):
    """A stitched encoder that a stock sentence-transformers stack cannot reproduce."""


def _check_exportable(stitched: StitchedEncoder) -> None:
    encoder = stitched.encoder
    ref = encoder.ref
    if encoder.modality != "text" or encoder.family in ("clip", "siglip"):
        raise ExportError(f"{ref.model_id} is a {encoder.modality} encoder ({encoder.family}); the sentence-"
                          f"transformers export covers text encoders with a Transformer + Pooling stack; fix: use "
                          f"StitchedEncoder directly for this one")
    if ref.pooling not in POOLING_KEYS or ref.layer not in (None, -1):
        raise ExportError(f"{ref.model_id} is read with pooling {ref.pooling!r} at layer {ref.layer}; a stock "
                          f"Pooling module pools the last layer with one of {sorted(POOLING_KEYS)}; fix: fit the "
                          f"translator on latents of such a pooling")
    if encoder.folder is None:
        raise ExportError(f"{ref.model_id} was not loaded from a checkpoint folder; fix: load it with "
                          f"Encoder.from_pretrained")


def _max_length(encoder) -> int:
    if encoder.max_length:
        return int(encoder.max_length)
    limits = [getattr(encoder.processor, "model_max_length", None),
              getattr(encoder.model.config, "max_position_embeddings", None)]
    return int(min(v for v in limits if isinstance(v, int) and 0 < v < 1_000_000) if any(
        isinstance(v, int) and 0 < v < 1_000_000 for v in limits) else 512)


def export_sentence_transformers(stitched: StitchedEncoder, folder: str | Path, repo_id: str | None = None) -> Path:
    """Write `stitched` as a sentence-transformers folder at `folder` (which must not exist yet); returns it."""
    _check_exportable(stitched)
    stages = affine_stages(stitched.translator, normalize_output=stitched.normalize)
    destination = Path(folder)
    if destination.exists():
        raise ExportError(f"{destination} already exists; expected a new folder; fix: choose another --out or "
                          f"remove it")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        _write(stitched, stages, staging, repo_id)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def _write(stitched: StitchedEncoder, stages: list[tuple], out: Path, repo_id: str | None) -> None:
    encoder = stitched.encoder
    for path in sorted(encoder.folder.iterdir()):
        if path.is_file() and path.suffix in COPIED_SUFFIXES and path.name not in SKIPPED_FILES:
            shutil.copy2(path, out / path.name)
    (out / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": _max_length(encoder), "do_lower_case": False}, indent=2) + "\n")
    modules: list[dict[str, Any]] = [{"path": "", "type": "sentence_transformers.models.Transformer"}]
    pooling = {"word_embedding_dimension": encoder.dim, **{key: encoder.ref.pooling == name
                                                           for name, key in POOLING_KEYS.items()},
               "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False}
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
    modules.append({"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
    chain = ([("normalize",)] if encoder.normalize else []) + stages
    for stage in chain:
        index = len(modules)
        if stage[0] == "normalize":  # a Normalize module has no files (an empty folder would not survive a push)
            modules.append({"path": f"{index}_Normalize", "type": "sentence_transformers.models.Normalize"})
            continue
        weight, bias = stage[1], stage[2]
        dense = out / f"{index}_Dense"
        dense.mkdir()
        dense_config = {"in_features": weight.shape[0], "out_features": weight.shape[1], "bias": True,
                        "activation_function": IDENTITY}
        (dense / "config.json").write_text(json.dumps(dense_config, indent=2) + "\n")
        save_file({"linear.weight": weight.T.float().contiguous(), "linear.bias": bias.float().contiguous()},
                  str(dense / "model.safetensors"))
        modules.append({"path": f"{index}_Dense", "type": "sentence_transformers.models.Dense"})
    (out / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), **m} for i, m in enumerate(modules)], indent=2) + "\n")
    source = encoder.sentence_transformers or {}  # the source's prompts (e5 / bge query prefixes) travel along
    settings = {"__version__": {"hubstitch": __version__, "pytorch": torch.__version__},
                "prompts": source.get("prompts") or {}, "default_prompt_name": source.get("default_prompt_name"),
                "similarity_fn_name": "cosine"}
    (out / "config_sentence_transformers.json").write_text(json.dumps(settings, indent=2) + "\n")
    _card(stitched, repo_id).save(out / "README.md")


def _card(stitched: StitchedEncoder, repo_id: str | None) -> ModelCard:
    source, target = stitched.encoder.ref, stitched.space
    config = stitched.translator.config
    heldout = config.metrics.get("heldout") or {}
    dataset = hub_dataset(config.anchors.dataset_id)
    eval_results = [EvalResult(task_type="feature-extraction", dataset_type=dataset, dataset_name=dataset,
                               metric_type=name, metric_name=METRIC_NAMES.get(name, name),
                               metric_value=round(float(value), 6))
                    for name, value in heldout.items()] if dataset else None
    base = hub_base_model(source.model_id)
    data = ModelCardData(library_name="sentence-transformers", pipeline_tag="sentence-similarity",
                         # the folder holds the source's full weights (plus Dense layers): not an adapter
                         base_model=base, base_model_relation="finetune" if base else None,
                         license=shared_license(source.license, target.license),
                         tags=["sentence-transformers", "feature-extraction", "hubstitch", "latent-translation"],
                         eval_results=eval_results or None,
                         model_name=f"{source.model_id} in {target.model_id}'s space")
    return ModelCard.from_template(data, template_str=template("sentence_transformers.md"),
                                   repo_id=repo_id or "path/to/this/model", source=source, target=target,
                                   method=config.method, n_anchors=config.n_anchors, heldout=heldout,
                                   dim=target.dim)
