"""Scaling out: anchor encoding local vs Ray on this machine, and a streamed fit of a million anchors.

1. Encoding throughput and peak driver memory. The anchors are BBC News sentences (the shelf's 2,225 articles
   split into sentences, cycled to reach n: throughput and memory do not depend on repeats). Two real pairs:
   - n = 1e4: all-MiniLM-L6-v2 -> all-mpnet-base-v2, 64 tokens;
   - n = 1e5: all-MiniLM-L6-v2 -> all-MiniLM-L6-v2 read at layer 3, 32 tokens (MPNet at 1e5 would take hours on 2
     cores).
   Each case fits an orthogonal translator with `fit_from_encoders` (no held-out part, no latent cache) in a fresh
   child process: ``local`` (this process, torch on all cores) and ``ray`` (a local Ray cluster, 2 workers x 1 CPU,
   each holding both encoders; the driver keeps only the summed statistics). Reported: pairs/s from the start of
   the fit (Ray: after the cluster is up; its actors' model loading counts), the cluster's start-up, and the
   driver's peak RSS (VmHWM; Ray's workers are other processes).
2. A streamed fit of 1e6 synthetic 384 -> 768-d pairs (a known rotation plus noise), accumulated in chunks of
   10,000 into `AnchorStatistics`: seconds, peak RSS, and the rotation's recovery error.

Run:  python benchmarks/bench_scale.py [--quick]      (--quick: n = 2e3 and 1e4, a 1e5 streamed fit)
Needs: `hubstitch[ray]`, the shelf (installed by this script).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

logger = logging.getLogger("bench_scale")
RESULTS = Path(__file__).parent / "results"
MINILM, MPNET = "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"
PAIRS = {  # name -> (source, target, target layer, max_length)
    "mpnet": (MINILM, MPNET, -1, 64),
    "minilm-layer3": (MINILM, MINILM, 3, 32),
}


def peak_mib() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would start from the parent's across fork + exec."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


def sentences(n: int) -> list[str]:
    """n BBC News sentences (cycled when n exceeds the corpus's)."""
    from hubstitch import AnchorSet
    from hubstitch.shelf.datasets import install_datasets

    articles = AnchorSet.load(str(install_datasets()["bbc_news"]), source_column="text").source_items()
    pool = [s.strip() for text in articles for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]
    return [pool[i % len(pool)] for i in range(n)]


def one_case(engine: str, pair: str, n: int) -> dict:
    """Run in a child process: fit an orthogonal translator from n anchors with `engine`; time and peak memory."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hubstitch import AnchorSet, Encoder
    from hubstitch.engines.ray_cluster import RaySettings
    from hubstitch.workflows.fit import fit_from_encoders

    source_id, target_id, layer, max_length = PAIRS[pair]
    source, target = Encoder.from_pretrained(source_id), Encoder.from_pretrained(target_id, layer=layer)
    source.max_length = target.max_length = max_length
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "anchors.jsonl"
        path.write_text("".join(json.dumps({"text": s}) + "\n" for s in sentences(n)))
        anchors = AnchorSet.load(str(path), source_column="text")
        settings = RaySettings(num_workers=2, batch_size=32)
        startup = 0.0
        if engine == "ray":
            import ray

            begin = time.perf_counter()
            ray.init(num_cpus=3, _node_ip_address="127.0.0.1", include_dashboard=False, configure_logging=False,
                     log_to_driver=False)
            startup = time.perf_counter() - begin
        begin = time.perf_counter()
        translator = fit_from_encoders(source, target, anchors, holdout=0, method="orthogonal", progress=False,
                                       engine=engine, ray=settings)
        seconds = time.perf_counter() - begin
    return {"engine": engine, "pair": pair, "n": n, "seconds": seconds, "pairs_per_s": n / seconds,
            "cluster_start_s": startup, "driver_peak_mib": peak_mib(), "n_anchors": translator.config.n_anchors,
            "torch_threads": torch.get_num_threads()}


def run_case(engine: str, pair: str, n: int) -> dict:
    logger.info("encoding %d anchors (%s) with engine %s", n, pair, engine)
    child = subprocess.run([sys.executable, __file__, "--case", engine, pair, str(n)], capture_output=True,
                           text=True, timeout=7200)
    if child.returncode != 0:
        raise RuntimeError(f"case {engine} {pair} {n} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def streamed_fit(n: int, chunk: int = 10_000) -> dict:
    """Run in a child process: accumulate n synthetic pairs chunk by chunk and fit; seconds, peak RSS, error."""
    import hubstitch

    gen = torch.Generator().manual_seed(0)
    rotation = torch.linalg.qr(torch.randn(768, 768, generator=gen))[0]
    stats = hubstitch.AnchorStatistics(384, 768)
    begin = time.perf_counter()
    for start in range(0, n, chunk):
        x = torch.randn(min(chunk, n - start), 384, generator=gen)
        y = torch.nn.functional.pad(x, (0, 384)) @ rotation + 0.01 * torch.randn(len(x), 768, generator=gen)
        stats.update(x, y)
    accumulate = time.perf_counter() - begin
    translator = hubstitch.fit_translator_from_statistics(stats, "orthogonal")
    seconds = time.perf_counter() - begin
    probe = torch.randn(1000, 384, generator=gen)
    expected = torch.nn.functional.pad(probe, (0, 384)) @ rotation
    error = float((translator(probe) - expected).norm() / expected.norm())
    return {"n": n, "seconds": seconds, "accumulate_s": accumulate, "pairs_per_s": n / seconds,
            "peak_mib": peak_mib(), "relative_error": error}


def table(result: dict) -> str:
    lines = ["## Anchor encoding: local vs Ray (this machine)", "",
             "| pair | n | engine | pairs/s | ray / local | cluster start (s) | driver peak (MiB) |",
             "|---|---|---|---|---|---|---|"]
    for case in result["encoding"]:
        local = next(c for c in result["encoding"] if c["pair"] == case["pair"] and c["n"] == case["n"]
                     and c["engine"] == "local")
        ratio = case["pairs_per_s"] / local["pairs_per_s"]
        lines.append(f"| {case['pair']} | {case['n']:,} | {case['engine']} | {case['pairs_per_s']:.1f} | "
                     f"{ratio:.2f} | {case['cluster_start_s']:.1f} | {case['driver_peak_mib']:.0f} |")
    s = result["streamed_fit"]
    lines += ["", "## Streamed fit (384 -> 768, orthogonal)", "",
              "| pairs | seconds | pairs/s | peak (MiB) | relative error |", "|---|---|---|---|---|",
              f"| {s['n']:,} | {s['seconds']:.1f} | {s['pairs_per_s']:,.0f} | {s['peak_mib']:.0f} | "
              f"{s['relative_error']:.2e} |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--case", nargs=3, metavar=("ENGINE", "PAIR", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--streamed", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.case:
        sys.stdout.write(json.dumps(one_case(args.case[0], args.case[1], int(args.case[2]))) + "\n")
        return 0
    if args.streamed:
        sys.stdout.write(json.dumps(streamed_fit(args.streamed)) + "\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from hubstitch.shelf.models import install_shelf

    install_shelf()
    sizes = [("mpnet", 2_000), ("minilm-layer3", 10_000)] if args.quick else [("mpnet", 10_000),
                                                                             ("minilm-layer3", 100_000)]
    start = time.perf_counter()
    result: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                "cpu_threads": torch.get_num_threads()}, "encoding": []}
    for pair, n in sizes:
        for engine in ("local", "ray"):  # side by side, one after the other, on the same machine
            result["encoding"].append(run_case(engine, pair, n))
    n = 100_000 if args.quick else 1_000_000
    child = subprocess.run([sys.executable, __file__, "--streamed", str(n)], capture_output=True, text=True,
                           timeout=3600, check=True)
    result["streamed_fit"] = json.loads(child.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_scale.json").write_text(json.dumps(result, indent=1) + "\n")
    report = table(result)
    (args.out / "bench_scale.md").write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
