"""Commands that fit: ``fit-latents``, ``fit``, ``train-head``, and ``cache`` for the latents they encode.

Example:
    $ hubstitch fit-latents source.safetensors target.npy --method auto --holdout 0.2 --out ./translator
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import HubstitchValueError
from .common import (
    METHOD_CHOICES,
    add_common_options,
    add_engine_options,
    add_format,
    emit_translator_summary,
    finite_float,
    fraction,
    latent_cache,
    load_encoder,
    load_latents,
    positive_int,
    ray_settings,
)

logger = logging.getLogger(__name__)
AUTO_SENTENCES = {None: "auto", 0: None}  # no --anchor-sentences flag: automatic; --no-anchor-sentences: none


def _cmd_fit_latents(args: argparse.Namespace) -> None:
    from ..translators.fit import fit_translator

    options: dict[str, Any] = {}
    if args.alpha is not None:
        options["alpha"] = args.alpha
    if bool(args.unpaired_source) != bool(args.unpaired_target):
        raise HubstitchValueError("--unpaired-source and --unpaired-target go together; fix: give both files")
    if args.unpaired_source:
        options.update(unpaired_source=load_latents(args.unpaired_source),
                       unpaired_target=load_latents(args.unpaired_target))
    translator = fit_translator(load_latents(args.source), load_latents(args.target), method=args.method,
                                holdout=whole_or_fraction(args.holdout), seed=args.seed, source_ref=args.source_id,
                                target_ref=args.target_id, **options)
    translator.save_pretrained(args.out)
    metrics = translator.config.metrics
    emit_translator_summary({"out": str(args.out), "method": translator.config.method,
                             "options": translator.config.options, "n_anchors": translator.config.n_anchors,
                             "n_heldout": metrics.get("n_heldout"), "heldout": metrics.get("heldout")}, args.format)


def _cmd_fit(args: argparse.Namespace) -> None:
    from ..data.anchors import AnchorSet
    from ..workflows.fit import fit_from_encoders

    if args.anchors is None and not (args.unpaired_source and args.unpaired_target):
        raise HubstitchValueError("hubstitch fit needs --anchors, or --unpaired-source and --unpaired-target (or "
                                  "all three); fix: name the anchor dataset or the two unpaired pools")
    if bool(args.unpaired_source) != bool(args.unpaired_target):
        raise HubstitchValueError("--unpaired-source and --unpaired-target go together; fix: give both pools")
    source = load_encoder(args.source, args.source_pooling, args.source_layer, args)
    target = load_encoder(args.target, args.target_pooling, args.target_layer, args)
    common = {"config": args.config, "split": args.split, "revision": args.revision}
    anchors = None if args.anchors is None else AnchorSet.load(
        args.anchors, source_column=args.source_column, target_column=args.target_column,
        label_column=args.label_column, **common)
    unpaired = None
    if args.unpaired_source:  # each pool read like --anchors: the source column, the target column for the target
        unpaired = (AnchorSet.load(args.unpaired_source, source_column=args.source_column, **common),
                    AnchorSet.load(args.unpaired_target, source_column=args.target_column or args.source_column,
                                   **common))
    options: dict[str, Any] = {} if args.alpha is None else {"alpha": args.alpha}
    if args.target_reference:  # read like --unpaired-target, or from --target-reference-column
        options["target_reference"] = AnchorSet.load(
            args.target_reference, source_column=args.target_reference_column or args.target_column
            or args.source_column, **common)
    holdout = whole_or_fraction(args.holdout)
    sequence = args.sequence or args.decoder is not None
    if sequence:
        options.update(context=args.context, refine=args.refine, epochs=args.epochs)
        if args.decoder is not None:
            from ..decoders.decoder import Decoder

            options["decoder"] = Decoder.from_pretrained(args.decoder, trust_remote_code=args.trust_remote_code)
    elif args.transcript_column or args.context or args.refine != "auto":
        raise HubstitchValueError("--transcript-column, --context and --refine apply to sequence translators; fix: "
                                  "add --sequence (two audio encoders, anchor clips)")
    ray = ray_settings(args, args.batch_size)
    if args.latents_out is not None and ray is None:
        raise HubstitchValueError("--latents-out writes the latents a Ray fit encodes; fix: add --engine ray (a local "
                                  "fit keeps its latents in the latent cache)")
    translator = fit_from_encoders(source, target, anchors, n=args.n, selection=args.selection, holdout=holdout,
                                   seed=args.seed, method=args.method, cache=latent_cache(args),
                                   batch_size=args.batch_size, progress=not args.quiet, unpaired=unpaired,
                                   engine=args.engine, ray=ray, latents_out=args.latents_out,
                                   anchor_sentences=AUTO_SENTENCES.get(args.anchor_sentences, args.anchor_sentences),
                                   sequence=sequence, transcript_column=args.transcript_column, **options)
    translator.save_pretrained(args.out)
    config, metrics = translator.config, translator.config.metrics
    emit_translator_summary({"out": str(args.out), "method": config.method, "kind": config.kind,
                             "context": config.context, "options": config.options, "n_anchors": config.n_anchors,
                             "n_heldout": metrics.get("n_heldout"), "heldout": metrics.get("heldout"),
                             "source": vars(config.source), "target": vars(config.target),
                             "anchors": vars(config.anchors), "refinement": config.refinement,
                             "heldout_wer": metrics.get("heldout_wer")}, args.format)


def _cmd_train_head(args: argparse.Namespace) -> None:
    from ..data.anchors import AnchorSet
    from ..data.encoding import encode_set
    from ..heads.head import ClassifierHead

    column = args.text_column or args.image_column or args.audio_column
    encoder = load_encoder(args.encoder, args.pooling, args.layer, args)
    expected = "image" if args.image_column else "audio" if args.audio_column else "text"
    if encoder.modality != expected:
        raise HubstitchValueError(f"--{expected}-column was given but {args.encoder} encodes {encoder.modality}; "
                                  f"fix: pass --{encoder.modality}-column, or a {expected} encoder")
    data = AnchorSet.load(args.dataset, source_column=column, label_column=args.label_column, config=args.config,
                          split=args.split, revision=args.revision)
    if args.n:
        data = data.select(args.n, seed=args.seed, selection="stratified")
    latents = encode_set(encoder, data, "source", latent_cache(args), args.batch_size, progress=not args.quiet)
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
    from ..data.latent_cache import LatentCache

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


def whole_or_fraction(value: float) -> float | int:
    """A --holdout value as the library takes it: a count of 1 or more as an int, a fraction as a float."""
    return int(value) if value >= 1 else value


def _method_options(parser, what: str = "anchors") -> None:
    parser.add_argument("--method", choices=METHOD_CHOICES, default="auto",
                        help="translator method; auto cross-validates methods, options and preprocessing")
    parser.add_argument("--alpha", type=finite_float, default=None,
                        help="ridge alpha for linear / relative / mlp (with auto: fixes it for those candidates)")
    parser.add_argument("--holdout", type=fraction, default=0.2,
                        help=f"fraction (< 1) or count of {what} kept out of the fit for held-out metrics"
                             + ("" if what == "pairs" else "; with --n, a fraction of n plus the held-out part (at "
                                                           "least 100 rows, at most that fraction of all)"))
    parser.add_argument("--seed", type=int, default=0, help="random seed (holdout split, selection, auto's folds)")


def register(sub) -> None:
    """Add this group's commands to the `hubstitch` sub-parsers."""
    fit = sub.add_parser("fit-latents", help="fit a translator on saved parallel latents (.npy / .safetensors)")
    fit.add_argument("source", help="source latents: file.npy, file.safetensors, file.safetensors:key, or "
                                    "FOLDER:source (Parquet written by fit --engine ray --latents-out)")
    fit.add_argument("target", help="target latents, one row per source row")
    fit.add_argument("--out", type=Path, required=True, help="folder to save the translator in")
    _method_options(fit, "pairs")
    fit.add_argument("--source-id", default=None, help="Hub id of the source encoder (recorded in the card)")
    fit.add_argument("--target-id", default=None, help="Hub id of the target encoder (recorded in the card)")
    fit.add_argument("--unpaired-source", default=None, metavar="FILE",
                     help="latents of items only the source encoder saw: pseudo-anchors grow from these pools")
    fit.add_argument("--unpaired-target", default=None, metavar="FILE",
                     help="latents of items only the target encoder saw")
    add_format(fit)
    fit.set_defaults(func=_cmd_fit_latents)

    fit = sub.add_parser("fit", help="fit a translator between two checkpoints on an anchor dataset")
    fit.add_argument("source", help="Hub id or folder, optionally id@revision and :text / :image / :audio")
    fit.add_argument("target", help="Hub id or folder, optionally id@revision and :text / :image / :audio")
    fit.add_argument("--anchors", default=None, help="Hub dataset id, dataset folder, CSV / JSONL / Parquet, a "
                                                       ".lance folder, or an image folder "
                                                       "(paired anchors; leave out for an unsupervised fit)")
    fit.add_argument("--unpaired-source", default=None, metavar="DATASET",
                     help="items seen by the source encoder only (its --source-column): pseudo-anchors grow from "
                          "these and --unpaired-target")
    fit.add_argument("--unpaired-target", default=None, metavar="DATASET",
                     help="items seen by the target encoder only (its --target-column, else --source-column)")
    fit.add_argument("--config", default=None, help="the dataset's configuration (Hub datasets with several)")
    fit.add_argument("--split", default="train", help="dataset split")
    fit.add_argument("--revision", default=None, help="dataset revision (branch, tag or commit)")
    fit.add_argument("--source-column", default="text", help="column the source encoder reads")
    fit.add_argument("--target-column", default=None, help="column the target encoder reads (default: the source "
                                                             "column)")
    fit.add_argument("--label-column", default=None, help="labels, needed by --selection stratified")
    fit.add_argument("--n", type=positive_int, default=None,
                     help="number of anchors (default: all but the held-out part)")
    fit.add_argument("--selection", choices=["random", "stratified", "kmeans", "farthest"], default="random",
                     help="how the n anchors are chosen from the dataset")
    fit.add_argument("--target-reference", default=None, metavar="DATASET",
                     help="items of the domain your decoder was trained on (e.g. a text head's own training "
                          "texts), read by the target encoder: the target anchors are moved to their mean, so the "
                          "outputs land where that decoder reads (image captions as anchors, a head trained on "
                          "product descriptions). Only when both describe the same kind of content")
    fit.add_argument("--target-reference-column", default=None, metavar="C",
                     help="the --target-reference column (default: --target-column, else --source-column)")
    sentences = fit.add_mutually_exclusive_group()
    sentences.add_argument("--anchor-sentences", type=positive_int, nargs="?", const=4, default=None,
                           metavar="MIN_WORDS",
                           help="text -> text: follow each chosen anchor text by all its sentences of MIN_WORDS+ "
                                "words (default 4): many more pairs from the same n texts (the held-out rows stay "
                                "whole). Without this flag the same happens automatically for documents read by "
                                "both encoders (4+ words, at most 8,192 rows)")
    sentences.add_argument("--no-anchor-sentences", dest="anchor_sentences", action="store_const", const=0,
                           help="fit on the whole anchor texts only")
    _method_options(fit)
    fit.add_argument("--source-pooling", default=None, help="pooling of the source (default: the encoder's)")
    fit.add_argument("--target-pooling", default=None, help="pooling of the target (default: the encoder's)")
    fit.add_argument("--source-layer", type=int, default=-1, help="hidden layer the source is read at")
    fit.add_argument("--target-layer", type=int, default=-1, help="hidden layer the target is read at")
    fit.add_argument("--out", type=Path, required=True, help="folder to save the translator in")
    speech = fit.add_argument_group("sequence translators (stitched speech recognition: two audio encoders on one "
                                    "frame grid, anchor clips)")
    speech.add_argument("--sequence", action="store_true",
                        help="map frame sequences for the target checkpoint's generating decoder instead of one "
                             "vector per clip (--method auto then means ridge, tuned by that decoder's loss)")
    speech.add_argument("--decoder", default=None, metavar="ID",
                        help="the generating decoder the map is tuned for (implies --sequence; default: the target "
                             "checkpoint's own)")
    speech.add_argument("--transcript-column", default=None, metavar="C",
                        help="the anchor clips' transcripts; without it the target model's own transcription of "
                             "the clips is what the map is tuned on (clips alone)")
    speech.add_argument("--context", type=int, default=0, metavar="W",
                        help="read each frame with W neighbouring frames on each side (0 to 16)")
    speech.add_argument("--refine", choices=["auto", "decoder", "none"], default="auto",
                        help="tune the map by the decoder's loss (auto: where the target has a decoder)")
    speech.add_argument("--epochs", type=positive_int, default=3, help="passes over the clips when tuning")
    add_common_options(fit)
    add_engine_options(fit, "the anchors' encoding")
    fit.add_argument("--latents-out", type=Path, default=None, metavar="DIR",
                     help="with --engine ray: also write the anchors' latents there as Parquet")
    fit.set_defaults(func=_cmd_fit)

    head = sub.add_parser("train-head", help="train a classifier head on one encoder's latents")
    head.add_argument("encoder", help="Hub id or folder, optionally id@revision and :text / :image / :audio")
    head.add_argument("--dataset", required=True, help="Hub dataset id, dataset folder, CSV / JSONL, or image folder")
    head.add_argument("--config", default=None, help="the dataset's configuration (Hub datasets with several)")
    head.add_argument("--split", default="train", help="dataset split")
    head.add_argument("--revision", default=None, help="dataset revision (branch, tag or commit)")
    columns = head.add_mutually_exclusive_group(required=True)
    columns.add_argument("--text-column", help="the texts to classify (for a text encoder)")
    columns.add_argument("--image-column", help="the images to classify (for an image encoder)")
    columns.add_argument("--audio-column", help="the clips to classify (for an audio encoder)")
    head.add_argument("--label-column", required=True, help="the labels")
    head.add_argument("--n", type=positive_int, default=None, help="train on a stratified sample of n items")
    head.add_argument("--hidden-dim", type=int, default=0, help="hidden units (0: a linear head)")
    head.add_argument("--epochs", type=positive_int, default=300, help="full-batch training epochs")
    head.add_argument("--pooling", default=None, help="pooling (default: the encoder's)")
    head.add_argument("--layer", type=int, default=-1, help="hidden layer the encoder is read at")
    head.add_argument("--seed", type=int, default=0, help="random seed")
    head.add_argument("--out", type=Path, required=True, help="folder to save the head in")
    add_common_options(head)
    head.set_defaults(func=_cmd_train_head)

    cache = sub.add_parser("cache", help="list or clear the latent cache")
    cache.add_argument("cache_command", choices=["ls", "clear"], help="list the entries, or remove them")
    cache.add_argument("--model", default=None, help="clear only this model's entries")
    cache.add_argument("--cache-dir", default=None, help="latent cache folder (default $HUBSTITCH_CACHE or "
                                                          "~/.cache/hubstitch)")
    add_format(cache)
    cache.set_defaults(func=_cmd_cache)
