"""Commands on saved artifacts and the Hub: ``stitch``, ``predict``, ``push``, ``info``, ``search``.

Example:
    $ hubstitch stitch ENCODER TRANSLATOR HEAD --out ./pipeline --push-to-hub me/pipeline
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import HubstitchError, HubstitchValueError
from .common import add_format, encoder_for_space, positive_int

logger = logging.getLogger(__name__)


def _load_head(spec: str, local_files_only: bool | None = None):
    """A hubstitch head folder/repo, or else a Hub classification checkpoint spliced into one."""
    from ..errors import ArtifactError
    from ..heads.head import ClassifierHead
    from ..heads.splice import head_from_classifier

    try:
        return ClassifierHead.from_pretrained(spec, local_files_only=bool(local_files_only))
    except ArtifactError as err:
        if "not a hubstitch classifier head" not in str(err):
            raise
        return head_from_classifier(spec, local_files_only=local_files_only)


def generate_options(args: argparse.Namespace) -> dict[str, Any]:
    """The generation options a command was given (--language, --num-beams, --max-new-tokens)."""
    names = ("language", "num_beams", "max_new_tokens")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _load_decoder(spec: str | None, translator, trust_remote_code: bool, options: dict[str, Any]):
    """The decoder a sequence translator was fitted into: `spec`, or the translator's target checkpoint at its
    pinned revision."""
    from ..decoders.decoder import Decoder
    from ..spaces import is_hub_id

    target = translator.config.target
    name = spec or target.model_id
    if not name:
        raise HubstitchValueError("the translator does not name its target checkpoint; fix: pass the decoder's id")
    revision = target.revision if name == target.model_id and is_hub_id(name) else None
    return Decoder.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code, **options)


def _cmd_stitch(args: argparse.Namespace) -> None:
    from ..pipelines.embedding import StitchedEncoder
    from ..pipelines.pipeline import StitchedPipeline
    from ..translators.translator import Translator

    translator = Translator.from_pretrained(args.translator)
    encoder = encoder_for_space(translator.config.source, args.encoder, args.trust_remote_code)
    options = generate_options(args)
    if translator.kind == "sequence":
        pipe = StitchedPipeline(encoder, translator, _load_decoder(args.head, translator, args.trust_remote_code,
                                                                   options))
    elif options:
        raise HubstitchValueError("--language and --num-beams apply to generating pipelines (a sequence "
                                  "translator and a decoder); fix: drop them")
    elif args.head is None:
        pipe = StitchedEncoder(encoder, translator)
    else:
        pipe = StitchedPipeline(encoder, translator, _load_head(args.head))
    pipe.save_pretrained(args.out)
    summary: dict[str, Any] = {"out": str(args.out), "manifest": pipe.manifest()}
    if args.push_to_hub:
        summary["commit"] = pipe.push_to_hub(args.push_to_hub, private=args.private,
                                             allow_offline_pins=args.allow_offline_pins).oid
        summary["repo_id"] = args.push_to_hub
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(f"pipeline: {args.out}\n" + "".join(
            f"  {st['role']:<10} {st.get('model_id') or st.get('path')} @ {st.get('revision') or '(embedded)'}\n"
            for st in summary["manifest"]["stages"]) + (f"commit: {summary['commit']}\n" if "commit" in summary
                                                         else ""))


def check_inputs(inputs: list[str], modality: str) -> None:
    """Refuse inputs a `modality` pipeline cannot read, naming the input, before any model is loaded."""
    from ..encoders.encoder import MAX_IMAGE_PIXELS

    for i, item in enumerate(inputs, 1):
        if modality == "text":
            if not item.strip():
                raise HubstitchValueError(f"input {i} is empty; expected a text for this text pipeline; fix: drop it")
            continue
        path = Path(item)
        kind = "an audio file (WAV, FLAC)" if modality == "audio" else "an image path"
        if not path.is_file():
            raise HubstitchValueError(f"input {i} ({item[:80]!r}) is not a file; expected {kind} for this "
                                      f"{modality} pipeline; fix: pass paths of "
                                      f"{'WAV or FLAC' if modality == 'audio' else 'PNG or JPEG'} files")
        if modality == "audio":
            _check_audio(path, i, item)
            continue
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                pixels = image.width * image.height
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise HubstitchValueError(f"input {i} ({item[:80]!r}) is not a readable image ({type(err).__name__}); "
                                      f"fix: pass a PNG or JPEG file") from None
        if pixels > MAX_IMAGE_PIXELS:
            raise HubstitchValueError(f"input {i} ({item[:80]!r}) has {pixels:,} pixels; the limit is "
                                      f"{MAX_IMAGE_PIXELS:,}; fix: downscale it first")


def _check_audio(path: Path, i: int, item: str) -> None:
    from ..encoders.audio import AudioError, to_waveform

    try:
        to_waveform(path, i - 1, 16000)
    except AudioError as err:
        raise HubstitchValueError(f"input {i} ({item[:80]!r}) is not a readable audio file ({err}); fix: pass a WAV "
                                  f"or FLAC file") from None


def _cmd_predict(args: argparse.Namespace) -> None:
    from ..pipelines.pipeline import StitchedPipeline, _read_manifest

    _, manifest = _read_manifest(args.pipeline, args.revision, None)
    encoder_stage = next((s for s in manifest["stages"] if s.get("role") == "encoder"), {})
    check_inputs(args.inputs, encoder_stage.get("modality") or "text")  # before any weights load
    pipe = StitchedPipeline.from_pretrained(args.pipeline, revision=args.revision,
                                            trust_remote_code=args.trust_remote_code)
    if pipe.shape == "embedding":
        vectors = pipe.encode(list(args.inputs), batch_size=args.batch_size)
        if args.format == "json":
            sys.stdout.write(json.dumps([{"input": i, "vector": v} for i, v in zip(args.inputs, vectors.tolist(),
                                                                                   strict=True)]) + "\n")
            return
        space = pipe.space
        sys.stdout.write(f"vectors {tuple(vectors.shape)} in the space of {space.model_id}@{space.revision}\n")
        for item, vector in zip(args.inputs, vectors.tolist(), strict=True):
            preview = ", ".join(f"{v:+.4f}" for v in vector[:5])
            sys.stdout.write(f"{item[:60]}\t[{preview}, ...]\n")
        return
    if pipe.decoder is not None:
        answers = pipe(list(args.inputs), batch_size=args.batch_size, **generate_options(args))
        if args.format == "json":
            sys.stdout.write(json.dumps([{"input": i, **a} for i, a in zip(args.inputs, answers, strict=True)],
                                        indent=2) + "\n")
            return
        for item, answer in zip(args.inputs, answers, strict=True):
            sys.stdout.write(f"{item[:60]}\t{answer['text']}\n")
        return
    if generate_options(args):
        raise HubstitchValueError("--language, --num-beams and --max-new-tokens apply to generating pipelines; fix: "
                                  "drop them")
    predictions = pipe(list(args.inputs), top_k=args.top_k, batch_size=args.batch_size)
    if args.format == "json":
        sys.stdout.write(json.dumps([{"input": i, "predictions": p} for i, p in zip(args.inputs, predictions,
                                                                                    strict=True)], indent=2) + "\n")
        return
    for item, top in zip(args.inputs, predictions, strict=True):
        labels = ", ".join(f"{p['label']} ({p['score']:.3f})" for p in top)
        sys.stdout.write(f"{item[:60]}\t{labels}\n")


def _cmd_push(args: argparse.Namespace) -> None:
    from ..errors import ArtifactError
    from ..hub.artifact_io import read_config
    from ..hub.client import upload_folder

    repo_id, folder = args.repo_id, Path(args.folder)
    if Path(repo_id).is_dir() and not folder.is_dir():  # the order before 2026-12: push FOLDER REPO_ID
        logger.warning("`hubstitch push FOLDER REPO_ID` is the old order; pushing %s to %s; write `hubstitch push "
                       "%s %s` (the order of `hf upload REPO_ID LOCAL_PATH`)", repo_id, folder, folder, repo_id)
        repo_id, folder = str(folder), Path(repo_id)
    config_path = folder / "config.json"
    if not config_path.is_file() or read_config(config_path).get("library_name") != "hubstitch":
        raise ArtifactError(f"{folder} is not a saved hubstitch artifact (no config.json with library_name "
                            f"hubstitch); fix: push a folder written by save_pretrained or `hubstitch fit/stitch`")
    info = upload_folder(folder, repo_id, private=args.private or None, branch=args.branch,
                         create_pr=args.create_pr, commit_message=args.message, token=args.token,
                         allow_offline_pins=args.allow_offline_pins)
    result = {"repo_id": repo_id, "commit": info.oid, "commit_url": info.commit_url, "pr_url": info.pr_url}
    sys.stdout.write(json.dumps(result) + "\n" if args.format == "json" else f"{info.oid}\n")


def _cmd_info(args: argparse.Namespace) -> None:
    from ..heads.config import HeadConfig
    from ..heads.head import ClassifierHead
    from ..hub.artifact_io import read_config
    from ..pipelines.pipeline import STAGE_KINDS, _read_manifest, _stage_location, check_manifest
    from ..translators.config import TranslatorConfig
    from ..translators.translator import Translator

    source = args.repo_or_dir
    if Path(source).is_dir():
        config = read_config(Path(source) / "config.json")
    else:
        from huggingface_hub import hf_hub_download

        config = read_config(Path(hf_hub_download(source, "config.json", revision=args.revision)))
    info: dict[str, Any] = {"source": source}
    if config.get("artifact") == "stitched-pipeline":
        root, manifest = _read_manifest(source, args.revision, None)
        try:
            check_manifest(root, manifest)
            verdict = "compatible"
        except HubstitchError as err:
            verdict = f"incompatible: {err}"
        for stage in manifest["stages"]:  # the small stages' weights are read and checked (encoders are not loaded)
            if stage["kind"] in ("translator", "classifier-head") and stage.get("path"):
                STAGE_KINDS[stage["kind"]].from_pretrained(_stage_location(stage, root))
        info.update(kind="stitched-pipeline", shape=manifest["shape"], stages=manifest["stages"], verdict=verdict,
                    labels=manifest.get("labels"))
    elif config.get("artifact") == "classifier-head":
        head = HeadConfig.from_dict(config)
        ClassifierHead.from_pretrained(source, revision=args.revision)  # its weights: readable, finite, as declared
        info.update(kind="classifier-head", encoder=vars(head.encoder), labels=head.labels,
                    input_space=head.input_space)
    else:
        translator = TranslatorConfig.from_dict(config, origin=source)
        Translator.from_pretrained(source, revision=args.revision)  # its weights: readable, finite, as declared
        info.update(kind="translator" if translator.kind == "vector" else "sequence translator",
                    method=translator.method, source_space=vars(translator.source),
                    target_space=vars(translator.target), metrics=translator.metrics.get("heldout", {}))
        if translator.kind == "sequence":
            info.update(context=translator.context, tuned_by=(translator.refinement or {}).get("objective"),
                        heldout_wer=translator.metrics.get("heldout_wer"))
    if args.format == "json":
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
        return
    sys.stdout.write(_readable(info))


def _readable(info: dict[str, Any]) -> str:
    """`hubstitch info` for people: stages as rows, spaces as one line each, metrics as name value pairs."""
    lines = []
    for key, value in info.items():
        if key == "stages":
            lines += [f"stage {st['role']:<10} {st['kind']:<16} {st.get('model_id') or st.get('path')} @ "
                      f"{st.get('revision') or '(embedded)'}" for st in value]
        elif isinstance(value, dict) and key == "metrics":
            lines.append("held-out metrics:" + ("" if value else " (none recorded)"))
            lines += [f"  {name:<11}{float(number):.4f}" for name, number in value.items()]
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
            lines.append(f"{key.replace('_', ' ')}: {shown}")
        elif isinstance(value, list):
            lines.append(f"{key}: {', '.join(map(str, value))}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def _cmd_search(args: argparse.Namespace) -> None:
    from ..translators.search import published_translators, shortest_chain

    translators = published_translators()
    if args.target:
        chain = shortest_chain(translators, args.source, args.target)
        result: Any = {"source": args.source, "target": args.target, "chain": chain}
    else:
        result = [t for t in translators if t["source"] == args.source]
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    rows = (result["chain"] or []) if args.target else result
    if args.target and not rows:
        sys.stdout.write(f"no chain of published translators from {args.source} to {args.target}\n")
    for t in rows:
        sys.stdout.write(f"{t['repo_id']}@{t['revision']}\t{t['source']} -> {t['target']}\t{t['method']}\n")


def _generation_options(parser, scope: str) -> None:
    group = parser.add_argument_group(f"generating pipelines (speech recognition), {scope}")
    group.add_argument("--language", default=None, help="the decoder's language token, e.g. en (multilingual "
                                                        "checkpoints; English-only ones take none)")
    group.add_argument("--num-beams", type=positive_int, default=None, help="beam search width (default: greedy)")
    group.add_argument("--max-new-tokens", type=positive_int, default=None, help="longest transcription, in tokens")


def register(sub) -> None:
    """Add this group's commands to the `hubstitch` sub-parsers."""
    pins_help = ("push even if the artifact pins checkpoints that exist only on this machine's offline shelf (it "
                 "will not load from the Hub as it is)")
    stitch = sub.add_parser("stitch", help="compose encoder -> translator -> head into a stitched pipeline (without "
                                           "a head: an embedding pipeline, vectors in the translator's target space)")
    stitch.add_argument("encoder", help="Hub id or folder (revision, pooling and modality default to the "
                                        "translator's source)")
    stitch.add_argument("translator", help="translator folder or Hub repo")
    stitch.add_argument("head", nargs="?", default=None,
                        help="head folder or Hub repo, or a Hub classification checkpoint; leave out for an "
                             "embedding pipeline. With a sequence translator: the generating decoder's checkpoint "
                             "(default: the translator's target, at its pinned revision)")
    _generation_options(stitch, "the pipeline's defaults")
    stitch.add_argument("--out", type=Path, required=True, help="folder to save the pipeline in")
    stitch.add_argument("--push-to-hub", default=None, metavar="REPO", help="also upload it (one commit)")
    stitch.add_argument("--private", action="store_true", help="create the Hub repo private")
    stitch.add_argument("--allow-offline-pins", action="store_true", help=pins_help)
    stitch.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints' own code (unsafe)")
    add_format(stitch)
    stitch.set_defaults(func=_cmd_stitch)

    predict = sub.add_parser("predict", help="run a stitched pipeline on texts, image paths or audio files (an "
                                             "embedding pipeline prints its vectors' shape and a preview; --format "
                                             "json all; a generating pipeline transcribes)")
    predict.add_argument("pipeline", help="pipeline folder or Hub repo")
    predict.add_argument("inputs", nargs="+", help="texts, or image paths for an image encoder")
    predict.add_argument("--top-k", type=positive_int, default=1, help="labels per input")
    predict.add_argument("--revision", default=None, help="pipeline revision (branch, tag or commit)")
    predict.add_argument("--batch-size", type=positive_int, default=32, help="inputs per forward pass")
    predict.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints' own code (unsafe)")
    _generation_options(predict, "for this run")
    add_format(predict)
    predict.set_defaults(func=_cmd_predict)

    push = sub.add_parser("push", help="upload a saved artifact folder in one commit; prints the commit SHA")
    push.add_argument("repo_id", help="the Hub repo, user/name (created if missing); first, as in `hf upload`")
    push.add_argument("folder", help="a folder written by save_pretrained or a hubstitch command")
    push.add_argument("--token", default=None, help="a Hub token with write access (default: the logged-in one, or "
                                                    "$HF_TOKEN)")
    push.add_argument("--private", action="store_true", help="create the Hub repo private")
    push.add_argument("--branch", default=None, help="branch to commit to (created if missing)")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    push.add_argument("--message", default="Upload with hubstitch", help="commit message")
    push.add_argument("--allow-offline-pins", action="store_true", help=pins_help)
    add_format(push)
    push.set_defaults(func=_cmd_push)

    info = sub.add_parser("info", help="what an artifact is: stages, pins, compatibility verdict")
    info.add_argument("repo_or_dir", help="a folder, or a Hub repo id")
    info.add_argument("--revision", default=None, help="revision of a Hub repo (branch, tag or commit)")
    add_format(info)
    info.set_defaults(func=_cmd_info)

    search = sub.add_parser("search", help="published translators from SOURCE, or the shortest chain to TARGET")
    search.add_argument("source", help="Hub id of the source encoder")
    search.add_argument("target", nargs="?", default=None, help="Hub id of the target encoder")
    add_format(search)
    search.set_defaults(func=_cmd_search)
