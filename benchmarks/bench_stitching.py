"""Stitching quality on real pretrained checkpoints from the offline shelf: text -> text and image -> text.

1. text -> text, BBC News (2,225 articles, 5 classes, stratified 60/40 split, seed 0): all-MiniLM-L6-v2 <->
   all-mpnet-base-v2, both directions. A linear head is trained on the *target* space's training articles only.
   Rows: native (head on target latents), absolute baseline (source latents zero-padded / truncated into the head,
   no translator), stitched through translators fitted with their defaults: `orthogonal` (centring, isotropic
   scale, span only, output calibration), `orthogonal-standard` (the 0.1 defaults: per-dimension standard scaling,
   no scale, the rotation completed, no calibration), `affine`, `linear`, `mlp` and `auto` (with its search cost),
   and `relative` (a head trained on the target's centred cosine relative representation w.r.t. the anchors;
   the source is projected onto its own encoding of the same anchors). Anchors N in {16, 64, 256, 1024} drawn at
   random from the training articles, 5 draws each: mean +- std of accuracy and of stitched / native.
2. image -> text, Fashion-MNIST: MobileNetV2 (torchvision ImageNet weights, converted) image latents -> translator
   fitted on N image-caption pairs (captions written from the class name with varied templates:
   `hubstitch.shelf.fashion_text`) -> a head trained only on MiniLM embeddings of hand-written product descriptions
   (never captions of these images). Beside chance and a linear probe trained on the same N labelled images.
   A row `auto, descriptions as target reference` fits with the head's own descriptions as `target_reference`
   (the caption anchors moved to the descriptions' mean). The translator alone is also scored by nearest caption
   centroid (is a translated image closest to the mean caption of its own class?), which separates translation
   quality from the text head's own domain gap.
3. Anchor selection at small N (both directions, `linear` and `relative`): random, stratified, k-means medoids,
   farthest-point (k-means and farthest read the source encoder's latents of the training articles; farthest-point
   is deterministic, so its draws coincide).
4. latentis 0.0.8 Procrustes on the same latents and anchors, side by side with hubstitch `orthogonal`:
   stitched accuracy and fit time (alternated in one process).
5. Few, no or shifted anchors (`pairing.py`): 16 seed pairs + unpaired pools (overlapping and disjoint), zero
   anchors (`fit_unsupervised`), anchors drawn from three of the five classes only, and anchor articles followed
   by their sentences (the default of `hubstitch fit` for documents).

Texts are truncated to 128 tokens for both text encoders (MPNet at its full 384 tokens takes > 18 minutes for the
2,225 articles on a 2-core machine); latents are cached in the latent cache, so reruns take minutes.

Run:  python benchmarks/bench_stitching.py [--draws 5] [--quick]
Needs: `hubstitch shelf install` (run by this script), scikit-learn, matplotlib.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import pairing
import torch

from hubstitch.errors import AnchorCountError

logger = logging.getLogger("bench_stitching")
RESULTS = Path(__file__).parent / "results"
MINILM, MPNET = "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"
SHORT = {MINILM: "MiniLM", MPNET: "MPNet"}
MAX_LENGTH = 128
TEXT_NS, IMAGE_NS = (16, 64, 256, 1024), (100, 500, 1000, 2000)
TEXT_METHODS = ("orthogonal", "orthogonal-standard", "affine", "linear", "mlp", "auto")
# a row name -> (method, options): the same estimator with documented non-default options
VARIANTS = {"orthogonal-standard": ("orthogonal", {"source_preprocessing": "standard",
                                                   "target_preprocessing": "standard", "isotropic_scale": False,
                                                   "span_only": False, "output_calibration": "none"})}
REFERENCED = "auto, descriptions as target reference"  # fit_translator(..., target_reference=the head's texts)
IMAGE_METHODS = ("orthogonal", "affine", "linear", "mlp", "auto", REFERENCED)
SELECTIONS, SELECTION_NS = ("random", "stratified", "kmeans", "farthest"), (16, 64)
IMAGE_POOL, IMAGE_TEST = 4000, 2000
HEAD_OPTIONS = {"epochs": 300}
SECTIONS = ("text_to_text", "image_to_text", "selection", "latentis", "bootstrap", "zero_anchors", "class_shift",
            "sentence_anchors")


# ---------------------------------------------------------------------------------------------- data and latents
def encode_cached(encoder, anchors, column_tag: str, cache) -> torch.Tensor:
    """All rows of `anchors`' source column, through the latent cache (`column_tag` names truncation)."""
    return cache.get_or_encode(encoder.ref, anchors.provenance.fingerprint, column_tag, anchors.rows(),
                               lambda: encoder.encode(anchors.source_items(), batch_size=32))


def text_latents(shelf_data, cache) -> dict:
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.encoders.encoder import Encoder

    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    latents = {}
    for model_id in (MINILM, MPNET):
        encoder = Encoder.from_pretrained(model_id, local_files_only=True)
        encoder.max_length = MAX_LENGTH
        start = time.perf_counter()
        latents[model_id] = encode_cached(encoder, articles, f"text[max_length={MAX_LENGTH}]", cache)
        logger.info("%s: %s latents in %.1f s", SHORT[model_id], tuple(latents[model_id].shape),
                    time.perf_counter() - start)
    names = sorted(set(articles.labels()))
    labels = torch.tensor([names.index(label) for label in articles.labels()])
    return {"latents": latents, "labels": labels, "names": names, "items": articles.source_items()}


def stratified_split(labels: torch.Tensor, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique():
        rows = (labels == c).nonzero().flatten()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        cut = round(train_fraction * len(rows))
        train.append(rows[:cut])
        test.append(rows[cut:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def accuracy(head, latents: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((head(latents).argmax(-1) == labels).float().mean())


def pad_or_truncate(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, dim - x.shape[1])) if x.shape[1] < dim else x[:, :dim]


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


# ----------------------------------------------------------------------------------------------- the stitches
def stitched_accuracy(method: str, head_native, xs, xt, anchors, train, test, labels, items,
                      seed: int) -> tuple[float, float, dict]:
    """(accuracy on `test` of the source latents through `method` (a translator, or `relative`), accuracy of the
    same head on the target's own latents (for `relative`: the relative head on the target's relative
    representation, whose 16 to 1024 features limit it at small N), the auto search's cost and choice)."""
    import hubstitch
    from hubstitch.heads.relative import fit_relative_head, relative_inputs

    if method == "relative":
        head = fit_relative_head(xt[anchors], [items[i] for i in anchors.tolist()], xt[train], labels[train],
                                 seed=seed, **HEAD_OPTIONS)
        stitched = accuracy(head, relative_inputs(head, xs[test], xs[anchors]), labels[test])
        native = accuracy(head, relative_inputs(head, xt[test], xt[anchors]), labels[test])
        return stitched, native, {}
    else:
        name, options = VARIANTS.get(method, (method, {}))
        translator = hubstitch.fit_translator(xs[anchors], xt[anchors], method=name, seed=seed, **options)
        with torch.no_grad():
            stitched = accuracy(head_native, translator(xs[test]), labels[test])
        native = accuracy(head_native, xt[test], labels[test])
    selection = translator.config.selection
    if not selection:
        return stitched, native, {}
    chosen = selection["chosen"]
    return stitched, native, {"search": selection["search"],
                              "chosen": f"{chosen['method']} {chosen['options'].get('source_preprocessing')}"}


def text_pairs(data: dict):
    """Both directions: (pair name, source latents, target latents, head trained on the target's training
    articles, its native test accuracy, train rows, test rows)."""
    from hubstitch.heads.head import ClassifierHead

    labels = data["labels"]
    train, test = stratified_split(labels, 0.6, seed=0)
    for source_id, target_id in ((MINILM, MPNET), (MPNET, MINILM)):
        xs, xt = data["latents"][source_id], data["latents"][target_id]
        head = ClassifierHead.fit(xt[train], labels[train], label_names=data["names"], seed=0, **HEAD_OPTIONS)
        native = accuracy(head, xt[test], labels[test])
        yield f"{SHORT[source_id]} -> {SHORT[target_id]}", xs, xt, head, native, train, test


def text_to_text(data: dict, draws: int, ns=TEXT_NS, methods=TEXT_METHODS + ("relative",)) -> list[dict]:
    labels, items = data["labels"], data["items"]
    rows = []
    for pair, xs, xt, head, native, train, test in text_pairs(data):
        absolute = accuracy(head, pad_or_truncate(xs[test], xt.shape[1]), labels[test])
        logger.info("%s: native %.3f, absolute baseline %.3f", pair, native, absolute)
        for n in ns:
            for method in methods:
                accs, natives, times, anchor_rows, searches = [], [], [], [], []
                try:
                    for draw in range(draws):
                        anchors = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(draw))[:n]]
                        start = time.perf_counter()
                        stitched, same_shape_native, search = stitched_accuracy(method, head, xs, xt, anchors, train,
                                                                                test, labels, items, draw)
                        if search:
                            searches.append(search)
                        times.append(time.perf_counter() - start)
                        accs.append(stitched)
                        natives.append(same_shape_native)
                        anchor_rows.append(anchors.tolist())
                except AnchorCountError as err:  # e.g. affine with fewer anchors than source dimensions
                    rows.append({"pair": pair, "n": n, "method": method, "skipped": str(err).split(";")[0]})
                    continue
                rows.append({"pair": pair, "n": n, "method": method, "native": native, "absolute": absolute,
                             "accuracy": mean_std(accs), "ratio": mean_std([a / native for a in accs]),
                             "same_shape_native": mean_std(natives),
                             "ratio_to_same_shape": mean_std([a / b for a, b in zip(accs, natives, strict=True)]),
                             "seconds": statistics.fmean(times), "anchors": anchor_rows})
                if searches:
                    rows[-1]["search"] = {"fits": statistics.fmean(s["search"]["fits"] for s in searches),
                                          "full_cross_validation_fits": searches[0]["search"][
                                              "full_cross_validation_fits"],
                                          "seconds": statistics.fmean(s["search"]["seconds"] for s in searches),
                                          "chosen": [s["chosen"] for s in searches]}
                logger.info("%s N=%d %-10s acc %.3f +- %.3f  ratio %.3f", pair, n, method,
                            rows[-1]["accuracy"]["mean"], rows[-1]["accuracy"]["std"], rows[-1]["ratio"]["mean"])
    return rows


def selection_comparison(data: dict, draws: int) -> list[dict]:
    from hubstitch.math.anchor_selection import select_indices

    labels, items = data["labels"], data["items"]
    rows = []
    for pair, xs, xt, head, native, train, test in text_pairs(data):
        for n in SELECTION_NS:
            for selection in SELECTIONS:  # k-means and farthest read the source encoder's latents
                picks = [train[select_indices(len(train), n, selection, labels=labels[train], features=xs[train],
                                              seed=draw)] for draw in range(draws)]
                for method in ("linear", "relative"):
                    accs = [stitched_accuracy(method, head, xs, xt, anchors, train, test, labels, items, draw)[0]
                            for draw, anchors in enumerate(picks)]
                    rows.append({"pair": pair, "n": n, "selection": selection, "method": method,
                                 "accuracy": mean_std(accs), "ratio": mean_std([a / native for a in accs]),
                                 "anchors": [p.tolist() for p in picks]})
                    logger.info("selection %s %-10s N=%d %-8s acc %.3f +- %.3f (ratio %.3f)", pair, selection, n,
                                method, rows[-1]["accuracy"]["mean"], rows[-1]["accuracy"]["std"],
                                rows[-1]["ratio"]["mean"])
    return rows


def latentis_side_by_side(data: dict, draws: int, ns=(256, 1024), rounds: int = 5) -> dict:
    try:
        from latentis.transform.translate.aligner import Procrustes
    except Exception as err:  # noqa: BLE001 - any import failure is the finding to report
        return {"error": f"{type(err).__name__}: {err}"}
    import hubstitch.math.estimators as est

    labels = data["labels"]
    rows = []
    for pair, xs, xt, head, _, train, test in text_pairs(data):
        for n in ns:
            ours, theirs, t_ours, t_theirs = [], [], [], []
            for draw in range(draws):
                anchors = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(draw))[:n]]
                x, y = xs[anchors], xt[anchors]
                for _ in range(rounds):  # alternated: the fair time ratio on a noisy machine
                    start = time.perf_counter()
                    translation = est.fit_translation(x, y, "orthogonal")
                    t_ours.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    procrustes = Procrustes().fit(x, y)
                    t_theirs.append(time.perf_counter() - start)
                with torch.no_grad():
                    ours.append(accuracy(head, translation(xs[test]), labels[test]))
                    theirs.append(accuracy(head, procrustes.transform(xs[test])[0], labels[test]))
            rows.append({"pair": pair, "n": n, "hubstitch_accuracy": mean_std(ours),
                         "latentis_accuracy": mean_std(theirs),
                         "hubstitch_seconds": statistics.median(t_ours),
                         "latentis_seconds": statistics.median(t_theirs),
                         "time_ratio": statistics.median(t_ours) / statistics.median(t_theirs)})
            logger.info("latentis %s N=%d: acc %.3f vs %.3f, time ratio %.2f", rows[-1]["pair"], n,
                        rows[-1]["hubstitch_accuracy"]["mean"], rows[-1]["latentis_accuracy"]["mean"],
                        rows[-1]["time_ratio"])
    import latentis

    return {"version": getattr(latentis, "__version__", "0.0.8"), "rows": rows}


# ------------------------------------------------------------------------------------------------ cross-modal
def image_latents(shelf_data, cache) -> dict:
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.shelf.datasets import fashion_mnist
    from hubstitch.shelf.fashion_text import captions, product_descriptions
    from hubstitch.shelf.models import IMAGE_ENCODER

    root = shelf_data["fashion_mnist"].parent
    pool = fashion_mnist("train", IMAGE_POOL, seed=0, root=root)
    test = fashion_mnist("test", IMAGE_TEST, seed=0, root=root)
    images = Encoder.from_pretrained(IMAGE_ENCODER, local_files_only=True)
    text = Encoder.from_pretrained(MINILM, local_files_only=True)
    start = time.perf_counter()
    pool_x, test_x = encode_cached(images, pool, "image", cache), encode_cached(images, test, "image", cache)
    logger.info("MobileNetV2: %d + %d images in %.1f s", len(pool), len(test), time.perf_counter() - start)
    pool_captions = captions(pool.labels(), seed=0)
    test_captions = captions(test.labels(), seed=1)  # what a perfect translator would hand the head
    descriptions, description_labels = product_descriptions()
    names = sorted(set(pool.labels()))
    return {"pool": pool_x, "test": test_x, "names": names,
            "pool_labels": torch.tensor([names.index(v) for v in pool.labels()]),
            "test_labels": torch.tensor([names.index(v) for v in test.labels()]),
            "captions": pool_captions, "caption_latents": text.encode(pool_captions, progress=False),
            "test_caption_latents": text.encode(test_captions, progress=False),
            "descriptions": descriptions, "description_latents": text.encode(descriptions, progress=False),
            "description_labels": torch.tensor([names.index(v) for v in description_labels])}


def image_to_text(data: dict, draws: int, ns=IMAGE_NS, methods=IMAGE_METHODS + ("relative",)) -> dict:
    import hubstitch
    from hubstitch.heads.head import ClassifierHead
    from hubstitch.heads.relative import fit_relative_head, relative_inputs

    text_head = ClassifierHead.fit(data["description_latents"], data["description_labels"], label_names=data["names"],
                                   seed=0, val_fraction=0.0, **HEAD_OPTIONS)
    rows = []
    y_test = data["test_labels"]
    for n in ns:
        probes, by_method, by_centroid = [], {m: [] for m in methods}, {m: [] for m in methods}
        for draw in range(draws):
            anchors = torch.randperm(len(data["pool"]), generator=torch.Generator().manual_seed(draw))[:n]
            x, y = data["pool"][anchors], data["caption_latents"][anchors]
            probe = ClassifierHead.fit(x, data["pool_labels"][anchors], label_names=data["names"], seed=draw,
                                       **HEAD_OPTIONS)
            probes.append(accuracy(probe, data["test"], y_test))
            centroids = caption_centroids(y, data["pool_labels"][anchors], len(data["names"]))
            for method in methods:
                if method == "affine" and n <= x.shape[1]:
                    continue  # needs more anchors than source dimensions: reported as skipped below
                if method == "relative":
                    head = fit_relative_head(y, [data["captions"][i] for i in anchors.tolist()],
                                             data["description_latents"], data["description_labels"], seed=draw,
                                             val_fraction=0.0, **HEAD_OPTIONS)
                    by_method[method].append(accuracy(head, relative_inputs(head, data["test"], x), y_test))
                    continue
                options = {"target_reference": data["description_latents"]} if method == REFERENCED else {}
                translator = hubstitch.fit_translator(x, y, method="auto" if method == REFERENCED else method,
                                                      seed=draw, **options)
                with torch.no_grad():
                    translated = translator(data["test"])
                by_method[method].append(accuracy(text_head, translated, y_test))
                if method != REFERENCED:  # its outputs sit at the descriptions' mean, not the captions'
                    by_centroid[method].append(nearest_centroid_accuracy(translated, centroids, y_test))
        for method, accs in by_method.items():
            if not accs:
                rows.append({"n": n, "method": method, "skipped": f"needs more than {data['pool'].shape[1]} "
                                                                   f"anchors (one per source dimension + 1)"})
                continue
            rows.append({"n": n, "method": method, "accuracy": mean_std(accs), "probe": mean_std(probes),
                         "of_probe": mean_std([a / p for a, p in zip(accs, probes, strict=True)]),
                         **({"centroid_accuracy": mean_std(by_centroid[method]),
                             "centroid_of_probe": mean_std([a / p for a, p in zip(by_centroid[method], probes,
                                                                                   strict=True)])}
                            if by_centroid[method] else {})})
            logger.info("image->text N=%d %-10s acc %.3f +- %.3f (probe %.3f)", n, method,
                        rows[-1]["accuracy"]["mean"], rows[-1]["accuracy"]["std"], rows[-1]["probe"]["mean"])
    text_native = accuracy(text_head, data["description_latents"], data["description_labels"])
    on_captions = accuracy(text_head, data["test_caption_latents"], y_test)
    return {"rows": rows, "chance": 1 / len(data["names"]), "text_head_train_accuracy": text_native,
            "text_head_on_true_captions": on_captions,
            "n_descriptions": len(data["descriptions"]), "n_test_images": len(y_test)}


def caption_centroids(caption_latents: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Unit-norm mean caption latent per class, from the anchors' own captions."""
    sums = torch.zeros(n_classes, caption_latents.shape[1]).index_add_(0, labels, caption_latents)
    return torch.nn.functional.normalize(sums, dim=1)


def nearest_centroid_accuracy(translated: torch.Tensor, centroids: torch.Tensor, labels: torch.Tensor) -> float:
    """Translator quality without the text head: is each translated image closest (cosine) to its class's captions?"""
    scores = torch.nn.functional.normalize(translated, dim=1) @ centroids.T
    return float((scores.argmax(-1) == labels).float().mean())


# ----------------------------------------------------------------------------------------------- report
def plots(result: dict, out: Path = RESULTS) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, pair in zip(axes, ("MiniLM -> MPNet", "MPNet -> MiniLM"), strict=True):
        rows = [r for r in result["text_to_text"] if r["pair"] == pair and "skipped" not in r]
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["method"] == method]
            ax.errorbar([r["n"] for r in sel], [r["accuracy"]["mean"] for r in sel],
                        yerr=[r["accuracy"]["std"] for r in sel], marker="o", capsize=3, label=method)
        ax.axhline(rows[0]["native"], color="k", ls="--", label="native")
        ax.axhline(rows[0]["absolute"], color="r", ls=":", label="absolute (no translator)")
        ax.set(xscale="log", xlabel="anchors N", title=f"BBC News, {pair}")
    axes[0].set_ylabel("test accuracy")
    axes[1].legend(fontsize=8)
    written.append(_save(fig, out / "stitching_text.png"))

    cross = result["image_to_text"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    measured = [r for r in cross["rows"] if "skipped" not in r]
    for method in dict.fromkeys(r["method"] for r in measured):
        sel = [r for r in measured if r["method"] == method]
        ax.errorbar([r["n"] for r in sel], [r["accuracy"]["mean"] for r in sel],
                    yerr=[r["accuracy"]["std"] for r in sel], marker="o", capsize=3, label=method)
    sel = [r for r in measured if r["method"] == measured[0]["method"]]
    ax.plot([r["n"] for r in sel], [r["probe"]["mean"] for r in sel], "k--", label="linear probe on images (ceiling)")
    ax.axhline(cross["chance"], color="r", ls=":", label="chance")
    ax.set(xscale="log", xlabel="image-caption anchors N", ylabel="zero-shot accuracy",
           title="Fashion-MNIST: MobileNetV2 -> translator -> MiniLM text head")
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "stitching_cross_modal.png"))

    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharey=True)
    for row, pair in zip(axes, ("MiniLM -> MPNet", "MPNet -> MiniLM"), strict=True):
        for ax, method in zip(row, ("linear", "relative"), strict=True):
            rows = [r for r in result["selection"] if r["method"] == method and r["pair"] == pair]
            for i, n in enumerate(SELECTION_NS):
                sel = [r for r in rows if r["n"] == n]
                ax.bar([j + 0.4 * i for j in range(len(sel))], [r["accuracy"]["mean"] for r in sel], 0.4,
                       yerr=[r["accuracy"]["std"] for r in sel], capsize=3, label=f"N={n}")
                ax.set_xticks([j + 0.2 for j in range(len(sel))], [r["selection"] for r in sel])
            ax.set(title=f"anchor selection, {pair}, {method}", ylim=(0.5, 1.0))
            ax.legend()
        row[0].set_ylabel("test accuracy")
    written.append(_save(fig, out / "stitching_selection.png"))
    if "bootstrap" in result:
        written.append(_save(few_anchor_figure(result, plt), out / "stitching_few_anchors.png"))
    return written


def few_anchor_figure(result: dict, plt):
    """Stitched / native per pair: 16 anchors alone, with pools, zero anchors, and class-shifted anchors."""
    fig, ax = plt.subplots(figsize=(11, 5.5))
    pairs = ("MiniLM -> MPNet", "MPNet -> MiniLM")
    bars = {}
    for pair in pairs:
        boot = {(r["pools"], r["method"]): r for r in result["bootstrap"] if r["pair"] == pair}
        shift = {r["method"]: r for r in result["class_shift"] if r["pair"] == pair}
        zero = next(r for r in result["zero_anchors"] if r["pair"] == pair)
        bars.setdefault("16 anchors (auto)", []).append(boot[("overlapping", "default")]["seeds_only_ratio"]["mean"])
        split = [r for r in result.get("sentence_anchors", [])
                 if r["pair"] == pair and r["n"] == 16 and r["sentences"]]
        if split:
            bars.setdefault("16 + their sentences (orthogonal)", []).append(split[0]["ratio"]["mean"])
        bars.setdefault("16 + overlapping pools", []).append(boot[("overlapping", "default")]["ratio"]["mean"])
        bars.setdefault("16 + disjoint pools", []).append(boot[("disjoint", "default")]["ratio"]["mean"])
        if ("disjoint", "default, seeds + their sentences") in boot:
            bars.setdefault("16 + their sentences + disjoint pools (default)", []).append(
                boot[("disjoint", "default, seeds + their sentences")]["ratio"]["mean"])
        bars.setdefault("zero anchors", []).append(zero["ratio"])
        bars.setdefault("256 from 3 classes, held-out classes", []).append(
            shift["orthogonal"]["held_out_classes"]["mean"])
        bars.setdefault("... + unpaired pools", []).append(
            shift["orthogonal + unpaired pools"]["held_out_classes"]["mean"])
        if "orthogonal + the anchors' sentences" in shift:
            bars.setdefault("... + the anchors' sentences (default)", []).append(
                shift["orthogonal + the anchors' sentences"]["held_out_classes"]["mean"])
    width = 0.8 / len(bars)
    for i, (name, values) in enumerate(bars.items()):
        ax.bar([j + i * width for j in range(len(pairs))], values, width, label=name)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.axhline(0.95, color="gray", ls=":", lw=1, label="goal 0.95")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(pairs))], pairs)
    ax.set(ylabel="stitched / native accuracy", ylim=(0, 1.1), title="BBC News: few, no and shifted anchors")
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return str(path)


def table(result: dict) -> str:
    def pm(stat: dict, digits: int = 3) -> str:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"

    lines = ["### text -> text (BBC News, 60/40, head on the target only; accuracy and stitched / native)", ""]
    for pair in ("MiniLM -> MPNet", "MPNet -> MiniLM"):
        rows = [r for r in result["text_to_text"] if r["pair"] == pair]
        first = next(r for r in rows if "native" in r)
        lines += [f"**{pair}**: native {first['native']:.3f}, absolute baseline {first['absolute']:.3f}", "",
                  "| method | " + " | ".join(f"N={n}" for n in dict.fromkeys(r["n"] for r in rows)) + " |",
                  "|---|" + "---|" * len(dict.fromkeys(r["n"] for r in rows))]
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = ["n/a" if "skipped" in r else f"{pm(r['accuracy'])} ({r['ratio']['mean']:.3f})"
                     for r in rows if r["method"] == method]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        relative = [r for r in rows if r["method"] == "relative" and "skipped" not in r]
        if relative:
            lines.append("| relative head on the target's own relative space (its native) | " + " | ".join(
                f"{pm(r['same_shape_native'])} (stitched / this: {r['ratio_to_same_shape']['mean']:.3f})"
                for r in relative) + " |")
        lines.append("")
    searched = [r for r in result["text_to_text"] if r.get("search")]
    if searched:
        lines += ["### the cost of `auto`'s search (72 candidates: method x options x preprocessing)", "",
                  "| pair | N | fits (successive halving) | fits of a full 5-fold search | seconds | chosen |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['pair']} | {r['n']} | {r['search']['fits']:.0f} | "
                  f"{r['search']['full_cross_validation_fits']} | {r['search']['seconds']:.1f} | "
                  f"{', '.join(r['search']['chosen'])} |" for r in searched]
        lines.append("")
    cross = result["image_to_text"]
    lines += ["### image -> text (Fashion-MNIST, zero-shot; fraction of the linear probe in brackets)", "",
              f"chance {cross['chance']:.2f}; text head trained on {cross['n_descriptions']} product descriptions; "
              f"{cross['n_test_images']} test images", ""]
    ns = list(dict.fromkeys(r["n"] for r in cross["rows"]))
    lines += ["| method | " + " | ".join(f"N={n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for method in dict.fromkeys(r["method"] for r in cross["rows"]):
        cells = ["n/a" if "skipped" in r else f"{pm(r['accuracy'])} ({r['of_probe']['mean']:.2f})"
                 for r in cross["rows"] if r["method"] == method]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    probes = [next(r for r in cross["rows"] if r["n"] == n and "probe" in r)["probe"] for n in ns]
    lines += ["| linear probe (ceiling) | " + " | ".join(pm(p) for p in probes) + " |", "",
              f"The text head on captions of the test images' true classes (a perfect translation): "
              f"{cross['text_head_on_true_captions']:.3f}.", "",
              "Translator quality without the text head: nearest caption centroid (cosine; centroids from the N "
              "anchor captions), fraction of the probe in brackets", "",
              "| method | " + " | ".join(f"N={n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for method in dict.fromkeys(r["method"] for r in cross["rows"] if "centroid_accuracy" in r
                                and r["method"] != REFERENCED):
        cells = [f"{pm(r['centroid_accuracy'])} ({r['centroid_of_probe']['mean']:.2f})" if "centroid_accuracy" in r
                 else "n/a" for r in cross["rows"] if r["method"] == method]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += ["### anchor selection (stitched accuracy; stitched / native in brackets)", "",
              "| pair | selection | method | " + " | ".join(f"N={n}" for n in SELECTION_NS) + " |",
              "|---|---|---|" + "---|" * len(SELECTION_NS)]
    for pair in ("MiniLM -> MPNet", "MPNet -> MiniLM"):
        for selection in SELECTIONS:
            for method in ("linear", "relative"):
                cells = [f"{pm(r['accuracy'])} ({r['ratio']['mean']:.3f})" for r in result["selection"]
                         if r["pair"] == pair and r["selection"] == selection and r["method"] == method]
                lines.append(f"| {pair} | {selection} | {method} | " + " | ".join(cells) + " |")
    lines.append("")
    if "bootstrap" in result:
        lines += pairing.table(result)
    side = result["latentis"]
    if "error" in side:
        lines += [f"latentis: {side['error']}", ""]
    else:
        lines += [f"### latentis {side['version']} Procrustes vs hubstitch orthogonal (same anchors)", "",
                  "| pair | N | hubstitch acc | latentis acc | fit time ratio (hubstitch / latentis) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['pair']} | {r['n']} | {pm(r['hubstitch_accuracy'])} | {pm(r['latentis_accuracy'])} | "
                  f"{r['time_ratio']:.2f}x |" for r in side["rows"]]
    return "\n".join(lines) + "\n"


DEMO_SUMMARY = Path(__file__).resolve().parent.parent / "hubstitch" / "demo" / "assets" / "bench_stitching.json"


def _without_anchor_rows(value):
    """The results a reader uses: every number, without the per-draw anchor index lists (in raw/)."""
    if isinstance(value, dict):
        return {k: _without_anchor_rows(v) for k, v in value.items() if k != "anchors" or not isinstance(v, list)}
    if isinstance(value, list):
        return [_without_anchor_rows(v) for v in value]
    return value


def write_demo_summary(result: dict, path: Path = DEMO_SUMMARY) -> None:
    """The results without the anchor row lists: what the demo's Inspect tab plots (shipped with the package)."""
    def trim(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "anchors"} for r in rows]

    summary = {"settings": result["settings"], "text_to_text": trim(result["text_to_text"]),
               "image_to_text": {**result["image_to_text"], "rows": trim(result["image_to_text"]["rows"])}}
    path.write_text(json.dumps(summary, indent=None, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 draws, fewer N: a smoke run of the script")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (the demo's summary is written "
                                                                     "only for the default folder)")
    parser.add_argument("--only", action="append", default=[], choices=SECTIONS, metavar="SECTION",
                        help=f"recompute only this section ({', '.join(SECTIONS)}; repeatable), keeping the others "
                             f"from the saved bench_stitching.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from hubstitch.data.latent_cache import LatentCache
    from hubstitch.shelf.datasets import install_datasets
    from hubstitch.shelf.models import install_shelf

    install_shelf()
    shelf_data = install_datasets()
    cache = LatentCache()
    draws = 2 if args.quick else args.draws
    torch.manual_seed(0)
    start = time.perf_counter()
    text = text_latents(shelf_data, cache)
    images = image_latents(shelf_data, cache) if not args.only or "image_to_text" in args.only else None
    this = sys.modules[__name__]

    def with_sentences() -> dict:  # the training articles' sentences, encoded once (cached) when a section needs them
        if "sentences" not in text:
            text["sentences"] = pairing.train_sentences(this, shelf_data, cache, text)
        return text
    sections = {
        "text_to_text": lambda: text_to_text(text, draws, ns=(16, 256) if args.quick else TEXT_NS),
        "image_to_text": lambda: image_to_text(images, draws, ns=(100, 2000) if args.quick else IMAGE_NS),
        "selection": lambda: selection_comparison(text, draws),
        "latentis": lambda: latentis_side_by_side(text, draws),
        "bootstrap": lambda: pairing.bootstrap_rows(this, with_sentences(), draws),
        "zero_anchors": lambda: pairing.zero_anchor_rows(this, text),
        "class_shift": lambda: pairing.class_shift_rows(this, with_sentences(), draws),
        "sentence_anchors": lambda: pairing.sentence_rows(this, with_sentences(), draws),
    }
    full = args.out / "raw" / "bench_stitching.full.json"  # every draw's anchor rows: regenerable, not committed
    saved = full if full.is_file() else args.out / "bench_stitching.json"
    result = json.loads(saved.read_text()) if args.only and saved.is_file() else {}
    result.update({"machine": {"python": platform.python_version(), "torch": torch.__version__,
                               "cpu_threads": torch.get_num_threads()},
                   "settings": {"draws": draws, "max_length": MAX_LENGTH, "split": "stratified 60/40, seed 0",
                                "head": {"kind": "linear", **HEAD_OPTIONS}, "image_pool": IMAGE_POOL,
                                "image_test": IMAGE_TEST}})
    for name, run in sections.items():
        if not args.only or name in args.only:
            section_start = time.perf_counter()
            result[name] = run()
            result.setdefault("section_seconds", {})[name] = round(time.perf_counter() - section_start, 1)
    if not args.only:
        result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(json.dumps(result) + "\n")
    (args.out / "bench_stitching.json").write_text(json.dumps(_without_anchor_rows(result), indent=1) + "\n")
    if args.out.resolve() == RESULTS.resolve():
        write_demo_summary(result)
    result["plots"] = plots(result, args.out)
    report = table(result)
    (args.out / "bench_stitching.md").write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
