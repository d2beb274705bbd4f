"""`StitchedPipeline`: encoder -> translator -> head (or encoder -> relative projection -> relative head), and
encoder -> sequence translator -> generating decoder (stitched speech recognition: ``pipe(clips)`` gives texts).

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
from ..decoders.decoder import Decoder, check_generate_options
from ..encoders.encoder import Encoder, is_single_item
from ..errors import ArtifactError, HubstitchValueError
from ..heads.config import HeadConfig
from ..heads.head import ClassifierHead
from ..heads.relative import relative_inputs
from ..hub.artifact_io import CONFIG_NAME, check_header, inside, read_config
from ..hub.cards import hub_base_model, hub_dataset, save_card, shared_license, template
from ..spaces import IncompatibleStagesError, LatentSpaceRef, check_same_space, is_hub_id
from ..translators.config import TranslatorConfig
from ..translators.translator import Translator

logger = logging.getLogger(__name__)

PIPELINE_FORMAT_VERSION = 1
STAGE_KINDS = {"encoder": Encoder, "translator": Translator, "classifier-head": ClassifierHead, "decoder": Decoder}
ROLES = {"translated": ("encoder", "translator", "head"), "relative": ("encoder", "head"),
         "native": ("encoder", "head"), "embedding": ("encoder", "translator"),
         "generation": ("encoder", "translator", "decoder"), "native-generation": ("encoder", "decoder")}
SHAPE_CLASSES: dict[str, type] = {}  # shape -> the subclass that loads it (`register_shape`); others load as this one
CHECKPOINT_KINDS = ("encoder", "decoder")  # stages that are transformers checkpoints: a Hub id or a local folder


def register_shape(shape: str, pipeline_class: type) -> None:
    """Load pipelines of `shape` as `pipeline_class` (a subclass defined in its own module, which registers itself:
    this module never imports it, so the two do not import each other)."""
    if shape not in ROLES:
        raise ValueError(f"shape {shape!r} is not one of {sorted(ROLES)}")
    SHAPE_CLASSES[shape] = pipeline_class


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
    if stage.get("kind") not in CHECKPOINT_KINDS and model_id and not is_hub_id(model_id):
        raise ArtifactError(f"{where}: stage {stage.get('role')!r} names {model_id!r}; expected a Hub id (a local "
                            f"stage lives in a subfolder given by 'path'); fix: re-save the pipeline")
    if stage.get("kind") in CHECKPOINT_KINDS and (stage.get("path") or not model_id):
        has = "a path" if stage.get("path") else "no model_id"
        raise ArtifactError(f"{where}: the {stage['kind']} stage has {has}; expected a model_id (a Hub id or the "
                            f"checkpoint folder it was saved with); fix: re-save the pipeline")
    if "generate" in stage:
        if not isinstance(stage["generate"], dict):
            raise ArtifactError(f"{where}: stage field 'generate' is {stage['generate']!r}"[:300] + "; expected an "
                                "object of generation options; fix: re-save the pipeline")
        try:
            check_generate_options(stage["generate"])
        except HubstitchValueError as err:
            raise ArtifactError(f"{where}: {err}; fix: re-save the pipeline") from None
    for key in ("layer", "dim"):
        if key in stage and stage[key] is not None and (isinstance(stage[key], bool)
                                                          or not isinstance(stage[key], int)):
            raise ArtifactError(f"{where}: stage field {key!r} is {stage[key]!r}; expected an integer")


class StitchedPipeline:
    """Raw inputs -> labels (a head) or texts (a decoder) through stitched stages; ``pipe(inputs, top_k=1)`` and
    ``pipe(clips)`` as transformers' classification and speech-recognition pipelines answer."""

    def __init__(self, encoder: Encoder, translator: Translator | None, head: ClassifierHead | Decoder | None, *,
                 revision_override: bool = False) -> None:
        self.decoder = head if isinstance(head, Decoder) else None
        self.encoder, self.translator, self.head = encoder, translator, None if self.decoder else head
        self.generate_options: dict[str, Any] = {}  # per-call defaults of `__call__` on a generating pipeline
        if self.decoder is not None:
            self.shape = "generation" if translator is not None else "native-generation"
            check_generation_stages(encoder, translator.config if translator else None, self.decoder.ref,
                                    revision_override=revision_override)
            tuned_language = ((translator.config.refinement or {}) if translator else {}).get("language")
            if tuned_language and "language" not in self.decoder.generate_options:
                self.generate_options["language"] = tuned_language  # generate as the map was tuned
            self._anchor_latents = None
            self.metrics = {}
            return
        if translator is not None and translator.kind != "vector":
            raise IncompatibleStagesError("a sequence translator maps frames for a generating decoder; a classifier "
                                          "head reads one latent per item; fix: use a vector translator, or a Decoder "
                                          "as the third stage")
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

    def __call__(self, inputs: Any, top_k: int = 1, batch_size: int = 32, **generate_options: Any) -> list:
        """``[{"label", "score"}, ...]`` (top_k of them) per input, or for a generating pipeline ``{"text": ...}``
        per input (`generate_options` such as ``num_beams=4``, ``max_new_tokens=64``); one answer for one input."""
        single = is_single_item(inputs) or not isinstance(inputs, Sequence)  # one text, path, image or clip
        items = [inputs] if single else list(inputs)
        if self.decoder is not None:
            texts = self.transcribe(items, batch_size=min(batch_size, 8), **generate_options)
            answers = [{"text": text} for text in texts]
            return answers[0] if single else answers
        if generate_options:
            raise HubstitchValueError(f"options {sorted(generate_options)} apply to generating pipelines; this one "
                                      f"classifies; fix: drop them")
        predictions = self.head.predict(self.latents(items, batch_size=batch_size), top_k=top_k)
        return predictions[0] if single else predictions

    def transcribe(self, items: list[Any], batch_size: int = 8, progress: bool = False,
                   **generate_options: Any) -> list[str]:
        """Texts of `items` (clips): encoder frames -> sequence translator -> decoder generation."""
        states, _ = self.encoder.encode_frames(items, batch_size=batch_size, progress=progress)
        if self.translator is not None:
            states = self.translator(states)
        return self.decoder.generate(states, batch_size=batch_size, progress=progress,
                                     **{**self.generate_options, **generate_options})

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
        if self.decoder is not None:
            ref = self.encoder.frames_ref
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
        if self.decoder is not None:
            decoder = self.decoder.ref
            stages.append({"role": "decoder", "kind": "decoder", "model_id": decoder.model_id,
                           "revision": decoder.revision, "modality": decoder.modality, "pooling": decoder.pooling,
                           "dim": decoder.dim, "generate": {**self.decoder.generate_options,
                                                            **self.generate_options}})
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
        for stage in manifest["stages"]:
            if stage["kind"] in CHECKPOINT_KINDS and not is_hub_id(stage["model_id"]):
                logger.warning("the %s stage is a local folder (%s): the saved pipeline only loads where that "
                               "folder exists with the same content", stage["kind"], stage["model_id"])
        (folder / CONFIG_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        save_card(self.model_card(manifest, repo_id), folder / "README.md")
        return folder

    def model_card(self, manifest: dict[str, Any], repo_id: str | None = None) -> ModelCard:
        metrics, eval_results = manifest.get("metrics") or {}, None
        task = {"image": "image-classification", "audio": "audio-classification"}.get(self.encoder.modality,
                                                                                       "text-classification")
        if self.decoder is not None:
            task = "automatic-speech-recognition"
        dataset = hub_dataset(metrics.get("dataset"))
        if "accuracy" in metrics and dataset:  # model-index needs a Hub dataset; else the body says it
            eval_results = [EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset,
                                       metric_type="accuracy", metric_name="Stitched accuracy",
                                       metric_value=round(metrics["accuracy"], 6))]
        bases = [hub_base_model(self.encoder.ref.model_id)]
        if self.decoder is not None:
            bases.append(hub_base_model(self.decoder.ref.model_id))
        bases = list(dict.fromkeys(b for b in bases if b))
        base = bases[0] if len(bases) == 1 else (bases or None)
        licenses = [self.encoder.ref.license, self.head.config.encoder.license if self.head else None]
        data = ModelCardData(library_name="hubstitch", pipeline_tag=task, base_model=base,
                             base_model_relation="adapter" if base else None, license=shared_license(*licenses),
                             eval_results=eval_results, model_name=f"stitched pipeline ({self.shape})",
                             tags=["hubstitch", "stitched-pipeline", f"stitch-{self.shape}"])
        heldout_wer = self.translator.config.metrics.get("heldout_wer") if self.decoder and self.translator else None
        return ModelCard.from_template(data, template_str=template("pipeline.md"), manifest=manifest,
                                       heldout_wer=heldout_wer,
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
            for role in ROLES[shape][1:] if role != "decoder"}
        if "decoder" in stages:
            stage = stages["decoder"]
            local = not is_hub_id(stage["model_id"])
            loaded["decoder"] = Decoder.from_pretrained(
                stage["model_id"], revision=None if local else overrides.get("decoder", stage.get("revision")),
                local_files_only=local_files_only, trust_remote_code=trust_remote_code, device=device,
                **stage.get("generate", {}))
            if local and stage.get("revision") and loaded["decoder"].ref.revision != stage["revision"]:
                raise IncompatibleStagesError(f"the decoder folder {stage['model_id']} now has content "
                                              f"{loaded['decoder'].ref.revision}, not the {stage['revision']} the "
                                              f"pipeline was saved with; fix: restore that folder, or re-save the "
                                              f"pipeline")
        if shape in SHAPE_CLASSES:  # a pipeline kind defined beside this one (pipelines.embedding registers its own)
            pipe = SHAPE_CLASSES[shape](encoder, loaded["translator"], revision_override=bool(overrides))
        elif "decoder" in loaded:
            pipe = cls(encoder, loaded.get("translator"), loaded["decoder"], revision_override=bool(overrides))
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
                                   local_files_only) for role in ROLES[shape][1:] if role != "decoder"}
    translator_config = TranslatorConfig.from_dict(configs["translator"]) if "translator" in configs else None
    if "decoder" in stages:
        stage = stages["decoder"]
        revision = overrides.get("decoder", stage.get("revision"))
        decoder_ref = LatentSpaceRef(model_id=stage["model_id"], revision=revision, modality=stage.get("modality"),
                                     pooling=stage.get("pooling"), layer=-1,
                                     dim=stage.get("dim", 0))
        check_generation_stages(encoder_ref, translator_config, decoder_ref, revision_override=bool(overrides))
        return encoder_ref
    head_config = HeadConfig.from_dict(configs["head"]) if "head" in configs else None
    check_stages(encoder_ref, translator_config, head_config, revision_override=bool(overrides))
    return encoder_ref


def check_generation_stages(encoder: Encoder | LatentSpaceRef, translator: TranslatorConfig | None,
                            decoder: LatentSpaceRef, *, revision_override: bool = False) -> None:
    """Encoder frames == sequence translator source, translator target == the decoder's encoder (or encoder frames
    == the decoder's encoder, natively)."""
    frames = encoder.frames_ref if isinstance(encoder, Encoder) else encoder
    if isinstance(encoder, Encoder) and encoder.modality != "audio":
        raise IncompatibleStagesError(f"{encoder.ref.model_id} is a {encoder.modality} encoder; generating decoders "
                                      f"read audio encoders' frames here; fix: use an audio encoder")
    if translator is None:
        check_same_space(frames, decoder, "encoder", "decoder", revision_override=revision_override)
        return
    if translator.kind != "sequence":
        raise IncompatibleStagesError("a vector translator maps one latent per item; a decoder reads frame sequences; "
                                      "fix: fit a sequence translator (fit_from_encoders(..., sequence=True))")
    check_same_space(frames, translator.source, "encoder", "translator", revision_override=revision_override)
    check_same_space(translator.target, decoder, "translator", "decoder", revision_override=revision_override)


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
    check_metrics(manifest.get("metrics"), str(path))
    for stage in manifest["stages"]:
        if stage.get("kind") not in STAGE_KINDS:
            raise ArtifactError(f"{path}: stage {stage.get('role')!r} has kind {stage.get('kind')!r}; hubstitch "
                                f"resolves only {sorted(STAGE_KINDS)}; fix: re-save the pipeline")
    return path.parent, manifest


def check_metrics(metrics: Any, where: str) -> None:
    """A manifest's ``metrics``: absent, or an object whose ``accuracy`` (a number in [0, 1]), ``n`` (a count) and
    ``dataset`` (a name) have their types; anything else is refused naming the field."""
    import math

    if metrics is None:
        return
    if not isinstance(metrics, dict):
        raise ArtifactError(f"{where}: field 'metrics' is a {type(metrics).__name__}; expected an object (or none); "
                            f"fix: re-save the pipeline, or evaluate it again")
    accuracy, n, dataset = metrics.get("accuracy"), metrics.get("n"), metrics.get("dataset")
    if accuracy is not None and (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))
                                 or not math.isfinite(accuracy) or not 0 <= accuracy <= 1):
        raise ArtifactError(f"{where}: field 'metrics.accuracy' is {accuracy!r}"[:300] + "; expected a number in "
                            "[0, 1]; fix: re-save the pipeline, or evaluate it again")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ArtifactError(f"{where}: field 'metrics.n' is {n!r}"[:300] + "; expected a count; fix: re-save the "
                            "pipeline, or evaluate it again")
    if dataset is not None and not isinstance(dataset, str):
        raise ArtifactError(f"{where}: field 'metrics.dataset' is {dataset!r}"[:300] + "; expected a dataset name; "
                            "fix: re-save the pipeline, or evaluate it again")


def _stage_config(stage: dict[str, Any], root: Path, revision: str | None,
                  local_files_only: bool | None) -> dict[str, Any]:
    location = _stage_location(stage, root)
    if stage.get("path"):
        return read_config(Path(location) / CONFIG_NAME)
    return read_config(Path(hf_hub_download(location, CONFIG_NAME, revision=revision,
                                            local_files_only=bool(local_files_only))))
