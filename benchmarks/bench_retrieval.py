"""Retrieval across models, offline on the shelf: translated queries, migrated indexes, and a streamed migration.

1. BBC News title -> article: the first line of each article is its title; query = the title, documents = the
   bodies (texts after the title, truncated to 128 tokens as in bench_stitching), one relevant body per title.
   1,000 articles are queried (their bodies are the collection); anchors come from the other 1,225 articles
   (each anchor article gives two pairs: its title and its body). all-MiniLM-L6-v2 <-> all-mpnet-base-v2, both
   directions (A = the query model, B = the index model): native B (queries and bodies by B), native A, absolute
   (A's queries zero-padded / truncated against B's bodies, no translator), translated queries (A -> B) against
   B's index, and A's index migrated into B's space queried natively by B. N in {64, 256, 1024} anchor articles,
   3 draws; translators fitted with the defaults (`auto`). nDCG@10, recall@10, MRR.
2. Fashion-MNIST caption -> image: MiniLM caption latents translated into MobileNetV2's image space (translators
   fitted on N image-caption anchor pairs), searching 2,000 test images; a caption's relevant documents are all
   test images of its class. Beside: the mean anchor image of each class as the query (image -> image, no text).
3. Migration at scale: 1e5 and 1e6 random 384-d vectors in a LanceDB table, migrated to 768-d through an
   orthogonal translator, each in a child process: rows/s and peak RSS (bounded memory: the peak does not grow
   with the table).
4. The ceiling: `orthogonal`, `linear` and `mlp` translators fitted on every pair the pool offers (with and
   without the indexed bodies themselves), and oracles fitted in sample on the scored titles and bodies: where
   the translation error comes from (the queries' own pairs, not the amount of data or the map's family).

Run:  python benchmarks/bench_retrieval.py [--quick] [--rows 1000000] [--only migration ...]
Needs: `hubstitch[index]` (LanceDB), the shelf (installed by this script), matplotlib.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

logger = logging.getLogger("bench_retrieval")
RESULTS = Path(__file__).parent / "results"
MINILM, MPNET = "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"
SHORT = {MINILM: "MiniLM", MPNET: "MPNet"}
MAX_LENGTH, QUERIED, NS, DRAWS = 128, 1000, (64, 256, 1024), 3
QUOTED = [
    {"source": "isotrieve (its README)", "setup": "ridge adapter all-MiniLM-L6-v2 -> bge-large, SciFact",
     "figure": "0.871 of native nDCG@10"},
    {"source": "embedding-adapters (its README)", "setup": "all-MiniLM-L6-v2 + adapter into a larger model's space",
     "figure": "93-96% of the larger model's recall"},
]


def _split_titles(texts: list[str]) -> tuple[list[str], list[str]]:
    from hubstitch.shelf.datasets import body, title

    return [title(t) for t in texts], [body(t) or title(t) for t in texts]


def text_latents(shelf_data, cache) -> dict:
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.encoders.encoder import Encoder

    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    titles, bodies = _split_titles(articles.source_items())
    latents = {}
    for model_id in (MINILM, MPNET):
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        encoder.max_length = MAX_LENGTH
        for name, texts in (("titles", titles), ("bodies", bodies)):
            start = time.perf_counter()
            latents[model_id, name] = cache.get_or_encode(
                encoder.ref, articles.provenance.fingerprint, f"{name}[max_length={MAX_LENGTH}]", articles.rows(),
                lambda texts=texts, encoder=encoder: encoder.encode(texts, batch_size=32))
            logger.info("%s %s: %s in %.1f s", SHORT[model_id], name, tuple(latents[model_id, name].shape),
                        time.perf_counter() - start)
    order = torch.randperm(len(titles), generator=torch.Generator().manual_seed(0))
    return {"latents": latents, "queried": order[:QUERIED], "anchor_pool": order[QUERIED:]}


def _pad(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, dim - x.shape[1])) if x.shape[1] < dim else x[:, :dim]


def title_to_article(data: dict, ns=NS, draws: int = DRAWS) -> list[dict]:
    import hubstitch
    from hubstitch.metrics import relevance

    lat, queried, pool = data["latents"], data["queried"], data["anchor_pool"]
    relevant = [{i} for i in range(len(queried))]
    rows = []
    for a, b in ((MINILM, MPNET), (MPNET, MINILM)):
        pair = f"{SHORT[a]} queries -> {SHORT[b]} index"
        qa, qb = lat[a, "titles"][queried], lat[b, "titles"][queried]
        da, db = lat[a, "bodies"][queried], lat[b, "bodies"][queried]
        native_b, native_a = relevance(qb, db, relevant), relevance(qa, da, relevant)
        absolute = relevance(_pad(qa, qb.shape[1]), db, relevant)
        logger.info("%s: native %.3f (A native %.3f), absolute %.3f", pair, native_b["ndcg@10"],
                    native_a["ndcg@10"], absolute["ndcg@10"])
        for n in ns:
            translated, migrated, chosen = [], [], []
            for draw in range(draws):
                anchors = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(draw))[:n]]
                x = torch.cat([lat[a, "titles"][anchors], lat[a, "bodies"][anchors]])
                y = torch.cat([lat[b, "titles"][anchors], lat[b, "bodies"][anchors]])
                translator = hubstitch.fit_translator(x, y, seed=draw)
                chosen.append(f"{translator.config.method} {translator.config.options['source_preprocessing']}")
                translated.append(relevance(translator(qa), db, relevant))
                migrated.append(relevance(qb, translator(da), relevant))
            rows.append({"pair": pair, "n": n, "native": native_b, "native_query_model": native_a,
                         "absolute": absolute, "chosen": chosen,
                         **{kind: {m: statistics.fmean(r[m] for r in runs) for m in runs[0]}
                            for kind, runs in (("translated_queries", translated), ("migrated_index", migrated))}})
            r = rows[-1]
            logger.info("%s N=%d: translated queries %.3f (%.3f of native), migrated index %.3f (%.3f)", pair, n,
                        r["translated_queries"]["ndcg@10"], r["translated_queries"]["ndcg@10"] / native_b["ndcg@10"],
                        r["migrated_index"]["ndcg@10"], r["migrated_index"]["ndcg@10"] / native_b["ndcg@10"])
    return rows


def pool_sentences(shelf_data, cache, data: dict) -> dict:
    """Every sentence (4+ words) of the anchor-pool articles' bodies, encoded by both models: more pairs from the
    same articles (split as `hubstitch fit --anchor-sentences` splits). Returns {"owner": the pool article of each
    sentence, model_id: latents}."""
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.data.sentences import split_sentences
    from hubstitch.encoders.encoder import Encoder

    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    _, bodies = _split_titles(articles.source_items())
    sentences, owner = [], []
    for i in data["anchor_pool"].tolist():
        for sentence in split_sentences(bodies[i], min_words=4):
            sentences.append(sentence)
            owner.append(i)
    out = {"owner": torch.tensor(owner)}
    for model_id in (MINILM, MPNET):
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        encoder.max_length = MAX_LENGTH
        column = f"pool-sentences[seed=0,min_words=4,max_length={MAX_LENGTH}]"
        out[model_id] = cache.get_or_encode(
            encoder.ref, articles.provenance.fingerprint, column, list(range(len(sentences))),
            lambda encoder=encoder: encoder.encode(sentences, batch_size=64))
        logger.info("%s: %d pool sentences", SHORT[model_id], len(sentences))
    return out


def anchor_recipes(data: dict, sentences: dict, ns=NS, draws: int = DRAWS) -> list[dict]:
    """The same anchor articles, four ways: title + body pairs or title + body + every sentence, fitted by `auto`
    or by `orthogonal`; nDCG@10 of translated queries and of the migrated index, as fractions of native."""
    import hubstitch
    from hubstitch.metrics import relevance

    lat, queried, pool = data["latents"], data["queried"], data["anchor_pool"]
    relevant = [{i} for i in range(len(queried))]
    rows = []
    for a, b in ((MINILM, MPNET), (MPNET, MINILM)):
        qa, qb = lat[a, "titles"][queried], lat[b, "titles"][queried]
        da, db = lat[a, "bodies"][queried], lat[b, "bodies"][queried]
        native = relevance(qb, db, relevant)["ndcg@10"]
        for n in ns:
            for with_sentences in (False, True):
                for method in ("auto", "orthogonal"):
                    translated, migrated, pairs = [], [], 0
                    for draw in range(draws):
                        anchors = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(draw))[:n]]
                        x = [lat[a, "titles"][anchors], lat[a, "bodies"][anchors]]
                        y = [lat[b, "titles"][anchors], lat[b, "bodies"][anchors]]
                        if with_sentences:
                            mask = torch.isin(sentences["owner"], anchors)
                            x.append(sentences[a][mask])
                            y.append(sentences[b][mask])
                        x, y = torch.cat(x), torch.cat(y)
                        pairs += len(x)
                        translator = hubstitch.fit_translator(x, y, method=method, seed=draw)
                        translated.append(relevance(translator(qa), db, relevant)["ndcg@10"] / native)
                        migrated.append(relevance(qb, translator(da), relevant)["ndcg@10"] / native)
                    rows.append({"pair": f"{SHORT[a]} -> {SHORT[b]}", "n": n, "sentences": with_sentences,
                                 "method": method, "pairs": pairs / draws,
                                 "translated_of_native": statistics.fmean(translated),
                                 "migrated_of_native": statistics.fmean(migrated)})
                    logger.info("%s", rows[-1])
    return rows


def ceiling(data: dict, sentences: dict) -> list[dict]:
    """What a translator fitted on pairs of these two models reaches here, out of sample and in sample.

    Out of sample (no queried title is ever a pair): every pair the anchor pool offers (all 1,225 pool articles'
    titles, bodies and sentences), then the same plus the 1,000 indexed bodies themselves (the collection
    re-encoded by both models). In sample (ORACLES, fitted on what is scored): the queried articles' own titles and
    bodies alone, and those with every pool pair. `orthogonal`, `linear` and the non-linear `mlp`, each once."""
    import hubstitch
    from hubstitch.metrics import relevance

    lat, queried, pool = data["latents"], data["queried"], data["anchor_pool"]
    relevant = [{i} for i in range(len(queried))]
    rows = []
    for a, b in ((MINILM, MPNET), (MPNET, MINILM)):
        qa, qb, db = lat[a, "titles"][queried], lat[b, "titles"][queried], lat[b, "bodies"][queried]
        native = relevance(qb, db, relevant)["ndcg@10"]
        pool_pairs = [(lat[m, "titles"][pool], lat[m, "bodies"][pool], sentences[m]) for m in (a, b)]
        scored = [(lat[m, "titles"][queried], lat[m, "bodies"][queried]) for m in (a, b)]
        fits = {"every pool pair": (pool_pairs, False),
                "every pool pair + the indexed bodies": ([p + s[1:] for p, s in zip(pool_pairs, scored)], False),
                "oracle: the scored titles and bodies": (scored, True),
                "oracle: the scored titles and bodies + every pool pair":
                    ([p + s for p, s in zip(pool_pairs, scored)], True)}
        for name, ((xs, ys), in_sample) in fits.items():
            x, y = torch.cat(xs), torch.cat(ys)
            for method in ("orthogonal", "linear", "mlp"):
                translator = hubstitch.fit_translator(x, y, method=method, seed=0)
                rows.append({"pair": f"{SHORT[a]} -> {SHORT[b]}", "fit_on": name, "in_sample": in_sample,
                             "method": method, "pairs": len(x),
                             "translated_of_native": relevance(translator(qa), db, relevant)["ndcg@10"] / native})
                logger.info("%s", rows[-1])
    return rows


def caption_to_image(shelf_data, cache, ns=(1000, 2000), draws: int = DRAWS) -> dict:
    import hubstitch
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.metrics import relevance
    from hubstitch.shelf.datasets import fashion_mnist
    from hubstitch.shelf.fashion_text import captions
    from hubstitch.shelf.models import IMAGE_ENCODER

    root = shelf_data["fashion_mnist"].parent
    pool, test = fashion_mnist("train", 4000, seed=0, root=root), fashion_mnist("test", 2000, seed=0, root=root)
    images, text = Encoder.from_pretrained(IMAGE_ENCODER, local_files_only=True), Encoder.from_pretrained(
        MINILM, local_files_only=True)
    encode = lambda enc, data: cache.get_or_encode(enc.ref, data.provenance.fingerprint, "image",  # noqa: E731
                                                   data.rows(), lambda: enc.encode(data.source_items()))
    pool_x, test_x = encode(images, pool), encode(images, test)
    names = sorted(set(pool.labels()))
    pool_labels = torch.tensor([names.index(v) for v in pool.labels()])
    test_labels = torch.tensor([names.index(v) for v in test.labels()])
    pool_captions = text.encode(captions(pool.labels(), seed=0), progress=False)
    query_labels = [c for c in range(len(names)) for _ in range(10)]  # 10 captions per class
    query_captions = text.encode(captions([names[c] for c in query_labels], seed=5), progress=False)
    relevant = [set(torch.nonzero(test_labels == c).flatten().tolist()) for c in query_labels]
    rows = []
    for n in ns:
        translated, centroid = [], []
        for draw in range(draws):
            anchors = torch.randperm(len(pool_x), generator=torch.Generator().manual_seed(draw))[:n]
            translator = hubstitch.fit_translator(pool_captions[anchors], pool_x[anchors], seed=draw)
            translated.append(relevance(translator(query_captions), test_x, relevant))
            means = torch.stack([pool_x[anchors][pool_labels[anchors] == c].mean(dim=0) for c in query_labels])
            centroid.append(relevance(means, test_x, relevant))
        rows.append({"n": n, **{kind: {m: statistics.fmean(r[m] for r in runs) for m in runs[0]}
                                for kind, runs in (("translated_captions", translated),
                                                   ("class_mean_image", centroid))}})
        logger.info("caption -> image N=%d: nDCG@10 %.3f (class-mean image queries %.3f)", n,
                    rows[-1]["translated_captions"]["ndcg@10"], rows[-1]["class_mean_image"]["ndcg@10"])
    return {"rows": rows, "queries": len(query_labels), "images": len(test_x), "chance_precision": 0.1}


# Peak memory is the child's own VmHWM: ru_maxrss would start from the (larger) driver's across fork + exec.
MIGRATE_CHILD = """
import json, re, sys, time
import torch, hubstitch
from hubstitch.index import lancedb_store
from hubstitch.spaces import LatentSpaceRef
db, rows = sys.argv[1], int(sys.argv[2])
x = torch.randn(2000, 384)
a, b = LatentSpaceRef("bench/a", "a" * 40, "text", "mean", -1, 384), LatentSpaceRef("bench/b", "b" * 40, "text",
                                                                                   "mean", -1, 768)
translator = hubstitch.fit_translator(x, torch.nn.functional.pad(x, (0, 384)), method="orthogonal", source_ref=a,
                                      target_ref=b)
def peak_mib():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
before = peak_mib()
start = time.perf_counter()
summary = lancedb_store.migrate(db, "old", translator, "new", batch_size=8192, progress=False)
seconds = time.perf_counter() - start
print(json.dumps({"rows": summary["rows"], "seconds": seconds, "rows_per_second": summary["rows"] / seconds,
                  "peak_rss_mib": peak_mib(), "rss_before_migration_mib": before}))
"""


def _random_table(db: Path, rows: int, dim: int = 384) -> None:
    import lancedb
    import numpy as np
    import pyarrow as pa

    from hubstitch.index.stream import space_metadata, vector_array
    from hubstitch.spaces import LatentSpaceRef

    space = LatentSpaceRef("bench/a", "a" * 40, "text", "mean", -1, dim)
    schema = pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string()),
                        pa.field("vector", pa.list_(pa.float32(), dim))], metadata=space_metadata(space))
    gen = np.random.default_rng(0)

    def batches():
        for start in range(0, rows, 50_000):
            size = min(50_000, rows - start)
            yield pa.record_batch([pa.array([str(i) for i in range(start, start + size)]), pa.array([""] * size),
                                   vector_array(gen.standard_normal((size, dim), dtype=np.float32))], schema=schema)

    lancedb.connect(str(db)).create_table("old", data=pa.RecordBatchReader.from_batches(schema, batches()),
                                          schema=schema)


def migration_at_scale(sizes: tuple[int, ...]) -> list[dict]:
    rows = []
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix="hubstitch-migrate-"))
        try:
            _random_table(folder, size)
            run = subprocess.run([sys.executable, "-c", MIGRATE_CHILD, str(folder), str(size)], capture_output=True,
                                 text=True, timeout=7200)
            if run.returncode != 0:
                raise RuntimeError(run.stderr[-2000:])
            rows.append({"table_rows": size, "dim_in": 384, "dim_out": 768, **json.loads(run.stdout.splitlines()[-1])})
            logger.info("migrated %d rows: %.0f rows/s, peak RSS %.0f MiB", size, rows[-1]["rows_per_second"],
                        rows[-1]["peak_rss_mib"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def table(result: dict) -> str:
    lines = ["### BBC News title -> article (1,000 queried articles; nDCG@10, fraction of native in brackets)", "",
             "| queries -> index | N anchor articles | native (index model) | absolute | translated queries | "
             "migrated index | recall@10 translated / migrated | auto chose |", "|---|---|---|---|---|---|---|---|"]
    for r in result.get("title_to_article", []):
        nat = r["native"]["ndcg@10"]
        t, m = r["translated_queries"], r["migrated_index"]
        lines.append(f"| {r['pair']} | {r['n']} | {nat:.3f} | {r['absolute']['ndcg@10']:.3f} | "
                     f"{t['ndcg@10']:.3f} ({t['ndcg@10'] / nat:.3f}) | {m['ndcg@10']:.3f} ({m['ndcg@10'] / nat:.3f}) "
                     f"| {t['recall@10']:.3f} / {m['recall@10']:.3f} | {', '.join(sorted(set(r['chosen'])))} |")
    if result.get("anchor_recipes"):
        lines += ["", "### The same anchor articles, four ways (fraction of native nDCG@10: translated queries / "
                      "migrated index)", "",
                  "| queries -> index | N anchor articles | title + body pairs, auto | title + body, orthogonal | "
                  "+ every sentence, auto | + every sentence, orthogonal | pairs with sentences |",
                  "|---|---|---|---|---|---|---|"]
        recipes = {(r["pair"], r["n"], r["sentences"], r["method"]): r for r in result["anchor_recipes"]}
        for pair, n in dict.fromkeys((r["pair"], r["n"]) for r in result["anchor_recipes"]):
            cells = [recipes[pair, n, sent, method] for sent in (False, True) for method in ("auto", "orthogonal")]
            lines.append(f"| {pair} | {n} | " + " | ".join(
                f"{c['translated_of_native']:.3f} / {c['migrated_of_native']:.3f}" for c in cells)
                + f" | {cells[2]['pairs']:,.0f} |")
    if result.get("ceiling"):
        lines += ["", "### What a translator fitted on pairs reaches here (translated queries, fraction of native "
                      "nDCG@10; oracles are fitted on the scored texts)", "",
                  "| queries -> index | fitted on | queried titles among the pairs | pairs | orthogonal | linear | "
                  "mlp |", "|---|---|---|---|---|---|---|"]
        fits = {(r["pair"], r["fit_on"], r["method"]): r for r in result["ceiling"]}
        for pair, fit_on in dict.fromkeys((r["pair"], r["fit_on"]) for r in result["ceiling"]):
            cells = [fits[pair, fit_on, method] for method in ("orthogonal", "linear", "mlp")]
            lines.append(f"| {pair} | {fit_on} | {'yes' if cells[0]['in_sample'] else 'no'} | {cells[0]['pairs']:,} | "
                         + " | ".join(f"{c['translated_of_native']:.3f}" for c in cells) + " |")
    cross = result.get("caption_to_image", {"rows": [], "queries": 0, "images": 0})
    lines += ["", f"### Fashion-MNIST caption -> image ({cross['queries']} captions, {cross['images']} test images, "
                  f"relevant = the caption's class)", "",
              "| N image-caption anchors | translated captions nDCG@10 | recall@10 | class-mean image query nDCG@10 |",
              "|---|---|---|---|"]
    lines += [f"| {r['n']} | {r['translated_captions']['ndcg@10']:.3f} | "
              f"{r['translated_captions']['recall@10']:.4f} | {r['class_mean_image']['ndcg@10']:.3f} |"
              for r in cross["rows"]]
    lines += ["", "### Migrating a LanceDB table (384-d -> 768-d, orthogonal, batches of 8,192, child process)", "",
              "| rows | rows/s | peak RSS (MiB) | RSS before the migration started (MiB) |", "|---|---|---|---|"]
    lines += [f"| {r['table_rows']:,} | {r['rows_per_second']:,.0f} | {r['peak_rss_mib']:.0f} | "
              f"{r['rss_before_migration_mib']:.0f} |" for r in result.get("migration", [])]
    lines += ["", "Quoted beside (their data and models, not ours; not comparable number for number):", ""]
    lines += [f"- {q['source']}: {q['setup']}: {q['figure']}" for q in QUOTED]
    return "\n".join(lines) + "\n"


def plot(result: dict, out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, pair in zip(axes, dict.fromkeys(r["pair"] for r in result["title_to_article"]), strict=False):
        rows = [r for r in result["title_to_article"] if r["pair"] == pair]
        ns = [r["n"] for r in rows]
        ax.plot(ns, [r["translated_queries"]["ndcg@10"] for r in rows], "o-", label="translated queries")
        ax.plot(ns, [r["migrated_index"]["ndcg@10"] for r in rows], "s-", label="migrated index")
        ax.axhline(rows[0]["native"]["ndcg@10"], color="k", ls="--", label="native")
        ax.axhline(rows[0]["absolute"]["ndcg@10"], color="r", ls=":", label="absolute (no translator)")
        ax.set(xscale="log", xlabel="anchor articles N", title=f"BBC title -> article: {pair}")
    axes[0].set_ylabel("nDCG@10")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = out / "retrieval.png"
    fig.savefig(path, dpi=110)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one draw, N=256 only, a 1e5-row migration")
    parser.add_argument("--rows", type=int, default=1_000_000, help="the larger migration's row count")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", action="append", default=[], choices=("title_to_article", "anchor_recipes",
                                                                        "ceiling", "caption_to_image",
                                                                        "migration"),
                        metavar="SECTION",
                        help="recompute only this section (repeatable), keeping the others from --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from hubstitch.data.latent_cache import LatentCache
    from hubstitch.shelf.datasets import install_datasets
    from hubstitch.shelf.models import install_shelf

    install_shelf()
    shelf_data = install_datasets()
    cache = LatentCache()
    start = time.perf_counter()
    draws = 1 if args.quick else DRAWS
    texts = functools.cache(lambda: text_latents(shelf_data, cache))  # three sections read them: load once
    sections = {
        "title_to_article": lambda: title_to_article(texts(), (256,) if args.quick else NS, draws),
        "caption_to_image": lambda: caption_to_image(shelf_data, cache, (1000,) if args.quick else (1000, 2000),
                                                     draws),
        "anchor_recipes": lambda: anchor_recipes(texts(), pool_sentences(shelf_data, cache, texts()),
                                                 (256,) if args.quick else NS, draws),
        "ceiling": lambda: ceiling(texts(), pool_sentences(shelf_data, cache, texts())),
        "migration": lambda: migration_at_scale((100_000,) if args.quick else (100_000, args.rows)),
    }
    saved = args.out / "bench_retrieval.json"
    result = json.loads(saved.read_text()) if args.only and saved.is_file() else {}
    result.pop("affine_ceiling", None)  # renamed "ceiling" (it gained mlp and out-of-sample rows)
    result["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                         "cpu_threads": torch.get_num_threads()}
    for name, compute in sections.items():
        if not args.only or name in args.only:
            result[name] = compute()
    result["quoted"] = QUOTED
    result["seconds" if not args.only else "seconds_last_run"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_retrieval.json").write_text(json.dumps(result, indent=1) + "\n")
    if result.get("title_to_article"):
        result["plot"] = plot(result, args.out)
    report = table(result)
    (args.out / "bench_retrieval.md").write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
