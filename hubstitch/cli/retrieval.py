"""Commands for retrieval across models: ``export-st``, ``index build / query / migrate``, ``gate``.

Example:
    $ hubstitch index build sentence-transformers/all-MiniLM-L6-v2 ./news.jsonl --column text --db ./db --table news
    $ hubstitch index migrate --db ./db --table news --translator ./minilm-to-mpnet --to-table news_mpnet
    $ hubstitch gate ./minilm-to-mpnet --anchors ./held-out-pairs.jsonl --min-recall 0.9
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
    add_common_options,
    add_engine_options,
    add_format,
    encoder_for_space,
    latent_cache,
    load_encoder,
    positive_int,
    ray_settings,
)

logger = logging.getLogger(__name__)


def _cmd_export_st(args: argparse.Namespace) -> None:
    from ..pipelines.embedding import StitchedEncoder
    from ..translators.translator import Translator

    translator = Translator.from_pretrained(args.translator)
    if not translator.config.source.model_id or not translator.config.target.model_id:
        logger.warning("the translator records no source or target model (fitted on bare latents), so %s is taken "
                       "on trust as its source and the export's space cannot be named; fix: fit it with "
                       "--source-id / --target-id", args.encoder)
    encoder = encoder_for_space(translator.config.source, args.encoder, args.trust_remote_code)
    folder = StitchedEncoder(encoder, translator).to_sentence_transformers(args.out, repo_id=args.push_to_hub)
    summary: dict[str, Any] = {"out": str(folder), "space": vars(translator.config.target)}
    if args.push_to_hub:
        from ..hub.client import upload_folder

        check_push_source(encoder.ref, args.allow_offline_pins)
        info = upload_folder(folder, args.push_to_hub, private=args.private or None,
                             commit_message="Upload sentence-transformers export with hubstitch")
        summary.update(repo_id=args.push_to_hub, commit=info.oid)
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    sys.stdout.write(f"sentence-transformers folder: {folder}\nvectors in the space of "
                     f"{translator.config.target.model_id} ({translator.config.target.dim} dimensions)\n"
                     + (f"commit: {summary['commit']}\n" if "commit" in summary else ""))


def check_push_source(space, allow: bool) -> None:
    """The export's config.json is the transformer's: check the source space itself against the offline pins."""
    from ..hub.offline_pins import OfflinePinError, offline_pins_in

    found = offline_pins_in({"source": {"model_id": space.model_id, "revision": space.revision}})
    if found and not allow:
        raise OfflinePinError(f"the source {space.model_id}@{space.revision} exists only on this machine's offline "
                              f"shelf ({found[0]['reason']}); nothing was uploaded; fix: export from the Hub "
                              f"checkpoint, or pass --allow-offline-pins")


def _cmd_index_build(args: argparse.Namespace) -> None:
    from ..data.anchors import AnchorSet
    from ..index import lancedb_store

    encoder = load_encoder(args.encoder, args.pooling, args.layer, args)
    data = AnchorSet.load(args.dataset, source_column=args.column, config=args.config, split=args.split,
                          revision=args.revision)
    if args.n:
        data = data.select(args.n, seed=0)
    items = data.source_items()
    ids = data.column(args.id_column) if args.id_column else data.rows()
    rows = lancedb_store.build(encoder, items, args.db, args.table, ids=ids,
                               texts=items if encoder.modality == "text" else None, batch_size=args.batch_size,
                               progress=not args.quiet)
    _emit({"db": str(args.db), "table": args.table, "rows": rows, "space": vars(encoder.ref)}, args.format)


def _cmd_index_query(args: argparse.Namespace) -> None:
    from ..index import lancedb_store

    if bool(args.encoder) == bool(args.pipeline):
        raise HubstitchValueError("index query needs one of --encoder (the table's own model) or --pipeline (a "
                                  "stitched encoder into the table's space); fix: pass exactly one")
    if args.pipeline:
        from ..pipelines.pipeline import StitchedPipeline

        pipe = StitchedPipeline.from_pretrained(args.pipeline, trust_remote_code=args.trust_remote_code)
        if pipe.shape != "embedding":
            raise HubstitchValueError(f"{args.pipeline} is a {pipe.shape!r} pipeline; expected an embedding one "
                                      f"(encoder + translator); fix: hubstitch stitch ENCODER TRANSLATOR --out DIR")
        vectors, space, who = pipe.encode(list(args.queries)), pipe.space, "stitched encoder"
    else:
        encoder = load_encoder(args.encoder, args.pooling, args.layer, args)
        vectors, space, who = encoder.encode(list(args.queries), progress=False), encoder.ref, "query encoder"
    results = lancedb_store.search(args.db, args.table, vectors, space, k=args.k, who=who)
    if args.format == "json":
        sys.stdout.write(json.dumps([{"query": q, "hits": h} for q, h in zip(args.queries, results, strict=True)],
                                    indent=2) + "\n")
        return
    for query, hits in zip(args.queries, results, strict=True):
        sys.stdout.write(f"query: {query}\n" + "".join(f"  {h['score']:.3f}\t{h['id']}\t{one_line(h['text'], 80)}\n"
                                                        for h in hits))


def _cmd_index_migrate(args: argparse.Namespace) -> None:
    from ..index import lancedb_store
    from ..translators.translator import Translator

    ray = ray_settings(args)
    translator = Translator.from_pretrained(args.translator)
    if ray is not None:
        from ..engines.ray_migrate import migrate_on_ray

        summary = migrate_on_ray(args.db, args.table, translator, args.to_table, ray, batch_size=args.batch_size,
                                 progress=not args.quiet)
    else:
        summary = lancedb_store.migrate(args.db, args.table, translator, args.to_table, batch_size=args.batch_size,
                                        progress=not args.quiet)
    _emit(summary, args.format)


def _cmd_gate(args: argparse.Namespace) -> int:
    from ..data.anchors import AnchorSet
    from ..data.encoding import encode_set
    from ..metrics import relevance
    from ..translators.translator import Translator

    translator = Translator.from_pretrained(args.translator)
    config = translator.config
    source = encoder_for_space(config.source, args.source, args.trust_remote_code)
    target = encoder_for_space(config.target, args.target, args.trust_remote_code)
    pairs = AnchorSet.load(args.anchors, source_column=args.source_column, target_column=args.target_column,
                           config=args.config, split=args.split, revision=args.revision)
    if args.n:
        pairs = pairs.select(args.n, seed=0)
    if args.k >= len(pairs):
        raise HubstitchValueError(f"--k {args.k} with {len(pairs)} held-out pairs: every item is among its {args.k} "
                                  f"nearest, so recall@{args.k} is 1.0 whatever the translator; expected k below "
                                  f"the number of pairs; fix: pass more pairs (at least 10 x k), or a smaller --k")
    cache = latent_cache(args)
    xs = encode_set(source, pairs, "source", cache, args.batch_size, progress=not args.quiet)
    xt = encode_set(target, pairs, "target", cache, args.batch_size, progress=not args.quiet)
    result = relevance(translator(xs), xt, [{i} for i in range(len(xt))], ks=sorted({1, args.k}))
    recall = result[f"recall@{args.k}"]
    passed = recall >= args.min_recall
    summary = {"translator": args.translator, "pairs": len(xt), **result, "min_recall": args.min_recall,
               "passed": passed}
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(f"{len(xt)} held-out pairs: recall@{args.k} {recall:.4f} (threshold {args.min_recall}), "
                         f"recall@1 {result['recall@1']:.4f}, nDCG@10 {result['ndcg@10']:.4f}, "
                         f"MRR {result['mrr']:.4f}\n{'PASS' if passed else 'FAIL'}\n")
    if not passed:
        sys.stderr.write(f"hubstitch gate: recall@{args.k} {recall:.4f} is below --min-recall {args.min_recall}\n")
    return 0 if passed else 1


def one_line(text: str, width: int) -> str:
    """`text` on one line (newlines and runs of blanks as one space), cut to `width` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _emit(summary: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        sys.stdout.write("".join(f"{key}: {value}\n" for key, value in summary.items()))


def unit_interval(value: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number in [0, 1]")
    return number


def _dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="the dataset's configuration (Hub datasets with several)")
    parser.add_argument("--split", default="train", help="dataset split")
    parser.add_argument("--revision", default=None, help="dataset revision")
    parser.add_argument("--n", type=positive_int, default=None, help="use a random sample of n rows")


def register(sub) -> None:
    """Add ``export-st``, ``index`` and ``gate`` to the `hubstitch` sub-parsers."""
    export = sub.add_parser("export-st", help="write ENCODER + TRANSLATOR as a plain sentence-transformers folder "
                                              "(vectors in the translator's target space)")
    export.add_argument("encoder", help="Hub id or folder of the translator's source encoder")
    export.add_argument("translator", help="translator folder or Hub repo (orthogonal, affine or linear)")
    export.add_argument("--out", type=Path, required=True, help="a new folder")
    export.add_argument("--push-to-hub", default=None, metavar="REPO", help="also upload it (one commit)")
    export.add_argument("--private", action="store_true", help="create the Hub repo private")
    export.add_argument("--allow-offline-pins", action="store_true",
                        help="push even if the source is a checkpoint found only on this machine's offline shelf")
    export.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints' own code (unsafe)")
    add_format(export)
    export.set_defaults(func=_cmd_export_st)

    index = sub.add_parser("index", help="a LanceDB vector index: build, query across models, migrate")
    verbs = index.add_subparsers(dest="index_command", required=True)
    build = verbs.add_parser("build", help="encode a dataset column into a new table")
    build.add_argument("encoder", help="Hub id or folder, optionally id@revision and :text / :image / :audio")
    build.add_argument("dataset", help="Hub dataset id, dataset folder, CSV / JSONL, or image folder")
    build.add_argument("--column", default="text", help="the column to encode")
    build.add_argument("--id-column", default=None, help="ids to store (default: row numbers)")
    build.add_argument("--db", required=True, help="LanceDB folder")
    build.add_argument("--table", required=True, help="new table name")
    build.add_argument("--pooling", default=None, help="pooling (default: the encoder's)")
    build.add_argument("--layer", type=int, default=-1, help="hidden layer to read")
    _dataset_options(build)
    add_common_options(build)
    build.set_defaults(func=_cmd_index_build)

    query = verbs.add_parser("query", help="search a table with its own encoder or a stitched one")
    query.add_argument("queries", nargs="+", help="query texts")
    query.add_argument("--db", required=True, help="LanceDB folder")
    query.add_argument("--table", required=True, help="table name")
    query.add_argument("--encoder", default=None, help="an encoder of the table's own space")
    query.add_argument("--pipeline", default=None, help="an embedding pipeline whose translator maps into the "
                                                        "table's space (hubstitch stitch ENCODER TRANSLATOR)")
    query.add_argument("--k", type=positive_int, default=10, help="hits per query")
    query.add_argument("--pooling", default=None, help="pooling of --encoder (default: the encoder's)")
    query.add_argument("--layer", type=int, default=-1, help="hidden layer of --encoder")
    add_common_options(query)
    query.set_defaults(func=_cmd_index_query)

    migrate = verbs.add_parser("migrate", help="translate a table's vectors into another model's space as a new "
                                               "table (no re-encoding; published only when complete)")
    migrate.add_argument("--db", required=True, help="LanceDB folder (local)")
    migrate.add_argument("--table", required=True, help="the table to read (never modified)")
    migrate.add_argument("--translator", required=True, help="translator folder or Hub repo from the table's space")
    migrate.add_argument("--to-table", required=True, help="the new table")
    migrate.add_argument("--batch-size", type=positive_int, default=8192, help="rows per batch")
    add_engine_options(migrate, "the migration")
    add_format(migrate)
    migrate.set_defaults(func=_cmd_index_migrate)

    gate = sub.add_parser("gate", help="evaluate a translator on held-out pairs; exit 1 below --min-recall")
    gate.add_argument("translator", help="translator folder or Hub repo")
    gate.add_argument("--anchors", required=True, help="held-out pairs: Hub dataset id, folder, CSV / JSONL")
    gate.add_argument("--source-column", default="text", help="column the source encoder reads")
    gate.add_argument("--target-column", default=None, help="column the target encoder reads (default: the same)")
    gate.add_argument("--source", default=None, help="source encoder (default: the translator's, pinned)")
    gate.add_argument("--target", default=None, help="target encoder (default: the translator's, pinned)")
    gate.add_argument("--min-recall", type=unit_interval, default=0.9, help="the recall@k that passes")
    gate.add_argument("--k", type=positive_int, default=10, help="recall@k: is an item's own target in its k nearest?")
    _dataset_options(gate)
    add_common_options(gate)
    gate.set_defaults(func=_cmd_gate)
