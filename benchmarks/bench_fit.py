"""Fit time and peak memory of hubstitch's estimators beside scipy, scikit-learn and latentis, on the same data.

Each (library, method, n) case runs in a fresh subprocess, so peak memory (VmHWM) belongs to that case alone:
one warm-up fit, then `--repeats` timed fits (median reported). d = 768 on both sides; float32 latents; the target
is a random rotation of the source plus noise. n = 1e6 is streamed in chunks of 10,000 rows generated on the fly,
so the rows never exist in memory together.

Run:  python benchmarks/bench_fit.py            (writes benchmarks/results/bench_fit.json, prints a table)
      python benchmarks/bench_fit.py --quick    (n up to 1e4, for a smoke run)
latentis 0.0.8 is optional: `pip install --no-deps latentis==0.0.8 GitPython gitdb smmap python-dotenv
backports.strenum` (its full dependency list pulls lightning and faiss, which its translators do not need).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

logger = logging.getLogger("bench_fit")
D = 768
CHUNK = 10_000
RESULTS = Path(__file__).parent / "results" / "bench_fit.json"


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would start from the driver's across fork + exec."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024


def _rotation(seed: int = 1) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(D, D, generator=torch.Generator().manual_seed(seed)))[0]


def _chunk(n: int, seed: int, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=gen) * torch.linspace(2.0, 0.2, D)
    return x, x @ rotation + 0.05 * torch.randn(n, D, generator=gen)


def _fitter(library: str, method: str):
    if library == "hubstitch":
        import hubstitch.math.estimators as est

        return lambda x, y: est.fit_translation(x, y, method)
    if library == "scipy":
        from scipy.linalg import orthogonal_procrustes

        return lambda x, y: orthogonal_procrustes(x.numpy(), y.numpy())
    if library == "sklearn":
        from sklearn.linear_model import Ridge

        return lambda x, y: Ridge(alpha=1.0).fit(x.numpy(), y.numpy())
    if library == "latentis":
        from latentis.transform.translate.aligner import Procrustes

        return lambda x, y: Procrustes().fit(x, y)
    raise ValueError(library)


def run_case(library: str, method: str, n: int, repeats: int) -> dict:
    """Run one case in this process and return its measurements."""
    rotation = _rotation()
    if library == "hubstitch-streamed":
        from hubstitch.data.statistics import AnchorStatistics
        from hubstitch.math.estimators import fit_translation_from_statistics

        baseline = _rss_mib()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            stats = AnchorStatistics(D, D, with_gram=method != "orthogonal")
            for i in range(0, n, CHUNK):
                stats.update(*_chunk(min(CHUNK, n - i), seed=i, rotation=rotation))
            fit_translation_from_statistics(stats, method)
            times.append(time.perf_counter() - start)
        return {"seconds": statistics.median(times), "peak_rss_mib": _peak_mib(), "baseline_rss_mib": baseline,
                "note": "includes generating the chunks (a 10k x 768 x 768 matmul each)"}
    fit = _fitter(library, method)
    x, y = _chunk(n, seed=0, rotation=rotation)
    baseline = _rss_mib()
    fit(x, y)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit(x, y)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "peak_rss_mib": _peak_mib(), "baseline_rss_mib": baseline}


CASES = [
    # (library, method, label)
    ("hubstitch", "orthogonal", "hubstitch orthogonal"),
    ("latentis", "orthogonal", "latentis 0.0.8 Procrustes"),
    ("scipy", "orthogonal", "scipy orthogonal_procrustes"),
    ("hubstitch", "linear", "hubstitch linear (ridge)"),
    ("sklearn", "linear", "scikit-learn Ridge"),
]


def head_to_head(n: int = 10_000, rounds: int = 15) -> dict:
    """hubstitch orthogonal and latentis Procrustes alternated in one process on the same data: the fair ratio."""
    ours, theirs = _fitter("hubstitch", "orthogonal"), _fitter("latentis", "orthogonal")
    x, y = _chunk(n, seed=0, rotation=_rotation())
    ours(x, y), theirs(x, y)
    times: dict[str, list[float]] = {"hubstitch": [], "latentis": []}
    for _ in range(rounds):
        for name, fit in (("hubstitch", ours), ("latentis", theirs)):
            start = time.perf_counter()
            fit(x, y)
            times[name].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"n": n, "d": D, "rounds": rounds, "median_seconds": medians,
            "hubstitch_over_latentis": medians["hubstitch"] / medians["latentis"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, metavar=("LIBRARY", "METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n up to 1e4 and no streamed 1e6 case")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.case:
        library, method, n = args.case
        sys.stdout.write(json.dumps(run_case(library, method, int(n), args.repeats)) + "\n")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    plan = [(lib, method, label, n) for n in sizes for lib, method, label in CASES]
    if not args.quick:
        plan += [("hubstitch-streamed", "orthogonal", "hubstitch orthogonal, streamed", 1_000_000),
                 ("hubstitch-streamed", "linear", "hubstitch linear, streamed", 1_000_000)]
    rows = []
    for library, method, label, n in plan:
        repeats = 1 if n >= 1_000_000 else args.repeats
        command = [sys.executable, __file__, "--case", library, method, str(n), "--repeats", str(repeats)]
        done = subprocess.run(command, capture_output=True, text=True)
        row = {"library": library, "method": method, "label": label, "n": n, "d": D}
        if done.returncode == 0:
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = (done.stderr.strip().splitlines() or ["failed"])[-1]
        logger.info("%-34s n=%-8d %s", label, n, row.get("error") or f"{row['seconds']:.3f} s")
        rows.append(row)
    result = {"machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                          "torch": torch.__version__, "platform": platform.platform()}, "rows": rows}
    try:
        result["head_to_head"] = head_to_head()
    except ImportError as err:
        result["head_to_head"] = {"error": f"latentis not importable: {err}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(render_table(rows) + "\n")
    h2h = result["head_to_head"]
    if "error" in h2h:
        sys.stdout.write(f"\nhead to head: {h2h['error']}\n")
    else:
        sys.stdout.write(f"\nhead to head, orthogonal {h2h['n']:,} x {h2h['d']}, {h2h['rounds']} alternating rounds: "
                         f"hubstitch {h2h['median_seconds']['hubstitch']:.3f} s, latentis "
                         f"{h2h['median_seconds']['latentis']:.3f} s, ratio {h2h['hubstitch_over_latentis']:.2f}x\n")


def render_table(rows: list[dict]) -> str:
    """A markdown table: time, peak RSS, and time relative to hubstitch on the same method and n."""
    ours = {(r["method"], r["n"]): r["seconds"] for r in rows if r["library"] == "hubstitch" and "seconds" in r}
    lines = ["| n | fit | seconds | vs hubstitch | peak RSS (MiB) | RSS over data (MiB) |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']:,} | {r['label']} | failed: {r['error']} | | | |")
            continue
        base = ours.get((r["method"], r["n"]))
        ratio = f"{r['seconds'] / base:.2f}x" if base and r["library"] != "hubstitch" else ""
        lines.append(f"| {r['n']:,} | {r['label']} | {r['seconds']:.3f} | {ratio} | {r['peak_rss_mib']:.0f} | "
                     f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
