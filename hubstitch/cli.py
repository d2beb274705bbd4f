"""The ``hubstitch`` command line. Data goes to stdout, messages to stderr; errors exit non-zero with one line.

Example:
    $ hubstitch quickstart --out ./quickstart-translator
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
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    lines = [f"translator: {summary['out']}", f"method: {summary['method']}",
             f"anchors: {summary['n_anchors']}  held-out: {summary.get('n_heldout') or 0}"]
    for name, value in (summary.get("heldout") or {}).items():
        lines.append(f"  {name:<11}{value:.4f}")
    if "reload_identical" in summary:
        lines.append(f"reload reproduces outputs bit for bit: {summary['reload_identical']}")
    sys.stdout.write("\n".join(lines) + "\n")


def _cmd_quickstart(args: argparse.Namespace) -> None:
    from .quickstart import run_quickstart

    _emit(run_quickstart(args.out, method=args.method, seed=args.seed), args.format)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubstitch", description="Stitch pretrained models through their latents.")
    parser.add_argument("--version", action="version", version=f"hubstitch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    quick = sub.add_parser("quickstart", help="offline demo: fit, evaluate, save and reload a translator")
    quick.add_argument("--out", type=Path, default=Path("hubstitch-quickstart"))
    quick.add_argument("--method", choices=METHOD_CHOICES, default="auto")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (HubstitchError, OSError) as err:
        sys.stderr.write(f"hubstitch {args.command}: error: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
