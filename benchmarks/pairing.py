"""Sections of bench_stitching.py on few, no or shifted anchors (BBC News, MiniLM <-> MPNet, both directions).

- `bootstrap_rows`: 16 random seed pairs plus unpaired pools of training articles, the pools overlapping (1,000
  articles drawn for each side from the same 1,320 training articles left after the 16 seeds, so most but not all are
  in both) or disjoint (the 1,320 split in two halves); the pseudo-anchors' precision where the pairing is known;
  the seeds whole, or followed by their sentences (what `fit_from_encoders` does by default with pools too).
- `zero_anchor_rows`: `fit_unsupervised` on the 1,336 training articles of each side, shuffled: top-1 retrieval of
  the held-out articles (translated source article -> its own target article among all 889), beside 16 random
  anchors alone and 16 anchors + the same pools.
- `class_shift_rows`: anchors drawn from three classes only; stitched accuracy on the test articles of the two
  held-out classes and on all; each draw holds out another pair of classes; the same anchor articles whole and
  followed by their sentences (what `fit_from_encoders` does by default).
- `sentence_rows`: 16, 64 and 256 random anchor articles, whole or followed by their sentences (`orthogonal`).

Imported by bench_stitching.py, which owns the data, the heads and the report.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import time

import torch

logger = logging.getLogger("bench_stitching")
SEEDS, SHIFT_N = 16, 256
SHIFT_METHODS = ("orthogonal", "orthogonal-standard", "auto", "orthogonal + unpaired pools",
                 "orthogonal + the anchors' sentences")
SENTENCE_NS = (16, 64, 256)


def _ratio(bench, head, translated, labels, native):
    return bench.accuracy(head, translated, labels) / native


def _top1(translated: torch.Tensor, truth: torch.Tensor) -> float:
    """Retrieval top-1 of each translated row among all target rows, after centring on the targets' mean."""
    center = truth.mean(dim=0)
    sims = (torch.nn.functional.normalize(translated - center, dim=1)
            @ torch.nn.functional.normalize(truth - center, dim=1).T)
    return float((sims.argmax(dim=1) == torch.arange(len(truth))).double().mean())


def _pools(train: torch.Tensor, draw: int, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(seed rows, source pool rows, target pool rows) of the training articles."""
    gen = torch.Generator().manual_seed(draw)
    order = train[torch.randperm(len(train), generator=gen)]
    seeds, rest = order[:SEEDS], order[SEEDS:]
    if mode == "overlapping":
        return (seeds, rest[torch.randperm(len(rest), generator=gen)[:1000]],
                rest[torch.randperm(len(rest), generator=gen)[:1000]])
    return seeds, rest[: len(rest) // 2], rest[len(rest) // 2:]


def bootstrap_rows(bench, data: dict, draws: int) -> list[dict]:
    import hubstitch
    from hubstitch.math.selection import default_candidates

    labels, rows = data["labels"], []
    for pair, xs, xt, head, native, train, test in bench.text_pairs(data):
        for mode in ("overlapping", "disjoint"):
            for method in ("default", "default, seeds + their sentences", "auto search"):
                ratios, seeds_only, precisions, counts, rounds, seconds, pairs = [], [], [], [], [], [], []
                for draw in range(draws):
                    seeds, source_pool, target_pool = _pools(train, draw, mode)
                    x, y = xs[seeds], xt[seeds]
                    if method.endswith("sentences"):
                        x, y = _with_sentences(bench, data, pair, seeds, x, y)
                    pairs.append(len(x))
                    start = time.perf_counter()
                    # "default": method="auto", which means orthogonal once pools are given; "auto search": the
                    # cross-validated search run on seeds + pseudo-anchors (what 'auto' did before)
                    search = {"candidates": default_candidates(torch.cat([xs[seeds], xs[source_pool]]))} \
                        if method == "auto search" else {}
                    translator = hubstitch.fit_translator(x, y, method="auto", seed=draw,
                                                          unpaired_source=xs[source_pool],
                                                          unpaired_target=xt[target_pool], **search)
                    seconds.append(time.perf_counter() - start)
                    ratios.append(_ratio(bench, head, translator(xs[test]), labels[test], native))
                    plain = hubstitch.fit_translator(x, y, method="auto", seed=draw)
                    seeds_only.append(_ratio(bench, head, plain(xs[test]), labels[test], native))
                    source_rows, target_rows = translator.pseudo_anchor_index
                    precisions.append(float((source_pool[source_rows] == target_pool[target_rows]).double().mean()))
                    counts.append(len(source_rows))
                    rounds.append(len(translator.config.pairing["rounds"]))
                rows.append({"pair": pair, "pools": mode, "method": method, "seeds": SEEDS,
                             "seed_pairs": statistics.fmean(pairs),
                             "pool_sizes": [len(source_pool), len(target_pool)],
                             "ratio": bench.mean_std(ratios), "seeds_only_ratio": bench.mean_std(seeds_only),
                             "pseudo_anchors": statistics.fmean(counts), "precision": statistics.fmean(precisions),
                             "rounds": statistics.fmean(rounds), "seconds": statistics.fmean(seconds)})
                logger.info("bootstrap %s %s %s: %.3f of native (16 seeds alone %.3f), %d pseudo-anchors, "
                            "precision %.3f", pair, mode, method, rows[-1]["ratio"]["mean"],
                            rows[-1]["seeds_only_ratio"]["mean"], rows[-1]["pseudo_anchors"],
                            rows[-1]["precision"])
    return rows


def zero_anchor_rows(bench, data: dict) -> list[dict]:
    import hubstitch

    labels, rows = data["labels"], []
    for pair, xs, xt, head, native, train, test in bench.text_pairs(data):
        shuffle = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        source_pool, target_pool = train, train[shuffle]
        start = time.perf_counter()
        unsupervised = hubstitch.fit_unsupervised(xs[source_pool], xt[target_pool], seed=0)
        seconds = time.perf_counter() - start
        source_rows, target_rows = unsupervised.pseudo_anchor_index
        seeds, _, _ = _pools(train, 0, "overlapping")
        few = hubstitch.fit_translator(xs[seeds], xt[seeds], method="auto")
        grown = hubstitch.fit_translator(xs[seeds], xt[seeds], method="auto", unpaired_source=xs[source_pool],
                                         unpaired_target=xt[target_pool])
        pairing = unsupervised.config.pairing
        rows.append({
            "pair": pair, "pool_size": len(train), "heldout": len(test), "seconds": seconds,
            "attempts": len(pairing["attempts"]), "chosen_attempt": pairing["chosen_attempt"],
            "consistency": [a["consistency"] for a in pairing["attempts"]],
            "precision": float((source_pool[source_rows] == target_pool[target_rows]).double().mean()),
            "top1": _top1(unsupervised(xs[test]), xt[test]), "ratio": _ratio(bench, head, unsupervised(xs[test]),
                                                                             labels[test], native),
            "top1_16_anchors": _top1(few(xs[test]), xt[test]), "top1_16_anchors_and_pools": _top1(grown(xs[test]),
                                                                                                   xt[test]),
            "top1_native_identity": 1.0})
        logger.info("zero anchors %s: top-1 %.3f among %d held-out articles (16 anchors %.3f, 16 + pools %.3f), "
                    "%.3f of native accuracy, %d attempts, %.0f s", pair, rows[-1]["top1"], len(test),
                    rows[-1]["top1_16_anchors"], rows[-1]["top1_16_anchors_and_pools"], rows[-1]["ratio"],
                    rows[-1]["attempts"], seconds)
    return rows


def class_shift_rows(bench, data: dict, draws: int) -> list[dict]:
    import hubstitch

    labels, rows = data["labels"], []
    held_pairs = list(itertools.combinations(range(len(data["names"])), 2))
    for pair, xs, xt, head, native, train, test in bench.text_pairs(data):
        for method in SHIFT_METHODS:
            on_held, on_all = [], []
            for draw in range(draws):
                held = torch.tensor(held_pairs[(3 * draw) % len(held_pairs)])
                pool = train[~torch.isin(labels[train], held)]
                anchors = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(draw))[:SHIFT_N]]
                name, options = bench.VARIANTS.get(method, (method, {}))
                x, y = xs[anchors], xt[anchors]
                if method.endswith("unpaired pools"):
                    name, options = "orthogonal", {"unpaired_source": xs[train], "unpaired_target": xt[train]}
                if method.endswith("sentences"):
                    name, (x, y) = "orthogonal", _with_sentences(bench, data, pair, anchors, x, y)
                translator = hubstitch.fit_translator(x, y, method=name, seed=draw, **options)
                held_test = test[torch.isin(labels[test], held)]
                on_held.append(_ratio(bench, head, translator(xs[held_test]), labels[held_test],
                                      bench.accuracy(head, xt[held_test], labels[held_test])))
                on_all.append(_ratio(bench, head, translator(xs[test]), labels[test], native))
            rows.append({"pair": pair, "method": method, "n": SHIFT_N, "held_out_classes": bench.mean_std(on_held),
                         "all_test": bench.mean_std(on_all)})
            logger.info("class shift %s %s: %.3f of native on the held-out classes, %.3f on all", pair, method,
                        rows[-1]["held_out_classes"]["mean"], rows[-1]["all_test"]["mean"])
    return rows


def train_sentences(bench, shelf_data, cache, data: dict) -> dict:
    """Every sentence (4+ words, as `hubstitch.data.sentences.with_sentences` splits) of the training articles,
    encoded by both models: {"owner": the article row of each sentence, model_id: latents}."""
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.data.sentences import extra_sentences
    from hubstitch.encoders.encoder import Encoder

    train, _ = bench.stratified_split(data["labels"], 0.6, seed=0)
    sentences, owner = [], []
    for row in train.tolist():
        for sentence in extra_sentences(data["items"][row], 4):
            sentences.append(sentence)
            owner.append(row)
    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    result = {"owner": torch.tensor(owner)}
    for model_id in (bench.MINILM, bench.MPNET):
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        encoder.max_length = bench.MAX_LENGTH
        result[model_id] = cache.get_or_encode(
            encoder.ref, articles.provenance.fingerprint,
            f"train-sentences[split=60/40 seed=0,min_words=4,max_length={bench.MAX_LENGTH}]",
            list(range(len(sentences))), lambda encoder=encoder: encoder.encode(sentences, batch_size=64))
        logger.info("%s: %d training-article sentences", bench.SHORT[model_id], len(sentences))
    return result


def _with_sentences(bench, data: dict, pair: str, anchors: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """The anchor articles' latents followed by their sentences' (every one: N <= 256 stays under the default's
    8,192-row budget)."""
    sentences, model_of = data["sentences"], {short: model_id for model_id, short in bench.SHORT.items()}
    source, target = (model_of[name] for name in pair.split(" -> "))
    mask = torch.isin(sentences["owner"], anchors)
    return torch.cat([x, sentences[source][mask]]), torch.cat([y, sentences[target][mask]])


def sentence_rows(bench, data: dict, draws: int) -> list[dict]:
    import hubstitch

    labels, rows = data["labels"], []
    for pair, xs, xt, head, native, train, test in bench.text_pairs(data):
        for n in SENTENCE_NS:
            for with_sentences in (False, True):
                ratios, pairs = [], []
                for draw in range(draws):
                    anchors = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(draw))[:n]]
                    x, y = xs[anchors], xt[anchors]
                    if with_sentences:
                        x, y = _with_sentences(bench, data, pair, anchors, x, y)
                    translator = hubstitch.fit_translator(x, y, method="orthogonal", seed=draw)
                    ratios.append(_ratio(bench, head, translator(xs[test]), labels[test], native))
                    pairs.append(len(x))
                rows.append({"pair": pair, "n": n, "sentences": with_sentences, "ratio": bench.mean_std(ratios),
                             "pairs": statistics.fmean(pairs)})
                logger.info("sentences %s N=%d %s: %.3f of native (%d pairs)", pair, n, with_sentences,
                            rows[-1]["ratio"]["mean"], rows[-1]["pairs"])
    return rows


def table(result: dict) -> list[str]:
    def pm(stat: dict) -> str:
        return f"{stat['mean']:.3f} ± {stat['std']:.3f}"

    lines = ["### 16 seed pairs + unpaired pools (BBC News; stitched / native)", "",
             "| pair | pools | method | 16 seeds + pools | 16 seeds alone | seed pairs | pseudo-anchors | precision | "
             "rounds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["bootstrap"]:
        precision = f"{r['precision']:.3f}" if r["pools"] == "overlapping" else "n/a (no item in both)"
        lines.append(f"| {r['pair']} | {r['pools']} ({r['pool_sizes'][0]} / {r['pool_sizes'][1]}) | {r['method']} | "
                     f"{pm(r['ratio'])} | {pm(r['seeds_only_ratio'])} | {r['seed_pairs']:.0f} | "
                     f"{r['pseudo_anchors']:.0f} | {precision} | "
                     f"{r['rounds']:.1f} |")
    lines += ["", "### zero anchors (`fit_unsupervised` on the training articles of each side, shuffled)", "",
              "| pair | top-1 among held-out | 16 anchors | 16 anchors + pools | stitched / native | "
              "pseudo-anchor precision | attempts | seconds |", "|---|---|---|---|---|---|---|---|"]
    for r in result["zero_anchors"]:
        lines.append(f"| {r['pair']} | {r['top1']:.3f} (of {r['heldout']}) | {r['top1_16_anchors']:.3f} | "
                     f"{r['top1_16_anchors_and_pools']:.3f} | {r['ratio']:.3f} | {r['precision']:.3f} | "
                     f"{r['attempts']} (best: {r['chosen_attempt']}) | {r['seconds']:.0f} |")
    lines += ["", f"### anchors from three classes only ({SHIFT_N} anchors; stitched / native)", "",
              "| pair | method | on the two held-out classes | on all test articles |", "|---|---|---|---|"]
    lines += [f"| {r['pair']} | {r['method']} | {pm(r['held_out_classes'])} | {pm(r['all_test'])} |"
              for r in result["class_shift"]]
    if "sentence_anchors" in result:
        lines += ["", "### anchor articles whole or followed by their sentences (`orthogonal`; stitched / native; "
                      "mean pairs in brackets)", "",
                  "| pair | N articles | whole articles | + their sentences (the default of `hubstitch fit`) |",
                  "|---|---|---|---|"]
        rows = {(r["pair"], r["n"], r["sentences"]): r for r in result["sentence_anchors"]}
        for pair in dict.fromkeys(r["pair"] for r in result["sentence_anchors"]):
            for n in SENTENCE_NS:
                whole, split = rows[pair, n, False], rows[pair, n, True]
                lines.append(f"| {pair} | {n} | {pm(whole['ratio'])} | {pm(split['ratio'])} "
                             f"({split['pairs']:,.0f}) |")
    return lines + [""]
