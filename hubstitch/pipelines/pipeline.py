"""`StitchedPipeline`: encoder -> translator -> head (or encoder -> relative projection -> relative head).

The pipeline's ``config.json`` is a manifest of stages, each ``{role, kind, model_id, revision}`` (a Hub repo
pinned to its commit) or ``{role, kind, path}`` (a subfolder of the pipeline repo, for stages that are not on the
Hub). Stage kinds resolve only through `STAGE_KINDS`: a manifest never names a class to import, paths are
validated to stay inside the repo, and `trust_remote_code` stays False unless the caller passes it. Stages are
checked against each other on their configs before any weights load.

Example:
    >>> from hubstitch.pipelines.pipeline import StitchedPipeline  # doctest: +SKIP
    >>> pipe = StitchedPipeline.from_pretrained("me/minilm-to-mpnet-bbc-news")  # doctest: +SKIP
    >>> pipe(["Shares rose after the merger was announced."], top_k=2)  # doctest: +SKIP
    [[{'label': 'business', 'score': 0.91}, {'label': 'tech', 'score': 0.04}]]
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo, EvalResult, ModelCard, ModelCardData, hf_hub_download

from .._version import __version__
from ..encoders.encoder import Encoder, is_single_item
from ..errors import ArtifactError, HubstitchValueError
from ..heads.config import HeadConfig
from ..heads.head import ClassifierHead
from ..heads.relative import relative_inputs
from ..hub.artifact_io import CONFIG_NAME, check_header, inside, read_config
from ..hub.cards import hub_base_model, hub_dataset, shared_license, template
from ..spaces import IncompatibleStagesError, LatentSpaceRef, check_same_space, is_hub_id
from ..translators.config import TranslatorConfig
from ..translators.translator import Translator

logger = logging.getLogger(__name__)

PIPELINE_FORMAT_VERSION = 1
STAGE_KINDS = {"encoder": Encoder, "translator": Translator, "classifier-head": ClassifierHead}
ROLES = {"translated": ("encoder", "translator", "head"), "relative": ("encoder", "head"),
         "native": ("encoder", "head"), "embedding": ("encoder", "translator")}


def _stage_location(stage: dict[str, Any], root: Path | None) -> str:
    """Where a stage lives: a validated subfolder of the pipeline repo (links may not lead out of it), or a Hub id
    (or, for the encoder, a local checkpoint folder)."""
    if stage.get("path"):
        relative = Path(stage["path"])
        if root is None or relative.is_absolute() or ".." in relative.parts:
            raise ArtifactError(f"stage {stage.get('role')!r} has path {stage['path']!r}; expected a relative "
                                f"subfolder of the pipeline repo; fix: re-save the pipeline")
        folder = root / relative
        inside(folder, root)
        for file in folder.iterdir() if folder.is_dir() else ():
            inside(file, root)
        return str(folder)
    if not stage.get("model_id"):
        raise ArtifactError(f"stage {stage.get('role')!r} names neither model_id nor path; fix: re-save the pipeline")
    return stage["model_id"]


def _check_stage(stage: Any, where: str) -> None:
    """A manifest stage: an object with role and kind strings, and a Hub id (or path) that is a plain string."""
    if not isinstance(stage, dict):
        raise ArtifactError(f"{where}: a stage is a {type(stage).__name__}; expected an object; fix: re-save it")
    for key in ("role", "kind", "model_id", "revision", "path", "modality", "pooling"):
        value = stage.get(key)
        if value is not None and (not isinstance(value, str) or "\0" in value or len(value) > 1000):
            raise ArtifactError(f"{where}: stage field {key!r} is {value!r}"[:300] + "; expected a plain string; "
                                "fix: re-save the pipeline")
    model_id = stage.get("model_id")
    if stage.get("kind") != "encoder" and model_id and not is_hub_id(model_id):
        raise ArtifactError(f"{where}: stage {stage.get('role')!r} names {model_id!r}; expected a Hub id (a local "
                            f"stage lives in a subfolder given by 'path'); fix: re-save the pipeline")
    if stage.get("kind") == "encoder" and (stage.get("path") or not model_id):
        raise ArtifactError(f"{where}: the encoder stage has {'a path' if stage.get('path') else 'no model_id'}; "
                            f"expected a model_id (a Hub id or the checkpoint folder it was saved with); fix: re-save "
                            f"the pipeline")
    for key in ("layer", "dim"):
        if key in stage and stage[key] is not None and (isinstance(stage[key], bool)
                                                          or not isinstance(stage[key], int)):
            raise ArtifactError(f"{where}: stage field {key!r} is {stage[key]!r}; expected an integer")


class StitchedPipeline:
    """Raw inputs -> labels through stitched stages; ``pipe(inputs, top_k=1)`` like a transformers pipeline."""

    def __init__(self, encoder: Encoder, translator: Translator | None, head: ClassifierHead | None, *,
                 revision_override: bool = False) -> None:
        self.encoder, self.translator, self.head = encoder, translator, head
        if head is None:
            self.shape = "embedding"
            if translator is None:
                raise HubstitchValueError("a pipeline needs a head, or a translator (an embedding pipeline); fix: "
                                          "pass one, or use the encoder alone")
        else:
            self.shape = "relative" if head.config.input_space == "relative" else (
                "translated" if translator is not None else "native")
        check_stages(encoder.ref, translator.config if translator else None, head.config if head else None,
                     revision_override=revision_override)
        self._anchor_latents: torch.Tensor | None = None
        self.metrics: dict[str, Any] = {}  # set by `evaluate`, saved in the manifest and the card's model-index

    # --- inference -----------------------------------------------------------------------------------------
    def latents(self, inputs: Sequence[Any], batch_size: int = 32, progress: bool = False) -> torch.Tensor:
        """What the head reads for `inputs`."""
        latents = self.encoder.encode(inputs, batch_size=batch_size, progress=progress)
        if self.shape == "relative":
            if self._anchor_latents is None:
                self._anchor_latents = self.encoder.encode(self.head.anchor_items, batch_size=batch_size,
                                                           progress=progress)
            return relative_inputs(self.head, latents, self._anchor_latents)
        return self.translator(latents) if self.translator is not None else latents

    def __call__(self, inputs: Any, top_k: int = 1, batch_size: int = 32) -> list:
        """``[{"label", "score"}, ...]`` (top_k of them) per input; one such list for a single input."""
        single = is_single_item(inputs) or not isinstance(inputs, Sequence)  # one text, path, image or clip
        items = [inputs] if single else list(inputs)
        predictions = self.head.predict(self.latents(items, batch_size=batch_size), top_k=top_k)
        return predictions[0] if single else predictions

    def evaluate(self, inputs: Sequence[Any], labels: Sequence[Any], dataset: str | None = None,
                 batch_size: int = 32) -> dict[str, Any]:
        """Top-1 accuracy on labelled `inputs`; kept in `metrics` (and so in the manifest and the card)."""
        if len(inputs) != len(labels) or not inputs:
            raise HubstitchValueError(f"{len(inputs)} inputs for {len(labels)} labels; expected as many of each, "
                                      f"at least one; fix: pass parallel lists")
        predicted = [top[0]["label"] for top in self(list(inputs), top_k=1, batch_size=batch_size)]
        accuracy = sum(str(p) == str(y) for p, y in zip(predicted, labels, strict=True)) / len(labels)
        self.metrics = {"accuracy": accuracy, "n": len(labels), **({"dataset": dataset} if dataset else {})}
        return self.metrics

    # --- the manifest --------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        ref = self.encoder.ref
        stages = [{"role": "encoder", "kind": "encoder", "model_id": ref.model_id, "revision": ref.revision,
                   "modality": ref.modality, "pooling": ref.pooling, "layer": ref.layer, "dim": ref.dim}]
        for role, artifact, kind in (("translator", self.translator, "translator"),
                                     ("head", self.head, "classifier-head")):
            if artifact is None:
                continue
            if artifact.hub_origin:
                stages.append({"role": role, "kind": kind, "model_id": artifact.hub_origin[0],
                               "revision": artifact.hub_origin[1]})
            else:
                stages.append({"role": role, "kind": kind, "path": role})
        return {"library_name": "hubstitch", "artifact": "stitched-pipeline",
                "format_version": PIPELINE_FORMAT_VERSION, "hubstitch_version": __version__, "shape": self.shape,
                "stages": stages, "labels": self.head.labels if self.head else None, "metrics": self.metrics}

    def save_pretrained(self, save_directory: str | Path, repo_id: str | None = None) -> Path:
        """Write the manifest, the card, and the stages that are not pinned Hub repos as subfolders."""
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = self.manifest()
        for stage in manifest["stages"]:
            if stage.get("path"):
                artifact = self.translator if stage["role"] == "translator" else self.head
                artifact.save_pretrained(folder / stage["path"])
        if not is_hub_id(self.encoder.ref.model_id):
            logger.warning("the encoder stage is a local folder (%s): the saved pipeline only loads where that "
                           "folder exists with the same content", self.encoder.ref.model_id)
        (folder / CONFIG_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        self.model_card(manifest, repo_id).save(folder / "README.md")
        return folder

    def model_card(self, manifest: dict[str, Any], repo_id: str | None = None) -> ModelCard:
        metrics, eval_results = manifest.get("metrics") or {}, None
        task = {"image": "image-classification", "audio": "audio-classification"}.get(self.encoder.modality,
                                                                                       "text-classification")
        dataset = hub_dataset(metrics.get("dataset"))
        if "accuracy" in metrics and dataset:  # model-index needs a Hub dataset; else the body says it
            eval_results = [EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset,
                                       metric_type="accuracy", metric_name="Stitched accuracy",
                                       metric_value=round(metrics["accuracy"], 6))]
        base = hub_base_model(self.encoder.ref.model_id)
        licenses = [self.encoder.ref.license, self.head.config.encoder.license if self.head else None]
        data = ModelCardData(library_name="hubstitch", pipeline_tag=task, base_model=base,
                             base_model_relation="adapter" if base else None, license=shared_license(*licenses),
                             eval_results=eval_results, model_name=f"stitched pipeline ({self.shape})",
                             tags=["hubstitch", "stitched-pipeline", f"stitch-{self.shape}"])
        return ModelCard.from_template(data, template_str=template("pipeline.md"), manifest=manifest,
                                       repo_id=repo_id or "path/to/this/pipeline", shape=self.shape,
                                       modality=self.encoder.modality)

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, branch: str | None = None,
                    revision: str | None = None, create_pr: bool = False, token: str | bool | None = None,
                    commit_message: str = "Upload stitched pipeline with hubstitch",
                    commit_description: str | None = None, allow_offline_pins: bool = False) -> CommitInfo:
        """Upload everything in one commit (bounded requests); returns the `CommitInfo` (``.oid``: the SHA to pin),
        as translators and heads do."""
        from ..hub.client import upload_folder

        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, repo_id=repo_id)
            return upload_folder(tmp, repo_id, private=private, branch=branch or revision, create_pr=create_pr,
                                 token=token, commit_message=commit_message, commit_description=commit_description,
                                 what=f"the {self.shape} pipeline", allow_offline_pins=allow_offline_pins)

    # --- loading -------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, repo_or_dir: str | Path, *, revision: str | None = None,
                        stage_revisions: dict[str, str] | None = None, local_files_only: bool | None = None,
                        trust_remote_code: bool = False, device: str | None = None) -> StitchedPipeline:
        """Load a pipeline folder or Hub repo (at `revision`); `stage_revisions` overrides pinned stage revisions
        (with a warning). Stage configs are checked against each other before any weights load."""
        root, manifest = _read_manifest(repo_or_dir, revision, local_files_only)
        shape, stages = manifest["shape"], {s["role"]: s for s in manifest["stages"]}
        overrides = stage_revisions or {}
        for role, new in overrides.items():
            logger.warning("overriding the pinned revision %s of stage %r with %s", stages[role].get("revision"),
                           role, new)
        encoder_stage = stages["encoder"]
        encoder_ref = check_manifest(root, manifest, overrides, local_files_only)
        encoder = Encoder.from_pretrained(_stage_location(encoder_stage, root),
                                          revision=None if not is_hub_id(encoder_stage["model_id"])
                                          else encoder_ref.revision,
                                          modality=encoder_ref.modality, pooling=encoder_ref.pooling,
                                          layer=encoder_ref.layer, local_files_only=local_files_only,
                                          trust_remote_code=trust_remote_code, device=device)
        loaded = {role: STAGE_KINDS[stages[role]["kind"]].from_pretrained(
            _stage_location(stages[role], root), revision=None if stages[role].get("path")
            else overrides.get(role, stages[role].get("revision")), local_files_only=bool(local_files_only))
            for role in ROLES[shape][1:]}
        if shape == "embedding":
            from .embedding import StitchedEncoder

            pipe = StitchedEncoder(encoder, loaded["translator"], revision_override=bool(overrides))
        else:
            pipe = cls(encoder, loaded.get("translator"), loaded["head"], revision_override=bool(overrides))
        pipe.metrics = dict(manifest.get("metrics") or {})
        return pipe


def check_manifest(root: Path, manifest: dict[str, Any], overrides: dict[str, str] | None = None,
                   local_files_only: bool | None = None) -> LatentSpaceRef:
    """Read each stage's config (never its weights) and check the stages agree; returns the encoder's space.

    `overrides` ({role: revision}) replace pinned revisions and turn a revision mismatch into a warning.
    """
    overrides = overrides or {}
    shape, stages = manifest["shape"], {s["role"]: s for s in manifest["stages"]}
    encoder_stage = stages["encoder"]
    encoder_ref = LatentSpaceRef(
        model_id=encoder_stage["model_id"], revision=overrides.get("encoder", encoder_stage.get("revision")),
        modality=encoder_stage.get("modality"), pooling=encoder_stage.get("pooling"),
        layer=encoder_stage.get("layer", -1), dim=encoder_stage.get("dim", 0))
    configs = {role: _stage_config(stages[role], root, overrides.get(role, stages[role].get("revision")),
                                   local_files_only) for role in ROLES[shape][1:]}
    translator_config = TranslatorConfig.from_dict(configs["translator"]) if "translator" in configs else None
    head_config = HeadConfig.from_dict(configs["head"]) if "head" in configs else None
    check_stages(encoder_ref, translator_config, head_config, revision_override=bool(overrides))
    return encoder_ref


def check_stages(encoder: LatentSpaceRef, translator: TranslatorConfig | None, head: HeadConfig | None, *,
                 revision_override: bool = False) -> None:
    """Encoder == translator source and translator target == head encoder (or encoder == head encoder)."""
    if head is None:
        check_same_space(encoder, translator.source, "encoder", "translator", revision_override=revision_override)
        return
    if head.input_space == "relative":
        if translator is not None:
            raise IncompatibleStagesError("a relative head reads relative representations, not translated latents; "
                                          "fix: drop the translator (any encoder plugs into a relative head)")
        if encoder.modality not in (None, "text"):
            raise IncompatibleStagesError(f"the relative head's anchors are texts but the encoder gives "
                                          f"{encoder.modality}; fix: use a text encoder")
        return
    if translator is None:
        check_same_space(encoder, head.encoder, "encoder", "head", revision_override=revision_override)
        return
    check_same_space(encoder, translator.source, "encoder", "translator", revision_override=revision_override)
    check_same_space(translator.target, head.encoder, "translator", "head", revision_override=revision_override)


def _read_manifest(repo_or_dir: str | Path, revision: str | None,
                   local_files_only: bool | None) -> tuple[Path, dict[str, Any]]:
    source = str(repo_or_dir)
    if Path(source).is_dir():
        path = Path(source) / CONFIG_NAME
        if not path.is_file():
            raise ArtifactError(f"{source} has no {CONFIG_NAME}; expected a pipeline folder written by "
                                f"StitchedPipeline.save_pretrained or `hubstitch stitch`")
        inside(path, Path(source))
    elif not is_hub_id(source):
        raise ArtifactError(f"{source!r} is not an existing folder, nor a Hub repo id; expected a pipeline folder or "
                            f"'org/name'; fix: check the path or the id")
    else:
        from huggingface_hub import snapshot_download

        from ..hub.client import hub_hint

        with hub_hint("pipeline", source, revision):
            path = Path(hf_hub_download(source, CONFIG_NAME, revision=revision,
                                        local_files_only=bool(local_files_only)))
            # Embedded stages live in subfolders of the same commit: fetch the whole snapshot of that commit.
            snapshot_download(source, revision=path.parent.name, local_files_only=bool(local_files_only))
    manifest = read_config(path)
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} holds a {type(manifest).__name__}; expected a pipeline manifest object")
    check_header(manifest, "stitched-pipeline", PIPELINE_FORMAT_VERSION, str(path), "stitched pipeline manifest",
                 "StitchedPipeline.save_pretrained")
    shape = manifest.get("shape")
    if not isinstance(shape, str) or shape not in ROLES:
        raise ArtifactError(f"{path} has shape {shape!r}; expected one of {sorted(ROLES)}")
    if not isinstance(manifest.get("stages"), list):
        raise ArtifactError(f"{path}: field 'stages' is {manifest.get('stages')!r}"[:300] + "; expected a list of "
                            "stage objects; fix: re-save the pipeline")
    for stage in manifest["stages"]:
        _check_stage(stage, str(path))
    roles = {s.get("role") for s in manifest.get("stages", [])}
    if roles != set(ROLES[shape]):
        raise ArtifactError(f"{path} has stages {sorted(r for r in roles if r)}; a {shape!r} pipeline needs "
                            f"{list(ROLES[shape])}; fix: re-save the pipeline")
    for stage in manifest["stages"]:
        if stage.get("kind") not in STAGE_KINDS:
            raise ArtifactError(f"{path}: stage {stage.get('role')!r} has kind {stage.get('kind')!r}; hubstitch "
                                f"resolves only {sorted(STAGE_KINDS)}; fix: re-save the pipeline")
    return path.parent, manifest


def _stage_config(stage: dict[str, Any], root: Path, revision: str | None,
                  local_files_only: bool | None) -> dict[str, Any]:
    location = _stage_location(stage, root)
    if stage.get("path"):
        return read_config(Path(location) / CONFIG_NAME)
    return read_config(Path(hf_hub_download(location, CONFIG_NAME, revision=revision,
                                            local_files_only=bool(local_files_only))))
